"""Prometheus `GET /metrics` for the REST services (Connect, the registry, the SQL server).

Each service instance owns one `ServiceMetrics`: its own `CollectorRegistry` (so several instances in
one process never clash), process metrics, a request counter and latency histogram filled by an ASGI
middleware, and the service's collector, which reads the service's state at scrape time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class FunctionCollector:
    """A collector from a function yielding metric families (read at scrape time)."""

    def __init__(self, fn: Callable[[], Iterable[Metric]]) -> None:
        self.fn = fn

    def collect(self) -> Iterator[Metric]:
        yield from self.fn()


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class ServiceMetrics:
    """One service instance's registry: process metrics, REST requests, and `collector`'s metrics.

    `request_prefix` names the request metrics: `<prefix>_total{method,status}` and
    `<prefix>_latency_seconds{method}` (a histogram, time to the response's start).
    """

    def __init__(self, request_prefix: str, collector: Collector | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            request_prefix,
            "REST requests answered, by method and status",
            ["method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{request_prefix}_latency_seconds",
            "REST request latency to the response's start, by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        if collector is not None:
            self.registry.register(collector)  # type: ignore[arg-type]

    def scrape(self) -> bytes:
        return generate_latest(self.registry)

    def install(self, app: Starlette) -> Starlette:
        """Serve `GET /metrics` on `app` and count its other requests."""

        async def metrics(_request: Request) -> Response:
            return Response(self.scrape(), media_type=CONTENT_TYPE_LATEST)

        app.add_route("/metrics", metrics, methods=["GET"])
        app.add_middleware(_RequestMetrics, metrics=self)
        return app


class _RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/metrics":
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        start = time.perf_counter()

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.metrics.latency.labels(method).observe(time.perf_counter() - start)
                self.metrics.requests.labels(method, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)
