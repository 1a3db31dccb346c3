"""Consumer groups: the list, a group's state, members and assignment, lag per partition with a chart
over time, and resetting its committed offsets (a preview first; only a form carrying `confirm=yes` and
the previewed offsets commits them, which Kafka allows only while the group has no members)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from riverlog.console.app import blocking, console_of, forbid_if_read_only, render
from riverlog.console.kafka import BadInput, KafkaGateway

RESET_TARGETS = ("earliest", "latest", "timestamp", "offset")


async def groups(request: Request) -> Response:
    listed = await blocking(console_of(request).kafka.groups)
    return render(request, "groups.html", groups=listed, page="groups")


def _describe(kafka: KafkaGateway, group: str) -> dict[str, Any]:
    described = kafka.describe_group(group)
    lag = kafka.lag(group)
    members = []
    for member in described.members:
        assigned = getattr(member.assignment, "topic_partitions", None) or []
        members.append(
            {
                "member_id": member.member_id,
                "client_id": member.client_id,
                "host": member.host,
                "assignment": ", ".join(f"{tp.topic}-{tp.partition}" for tp in assigned),
            }
        )
    state = getattr(described.state, "name", str(described.state)).replace("_", " ").title()
    return {
        "state": state,
        "protocol": getattr(described, "partition_assignor", "") or "",
        "coordinator": getattr(described.coordinator, "id", "?"),
        "members": members,
        "lag": lag,
        "total_lag": sum(row[4] for row in lag),
        "topics": sorted({row[0] for row in lag}),
    }


async def group(request: Request) -> Response:
    console = console_of(request)
    group_id = request.path_params["group"]
    details = await blocking(_describe, console.kafka, group_id)
    console.lag.add(group_id, {f"{t}-{p}": lag for t, p, _, _, lag in details["lag"]})
    return render(
        request,
        "group.html",
        group_id=group_id,
        targets=RESET_TARGETS,
        page="groups",
        message=request.query_params.get("message"),
        **details,
    )


async def lag_chart(request: Request) -> Response:
    console = console_of(request)
    group_id = request.path_params["group"]
    rows = await blocking(console.kafka.lag, group_id)
    console.lag.add(group_id, {f"{t}-{p}": lag for t, p, _, _, lag in rows})
    return JSONResponse(console.lag.chart(group_id))


async def reset(request: Request) -> Response:
    if denied := forbid_if_read_only(request):
        return denied
    console = console_of(request)
    group_id = request.path_params["group"]
    form = await request.form()
    topic = str(form.get("topic", "")).strip()
    to = str(form.get("to", ""))
    if not topic:
        raise BadInput("choose the topic whose offsets to reset")
    if to not in RESET_TARGETS:
        raise BadInput(f"reset to one of {', '.join(RESET_TARGETS)}, not {to!r}")
    raw = str(form.get("value", "")).strip()
    value = None
    if to in ("timestamp", "offset"):
        try:
            value = int(raw)
        except ValueError:
            raise BadInput(f"{to} needs a whole number, got {raw!r}") from None
    if form.get("confirm") == "yes":
        offsets = []
        for key, new in form.multi_items():
            if key.startswith("p"):
                offsets.append((int(key[1:]), int(str(new))))
        await blocking(console.kafka.reset_offsets, group_id, topic, offsets)
        return RedirectResponse(
            f"/groups/{group_id}?message=offsets+of+{topic}+reset+to+{to}", status_code=303
        )
    plan = await blocking(console.kafka.reset_plan, group_id, topic, to, value)
    return render(
        request,
        "reset.html",
        group_id=group_id,
        topic_name=topic,
        to=to,
        value=raw,
        plan=plan,
        page="groups",
    )


ROUTES = [
    Route("/groups", groups),
    Route("/groups/{group}", group),
    Route("/groups/{group}/lag", lag_chart),
    Route("/groups/{group}/reset", reset, methods=["POST"]),
]
