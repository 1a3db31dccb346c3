"""A service is an ASGI app plus a lifecycle: served by uvicorn on a listener URL, alone (its CLI
command), side by side in `riverlog platform`, or in a test process on a free port.

`HttpService.start()` runs uvicorn on a thread of its own with its own event loop, so a service's
blocking Kafka calls never share a loop with another service; `stop()` asks uvicorn to finish and waits.
Port 0 picks a free port; `port` then tells which one was bound.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from urllib.parse import urlsplit

import uvicorn


class ServiceError(RuntimeError):
    """A service could not start (port in use, bad listener)."""


def parse_listener(url: str) -> tuple[str, str, int]:
    """`http://0.0.0.0:8083` -> ("http", "0.0.0.0", 8083); raises ValueError naming the problem."""
    first = url.split(",")[0].strip()
    parts = urlsplit(first)
    if parts.scheme not in ("http", "https") or parts.port is None:
        raise ValueError(f"listener {url!r} is not of the form http://host:port")
    return parts.scheme, parts.hostname or "0.0.0.0", parts.port


class HttpService:
    """Serve `app` with uvicorn on `host:port` in a background thread."""

    def __init__(
        self, app: Any, host: str, port: int, *, name: str = "service", http2: bool = False
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        # http2: serve with hypercorn instead, HTTP/1.1 and cleartext HTTP/2 (h2c, prior
        # knowledge or upgrade) on the same port
        self.http2 = http2
        self._h2_stop: Any = None
        self._h2_loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> HttpService:
        """Start serving; returns once the port is bound (raises ServiceError if it could not be)."""
        if self.http2:
            return self._start_hypercorn(timeout_s)
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="on",
            loop="asyncio",
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-http", daemon=True)
        self._thread.start()
        waited = 0.0
        while not server.started:
            if self._failure is not None or not self._thread.is_alive():
                raise ServiceError(f"{self.name} could not listen on {self.host}:{self.port}")
            if waited > timeout_s:
                raise ServiceError(f"{self.name} did not start within {timeout_s} s")
            threading.Event().wait(0.01)
            waited += 0.01
        sockets = [s for srv in server.servers for s in srv.sockets]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self

    def _run(self) -> None:
        assert self._server is not None
        try:
            asyncio.run(self._server.serve())
        except BaseException as exc:  # reported through start()
            self._failure = exc
        if not self._server.started and self._failure is None:
            self._failure = ServiceError("server exited before it started")

    def _start_hypercorn(self, timeout_s: float) -> HttpService:
        import socket

        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ServiceError(
                f"{self.name} could not listen on {self.host}:{self.port}: {exc}"
            ) from None
        sock.listen(128)
        sock.set_inheritable(True)
        self.port = sock.getsockname()[1]
        config = Config()
        config.bind = [f"fd://{sock.fileno()}"]
        config.loglevel = "WARNING"
        config.accesslog = None
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._h2_loop = loop
            stop = asyncio.Event()
            self._h2_stop = stop
            ready.set()
            try:
                loop.run_until_complete(serve(self.app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
            except BaseException as exc:  # reported through start()
                self._failure = exc
            finally:
                loop.close()
                try:
                    sock.close()
                except OSError:
                    pass  # hypercorn closed the listening descriptor itself

        self._thread = threading.Thread(target=run, name=f"{self.name}-http", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise ServiceError(f"{self.name} did not start within {timeout_s} s")
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to shut down (running the app's lifespan shutdown) and wait for the thread."""
        if self._h2_loop is not None and self._h2_stop is not None:
            self._h2_loop.call_soon_threadsafe(self._h2_stop.set)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> HttpService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
