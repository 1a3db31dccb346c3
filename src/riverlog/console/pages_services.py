"""Connect, SQL and Schemas pages over those services' REST APIs ("not configured" without a URL).

Connect: connectors with status and tasks (with each task's record counters from the worker's
/metrics: Kafka Connect's source-/sink-task-metrics); a create form built from the plugin's config definition
(`PUT /connector-plugins/{plugin}/config/validate`), errors shown inline; pause/resume/restart/delete
(delete needs confirmation). SQL: run a statement (`/ksql`) or a query (`/query-stream`, push queries
cut after a page of rows); streams, tables and queries listed. Schemas: subjects, versions with a diff
between two of them, compatibility (global and per subject).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from riverlog.console.app import blocking, console_of, forbid_if_read_only, render
from riverlog.console.kafka import BadInput
from riverlog.console.rest import RestError

COMPATIBILITY_LEVELS = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)
QUERY_WORDS = ("SELECT", "PRINT")


# --- Connect ---


async def connect(request: Request) -> Response:
    api = console_of(request).connect
    if not api.configured:
        return render(request, "not_configured.html", service="Connect", page="connect")
    connectors = await blocking(api.connectors)
    plugins = await blocking(api.plugins)
    counters = await blocking(api.task_counters)
    chosen = request.query_params.get("plugin", "")
    definition: dict[str, Any] | None = None
    if chosen:
        definition = await blocking(api.validate, chosen, {"connector.class": chosen})
    return render(
        request,
        "connect.html",
        connectors=connectors,
        plugins=plugins,
        counters=counters,
        chosen=chosen,
        definition=definition,
        errors={},
        values={},
        page="connect",
        message=request.query_params.get("message"),
    )


async def connect_create(request: Request) -> Response:
    if denied := forbid_if_read_only(request):
        return denied
    api = console_of(request).connect
    form = await request.form()
    name = str(form.get("name", "")).strip()
    plugin = str(form.get("connector.class", ""))
    config = {
        key[4:]: str(value)
        for key, value in form.multi_items()
        if key.startswith("cfg:") and str(value).strip() != ""
    }
    config["connector.class"] = plugin
    config["name"] = name
    checked = await blocking(api.validate, plugin, config)
    errors = {
        item["value"]["name"]: item["value"]["errors"]
        for item in checked.get("configs", [])
        if item.get("value", {}).get("errors")
    }
    if not name:
        errors["name"] = ["a connector needs a name"]
    if errors:
        connectors = await blocking(api.connectors)
        plugins = await blocking(api.plugins)
        return render(
            request,
            "connect.html",
            status=400,
            connectors=connectors,
            plugins=plugins,
            counters={},
            chosen=plugin,
            definition=checked,
            errors=errors,
            values=config,
            page="connect",
            message=None,
        )
    await blocking(api.create, name, config)
    return RedirectResponse(f"/connect?message=created+{name}", status_code=303)


async def connect_action(request: Request) -> Response:
    if denied := forbid_if_read_only(request):
        return denied
    name, action = request.path_params["name"], request.path_params["action"]
    form = await request.form()
    if action == "delete" and form.get("confirm") != name:
        raise BadInput(f"type the connector's name ({name}) to confirm its deletion")
    await blocking(console_of(request).connect.action, name, action)
    return RedirectResponse(f"/connect?message={action}+{name}", status_code=303)


# --- SQL ---


async def sql(request: Request) -> Response:
    api = console_of(request).sql
    if not api.configured:
        return render(request, "not_configured.html", service="SQL", page="sql")
    listings = {}
    for what in ("STREAMS", "TABLES", "QUERIES"):
        try:
            answer = await blocking(api.statement, f"LIST {what};")
            listings[what.lower()] = _listed(answer, what.lower())
        except RestError as exc:
            listings[what.lower()] = [{"error": str(exc)}]
    return render(request, "sql.html", listings=listings, page="sql")


def _listed(answer: list[Any], key: str) -> list[dict[str, Any]]:
    for item in answer:
        if isinstance(item, dict) and isinstance(item.get(key), list):
            return list(item[key])
    return []


async def sql_run(request: Request) -> Response:
    api = console_of(request).sql
    form = await request.form()
    statement = str(form.get("ksql", "")).strip()
    try:
        if statement.split(None, 1)[0].upper() in QUERY_WORDS if statement else False:
            columns, rows = await blocking(api.query, statement)
            return render(request, "sql_result.html", columns=columns, rows=rows, answer=None)
        answer = await blocking(api.statement, statement)
    except RestError as exc:
        return render(request, "sql_result.html", error=str(exc), columns=[], rows=[])
    return render(
        request, "sql_result.html", columns=[], rows=[], answer=json.dumps(answer, indent=2)
    )


# --- Schemas ---


async def schemas(request: Request) -> Response:
    api = console_of(request).registry
    if not api.configured:
        return render(
            request,
            "not_configured.html",
            service="Schema registry",
            title="Schemas",
            page="schemas",
        )
    subjects = await blocking(api.subjects)
    level = await blocking(api.compatibility, None)
    return render(
        request,
        "schemas.html",
        subjects=subjects,
        level=level,
        levels=COMPATIBILITY_LEVELS,
        page="schemas",
    )


async def subject(request: Request) -> Response:
    api = console_of(request).registry
    name = request.path_params["subject"]
    versions = await blocking(api.versions, name)
    latest = versions[-1] if versions else 1
    left = int(request.query_params.get("from", versions[-2] if len(versions) > 1 else latest))
    right = int(request.query_params.get("to", latest))
    shown = await blocking(api.version, name, right)
    other = await blocking(api.version, name, left)
    diff = "\n".join(
        difflib.unified_diff(
            _pretty(other.get("schema", "")).splitlines(),
            _pretty(shown.get("schema", "")).splitlines(),
            f"version {left}",
            f"version {right}",
            lineterm="",
        )
    )
    level = await blocking(api.compatibility, name)
    return render(
        request,
        "subject.html",
        subject=name,
        versions=versions,
        shown=shown,
        schema=_pretty(shown.get("schema", "")),
        diff=diff,
        left=left,
        right=right,
        level=level,
        levels=COMPATIBILITY_LEVELS,
        page="schemas",
    )


def _pretty(schema: str) -> str:
    try:
        return json.dumps(json.loads(schema), indent=2)
    except ValueError:
        return schema  # Protobuf text


async def set_compatibility(request: Request) -> Response:
    if denied := forbid_if_read_only(request):
        return denied
    form = await request.form()
    name = str(form.get("subject", "")) or None
    await blocking(console_of(request).registry.set_compatibility, name, str(form.get("level")))
    return RedirectResponse(f"/schemas/{name}" if name else "/schemas", status_code=303)


ROUTES = [
    Route("/connect", connect),
    Route("/connect", connect_create, methods=["POST"]),
    Route("/connect/{name}/{action}", connect_action, methods=["POST"]),
    Route("/sql", sql),
    Route("/sql", sql_run, methods=["POST"]),
    Route("/schemas", schemas),
    Route("/schemas/config", set_compatibility, methods=["POST"]),
    Route("/schemas/{subject}", subject),
]
