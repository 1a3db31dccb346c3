"""LeaveGroup (key 13): members leave at once instead of waiting out their session timeout.

v0-v2 name one member id and answer with one error; v3+ (KIP-345) name members by member id and/or
`group.instance.id`, and answer per member (batch leave, used by admin tools to remove static members).
"""

from __future__ import annotations

from riverlog.broker.coordinators.groups import CoordinatorError
from riverlog.broker.handlers._authz import require
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.coordinator.group.messages import (
    LeaveGroupRequest,
    LeaveGroupResult,
    MemberIdentity,
)
from riverlog.protocol.messages import leave_group as wire
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 13
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = wire.LeaveGroupRequest


async def handle(ctx: RequestContext, request: wire.LeaveGroupRequest) -> wire.LeaveGroupResponse:
    if ctx.version >= 3:
        members = tuple(
            MemberIdentity(m.member_id, m.group_instance_id, m.reason) for m in request.members
        )
    else:
        members = (MemberIdentity(request.member_id),)
    req = LeaveGroupRequest(request.group_id, members)
    try:
        require(ctx, AclOperation.READ, ResourceType.GROUP, req.group_id)
        result = await ctx.services.groups.execute(
            req.group_id, lambda shard, _ticket, now: shard.leave_group(req, now)
        )
    except CoordinatorError as exc:
        result = LeaveGroupResult(exc.code)
    error = result.error
    if ctx.version < 3:
        if result.members:
            error = result.members[0].error  # one member: its error is the answer
        return wire.LeaveGroupResponse(throttle_time=ZERO_THROTTLE, error_code=error)
    answers = tuple(
        wire.MemberResponse(
            member_id=m.member_id,
            group_instance_id=m.group_instance_id,
            error_code=m.error,
        )
        for m in result.members
    )
    return wire.LeaveGroupResponse(throttle_time=ZERO_THROTTLE, error_code=error, members=answers)
