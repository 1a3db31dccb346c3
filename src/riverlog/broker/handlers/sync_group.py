"""SyncGroup (key 14): the leader sends the assignment; every member gets its own.

Parked during CompletingRebalance until the leader's assignment is stored in `__consumer_offsets`; in
Stable it answers at once with the member's current assignment. v5+ carries protocol type and name.
"""

from __future__ import annotations

from riverlog.broker.coordinators.groups import CoordinatorError
from riverlog.broker.handlers._authz import require
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.coordinator.group.messages import SyncGroupRequest, SyncGroupResult
from riverlog.protocol.messages import sync_group as wire
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 14
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = wire.SyncGroupRequest


async def handle(ctx: RequestContext, request: wire.SyncGroupRequest) -> wire.SyncGroupResponse:
    req = SyncGroupRequest(
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id,
        assignments=tuple((a.member_id, bytes(a.assignment)) for a in request.assignments),
        group_instance_id=request.group_instance_id,
        protocol_type=request.protocol_type,
        protocol_name=request.protocol_name,
    )
    try:
        require(ctx, AclOperation.READ, ResourceType.GROUP, req.group_id)
        result = await ctx.services.groups.execute(
            req.group_id, lambda shard, ticket, now: shard.sync_group(req, ticket, now)
        )
    except CoordinatorError as exc:
        result = SyncGroupResult(exc.code)
    return wire.SyncGroupResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=result.error,
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name,
        assignment=result.assignment,
    )
