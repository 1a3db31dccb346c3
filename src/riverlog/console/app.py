"""The console: a server-rendered Starlette app (Jinja2 templates, htmx and uPlot served from the package).

`build_app(settings)` returns the ASGI app; `riverlog console` serves it with `HttpService`. Pages live in
`pages_topics`, `pages_groups` and `pages_services`; this module holds the shared state, the overview and
the helpers every page uses. With `read_only`, every destructive route answers 403 and the pages hide
those actions; destructive actions otherwise need an explicit confirmation field (see each route).
With `login`, there is no shared Kafka identity: each signed-in user has a `Console` of their own
(riverlog.console.login), which `console_of` returns for that user's requests.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riverlog.console.decode import SchemaDecoder
from riverlog.console.history import LagHistory, ThroughputSampler
from riverlog.console.kafka import BadInput, ConsoleError, KafkaGateway, NotFound
from riverlog.console.rest import ConnectApi, RegistryApi, RestError, SqlApi

HERE = Path(__file__).parent
SIZES_TTL_S = 10.0
T = TypeVar("T")


@dataclass
class ConsoleSettings:
    bootstrap: str
    registry_url: str | None = None
    connect_url: str | None = None
    sql_url: str | None = None
    metrics_urls: list[str] = field(default_factory=list)  # empty: each broker's host, port 9644
    read_only: bool = False
    client_config: dict[str, str] = field(default_factory=dict)
    login: bool = False  # users sign in with SASL credentials (riverlog.console.login)


class Console:
    """Everything the pages share: the Kafka gateway, the REST clients, chart history, settings."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.kafka = KafkaGateway(settings.bootstrap, settings.client_config)
        self.connect = ConnectApi("Connect", settings.connect_url)
        self.sql = SqlApi("SQL server", settings.sql_url)
        self.registry = RegistryApi("Schema registry", settings.registry_url)
        self.decoder = SchemaDecoder(self.registry)
        self.lag = LagHistory()
        self.throughput = ThroughputSampler(list(settings.metrics_urls))

    def topic_sizes(self) -> dict[str, float]:
        """Each topic's bytes from the brokers' metrics, scraped at most every SIZES_TTL_S (empty
        when no broker serves metrics)."""
        if time.monotonic() - self.throughput.sizes_at > SIZES_TTL_S:
            self.ensure_metrics_urls()
            self.throughput.sample()
        return self.throughput.sizes

    def ensure_metrics_urls(self) -> None:
        """Without --metrics-url: each broker's host on port 9644 (the default metrics.port)."""
        if not self.throughput.urls:
            self.throughput.urls = [
                f"http://{address.rsplit(':', 1)[0]}:9644/metrics"
                for _, address in self.kafka.cluster().brokers
            ]

    @property
    def read_only(self) -> bool:
        return self.settings.read_only

    def close(self) -> None:
        self.kafka.close()
        for service in (self.connect, self.sql, self.registry):
            service.close()


def fmt_time(ms: int) -> str:
    """Epoch milliseconds as UTC ISO 8601 (empty for Kafka's -1: no timestamp)."""
    if ms < 0:
        return ""
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["time"] = fmt_time


def fmt_bytes(size: float | None) -> str:
    if size is None:
        return "\N{EN DASH}"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


templates.env.filters["bytes"] = fmt_bytes


def console_of(request: Request) -> Console:
    """The signed-in user's console (with --login), else the console's own."""
    console: Console | None = getattr(request.state, "console", None) or request.app.state.console
    assert console is not None, "a page reached without a session (LoginGate lets none through)"
    return console


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking client call on the thread pool (never on the event loop)."""
    return await run_in_threadpool(fn, *args)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    settings: ConsoleSettings = request.app.state.settings
    base = {
        "read_only": settings.read_only,
        "bootstrap": settings.bootstrap,
        "services": {
            "connect": settings.connect_url is not None,
            "sql": settings.sql_url is not None,
            "registry": settings.registry_url is not None,
        },
        "user": getattr(request.state, "user", None),
    }
    response: HTMLResponse = templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status
    )
    return response


def forbid_if_read_only(request: Request) -> Response | None:
    settings: ConsoleSettings = request.app.state.settings
    if settings.read_only:
        return render(request, "error.html", 403, error="The console is read-only (--read-only).")
    return None


async def overview(request: Request) -> Response:
    console = console_of(request)
    cluster = await blocking(console.kafka.cluster, True)
    topics = cluster.topics.values()
    stats = {
        "topics": sum(1 for t in topics if not t.internal),
        "partitions": sum(len(t.partitions) for t in topics),
        "under_replicated": sum(t.under_replicated for t in topics),
        "offline": sum(t.offline for t in topics),
    }
    return render(request, "overview.html", cluster=cluster, stats=stats, page="overview")


async def throughput(request: Request) -> Response:
    console = console_of(request)
    await blocking(console.ensure_metrics_urls)
    await blocking(console.throughput.sample)
    kind = request.query_params.get("kind")  # "messages" or "bytes": one unit per chart
    return JSONResponse(console.throughput.chart(kind))


class ServerTiming:
    """Adds `Server-Timing: app;dur=<ms>` (time to the response head) to every answer, which the
    browser's Performance API shows and the benchmark reads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={elapsed:.1f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


async def console_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, BadInput):
        status = 400
    else:
        status = 502  # the cluster or a service failed
    return render(request, "error.html", status, error=str(exc))


def build_app(settings: ConsoleSettings) -> Starlette:
    from riverlog.console import login, pages_groups, pages_services, pages_toll, pages_topics

    sessions: login.Sessions | None = None
    console: Console | None = None
    middleware = [Middleware(ServerTiming)]
    if settings.login:
        problem = login.login_settings_error(settings.client_config)
        if problem is not None:
            raise ValueError(problem)
        sessions = login.Sessions(settings, Console)
        middleware.append(Middleware(login.LoginGate, sessions=sessions))
    else:
        console = Console(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if console is not None:
            await run_in_threadpool(console.close)
        if sessions is not None:
            await run_in_threadpool(sessions.close)

    routes: list[BaseRoute] = [
        Route("/", overview),
        Route("/api/throughput", throughput),
        *(login_routes(sessions) if sessions is not None else []),
        *pages_topics.ROUTES,
        *pages_groups.ROUTES,
        *pages_services.ROUTES,
        *pages_toll.ROUTES,
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers={ConsoleError: console_error, RestError: console_error},
    )
    app.state.console = console
    app.state.settings = settings
    return app


def login_routes(sessions: Any) -> list[BaseRoute]:
    """GET/POST /login and POST /logout (riverlog.console.login)."""
    from riverlog.console.login import COOKIE, LoginFailed, mechanism_of

    settings: ConsoleSettings = sessions.settings
    mechanism = mechanism_of(settings.client_config)

    async def login_page(request: Request) -> Response:
        if request.method == "GET":
            return render(request, "login.html", mechanism=mechanism, page="login")
        form = await request.form()
        user = str(form.get("username") or "").strip()
        try:
            token = await blocking(sessions.login, user, str(form.get("password") or ""))
        except LoginFailed as exc:
            return render(
                request, "login.html", 401, mechanism=mechanism, error=str(exc), username=user
            )
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
        return response

    async def logout(request: Request) -> Response:
        await blocking(sessions.logout, request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return [
        Route("/login", login_page, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
