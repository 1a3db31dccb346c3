"""HttpService: a real uvicorn server on a free port, with the app's lifespan run on start and stop."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from riverlog.common.service import HttpService, ServiceError, parse_listener


def make_app(events: list[str]) -> Starlette:
    async def root(request: Request) -> JSONResponse:
        return JSONResponse({"events": events})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("started")
        yield
        events.append("stopped")

    return Starlette(routes=[Route("/", root)], lifespan=lifespan)


def test_serves_on_a_free_port_and_runs_the_lifespan() -> None:
    events: list[str] = []
    with HttpService(make_app(events), "127.0.0.1", 0, name="t") as service:
        assert service.port != 0
        assert httpx.get(service.url + "/").json() == {"events": ["started"]}
    assert events == ["started", "stopped"]


def test_a_port_in_use_fails_to_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServiceError):
            HttpService(make_app([]), "127.0.0.1", port, name="t").start()


def test_parse_listener() -> None:
    assert parse_listener("http://0.0.0.0:8083") == ("http", "0.0.0.0", 8083)
    assert parse_listener("http://localhost:8081,https://x:1") == ("http", "localhost", 8081)
    with pytest.raises(ValueError):
        parse_listener("localhost:8081")


def test_http2_mode_serves_http1_and_cleartext_http2_on_one_port() -> None:
    events: list[str] = []
    with HttpService(make_app(events), "127.0.0.1", 0, name="t2", http2=True) as service:
        assert service.port != 0
        r1 = httpx.get(service.url + "/")
        assert r1.http_version == "HTTP/1.1" and r1.json() == {"events": ["started"]}
        with httpx.Client(http1=False, http2=True) as h2:
            r2 = h2.get(service.url + "/")
        assert r2.http_version == "HTTP/2" and r2.json() == {"events": ["started"]}
    assert events == ["started", "stopped"]
