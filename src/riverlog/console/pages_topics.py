"""Topics: the list (search, pages of PAGE_SIZE), create, delete (type the name to confirm), configure;
a topic's partitions, configs, message browser (offset / timestamp / newest, text filter, live tail) and
produce form."""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from riverlog.console.app import blocking, console_of, forbid_if_read_only, render
from riverlog.console.kafka import BadInput, ConsoleError

PAGE_SIZE = 50
BROWSE_LIMITS = (10, 20, 50, 100)


def _int(value: str | None, default: int, name: str) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise BadInput(f"{name} must be a whole number, got {value!r}") from None


async def topics(request: Request) -> Response:
    console = console_of(request)
    search = request.query_params.get("q", "").strip()
    show_internal = request.query_params.get("internal") == "1"
    page = max(1, _int(request.query_params.get("page"), 1, "page"))
    cluster = await blocking(console.kafka.cluster)
    sizes = await blocking(console.topic_sizes)
    names = sorted(
        name
        for name, topic in cluster.topics.items()
        if (show_internal or not topic.internal) and search.lower() in name.lower()
    )
    pages = max(1, math.ceil(len(names) / PAGE_SIZE))
    page = min(page, pages)
    shown = [cluster.topics[n] for n in names[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]
    context: dict[str, Any] = dict(
        topics=shown,
        sizes=sizes,
        total=len(names),
        search=search,
        show_internal=show_internal,
        page_no=page,
        pages=pages,
        page="topics",
        message=request.query_params.get("message"),
    )
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "topic-table":
        return render(request, "topics_table.html", **context)
    return render(request, "topics.html", **context)


async def create_topic(request: Request) -> Response:
    if denied := forbid_if_read_only(request):
        return denied
    form = await request.form()
    name = str(form.get("name", "")).strip()
    if not name:
        raise BadInput("a topic needs a name")
    partitions = _int(str(form.get("partitions", "")), 1, "partitions")
    replication = _int(str(form.get("replication", "")), 1, "replication factor")
    configs = {}
    for line in str(form.get("configs", "")).splitlines():
        if line.strip():
            key, sep, value = line.partition("=")
            if not sep:
                raise BadInput(f"configs are key=value lines, got {line!r}")
            configs[key.strip()] = value.strip()
    await blocking(console_of(request).kafka.create_topic, name, partitions, replication, configs)
    return RedirectResponse(f"/topics/{name}", status_code=303)


async def topic(request: Request) -> Response:
    console = console_of(request)
    name = request.path_params["name"]
    info = await blocking(console.kafka.topic, name)
    marks = await blocking(console.kafka.watermarks, name)
    configs: list[tuple[str, str | None, bool, bool]] = []
    configs_error = None
    try:
        configs = await blocking(console.kafka.topic_configs, name)
    except ConsoleError as exc:  # e.g. a user without DESCRIBE_CONFIGS: the rest still shows
        configs_error = str(exc)
    return render(
        request,
        "topic.html",
        topic=info,
        marks=marks,
        configs=configs,
        configs_error=configs_error,
        total=sum(hi - lo for lo, hi in marks.values()),
        limits=BROWSE_LIMITS,
        page="topics",
        message=request.query_params.get("message"),
    )


async def delete_topic(request: Request) -> Response:
    if denied := forbid_if_read_only(request):
        return denied
    name = request.path_params["name"]
    form = await request.form()
    if form.get("confirm") != name:
        raise BadInput(f"type the topic's name ({name}) to confirm its deletion")
    await blocking(console_of(request).kafka.delete_topic, name)
    return RedirectResponse(f"/topics?message=deleted+{name}", status_code=303)


async def set_config(request: Request) -> Response:
    if denied := forbid_if_read_only(request):
        return denied
    name = request.path_params["name"]
    form = await request.form()
    key = str(form.get("key", "")).strip()
    if not key:
        raise BadInput("which config? (key is empty)")
    value = None if form.get("reset") else str(form.get("value", ""))
    await blocking(console_of(request).kafka.set_topic_config, name, key, value)
    return RedirectResponse(f"/topics/{name}?message=config+{key}+updated#configs", status_code=303)


async def messages(request: Request) -> Response:
    """The browser's result fragment (htmx), or the whole topic page's table when asked directly."""
    console = console_of(request)
    name = request.path_params["name"]
    params = request.query_params
    partition = _int(params.get("partition"), 0, "partition")
    limit = min(max(_int(params.get("limit"), 20, "limit"), 1), 500)
    mode = params.get("mode", "newest")
    text = params.get("q", "")
    if mode == "offset" or mode == "tail":
        start = _int(params.get("offset"), 0, "offset")
    elif mode == "timestamp":
        start = await blocking(console.kafka.offset_for_time, name, partition, _timestamp(params))
    elif mode == "newest":
        low, high = (await blocking(console.kafka.watermarks, name))[partition]
        start = max(low, high - limit)
    else:
        raise BadInput(f"unknown browse mode {mode!r}")
    decode = console.decoder.decode if console.registry.configured else None
    result = await blocking(console.kafka.browse, name, partition, start, limit, text, decode)
    template = "tail_rows.html" if mode == "tail" else "messages.html"
    return render(
        request,
        template,
        topic_name=name,
        partition=partition,
        result=result,
        mode=mode,
        text=text,
        limit=limit,
    )


def _timestamp(params: Mapping[str, str]) -> int:
    raw = params.get("timestamp", "").strip()
    if raw.lstrip("-").isdigit():
        return int(raw)
    try:
        moment = datetime.datetime.fromisoformat(raw)
    except ValueError:
        raise BadInput(
            f"timestamp must be epoch milliseconds or ISO 8601 (2026-01-31T12:00), got {raw!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1000)


async def produce(request: Request) -> Response:
    if denied := forbid_if_read_only(request):
        return denied
    console = console_of(request)
    name = request.path_params["name"]
    form = await request.form()
    key = str(form.get("key", "")) or None
    value = str(form.get("value", ""))
    headers = []
    for line in str(form.get("headers", "")).splitlines():
        if line.strip():
            hkey, sep, hvalue = line.partition("=")
            if not sep:
                raise BadInput(f"headers are key=value lines, got {line!r}")
            headers.append((hkey.strip(), hvalue.strip()))
    raw_partition = str(form.get("partition", "")).strip()
    partition = _int(raw_partition, -1, "partition") if raw_partition else None
    part, offset = await blocking(console.kafka.produce, name, key, value, headers, partition)
    return render(request, "produced.html", partition=part, offset=offset, topic_name=name)


ROUTES = [
    Route("/topics", topics),
    Route("/topics", create_topic, methods=["POST"]),
    Route("/topics/{name}", topic),
    Route("/topics/{name}/delete", delete_topic, methods=["POST"]),
    Route("/topics/{name}/config", set_config, methods=["POST"]),
    Route("/topics/{name}/messages", messages),
    Route("/topics/{name}/produce", produce, methods=["POST"]),
]
