"""JoinGroup (key 11): join a classic group, or rejoin for a rebalance.

The response is parked until the join phase completes (every member rejoined, the initial delay or the
rebalance timeout passed); see `riverlog.coordinator.group.classic`. v0 has no rebalance timeout (the
session timeout is used), v4+ hands out member ids with MEMBER_ID_REQUIRED, v5+ carries
`group.instance.id`, v9 lets a returning static leader skip the assignment.
"""

from __future__ import annotations

from riverlog.broker.coordinators.groups import CoordinatorError
from riverlog.broker.handlers._authz import require
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE, millis
from riverlog.coordinator.group.messages import JoinGroupRequest, JoinGroupResult, Protocol
from riverlog.protocol.messages import join_group as wire
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 11
MIN_VERSION = 0
MAX_VERSION = 9
REQUEST = wire.JoinGroupRequest


def client_host(ctx: RequestContext) -> str:
    """As Kafka records a member's address: Java's InetAddress.toString, "/host", no port."""
    host, sep, port = ctx.client_host.rpartition(":")
    return f"/{host if sep and port.isdigit() else ctx.client_host}"


async def handle(ctx: RequestContext, request: wire.JoinGroupRequest) -> wire.JoinGroupResponse:
    req = JoinGroupRequest(
        group_id=request.group_id,
        member_id=request.member_id,
        protocol_type=request.protocol_type,
        protocols=tuple(Protocol(p.name, bytes(p.metadata)) for p in request.protocols),
        session_timeout_ms=millis(request.session_timeout),
        rebalance_timeout_ms=millis(request.rebalance_timeout),  # v0: none sent, -1
        group_instance_id=request.group_instance_id,
        client_id=ctx.client_id or "",
        client_host=client_host(ctx),
        api_version=ctx.version,
        reason=request.reason,
    )
    try:
        require(ctx, AclOperation.READ, ResourceType.GROUP, req.group_id)
        result = await ctx.services.groups.execute(
            req.group_id, lambda shard, ticket, now: shard.join_group(req, ticket, now)
        )
    except CoordinatorError as exc:
        result = JoinGroupResult(exc.code, member_id=req.member_id)
    return _response(ctx, result)


def _response(ctx: RequestContext, result: JoinGroupResult) -> wire.JoinGroupResponse:
    members = tuple(
        wire.JoinGroupResponseMember(
            member_id=m.member_id,
            group_instance_id=m.group_instance_id,
            metadata=m.metadata,
        )
        for m in result.members
    )
    protocol_name = result.protocol_name
    if protocol_name is None and ctx.version < 7:
        protocol_name = ""  # nullable from v7 only
    return wire.JoinGroupResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=result.error,
        generation_id=result.generation_id,
        protocol_type=result.protocol_type,
        protocol_name=protocol_name,
        leader=result.leader,
        skip_assignment=result.skip_assignment,
        member_id=result.member_id,
        members=members,
    )
