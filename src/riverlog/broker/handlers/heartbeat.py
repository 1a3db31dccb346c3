"""Heartbeat (key 12): a member is alive; the answer says whether a rebalance is under way."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.groups import CoordinatorError
from riverlog.broker.handlers._authz import require
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.coordinator.group.messages import HeartbeatRequest
from riverlog.protocol.messages import heartbeat as wire
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 12
MIN_VERSION = 0
MAX_VERSION = 4
REQUEST = wire.HeartbeatRequest


async def handle(ctx: RequestContext, request: wire.HeartbeatRequest) -> wire.HeartbeatResponse:
    req = HeartbeatRequest(
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id,
        group_instance_id=request.group_instance_id,
    )
    try:
        require(ctx, AclOperation.READ, ResourceType.GROUP, req.group_id)
        error: ErrorCode = await ctx.services.groups.execute(
            req.group_id, lambda shard, _ticket, now: shard.heartbeat(req, now)
        )
    except CoordinatorError as exc:
        error = exc.code
    return wire.HeartbeatResponse(throttle_time=ZERO_THROTTLE, error_code=error)
