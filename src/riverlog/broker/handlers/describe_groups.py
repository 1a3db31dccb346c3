"""DescribeGroups (key 15): state, protocol and members (with metadata and assignment when Stable).

A group that does not exist is described as Dead with no error (Kafka's answer before v6).
Asked for (v3+), a described group carries the operations the principal may do on it (KIP-430).
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.groups import CoordinatorError
from riverlog.broker.handlers._authz import authorized_operations, require
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.coordinator.group.messages import DescribedGroup
from riverlog.protocol.messages import describe_groups as wire
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 15
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = wire.DescribeGroupsRequest
AUTHORIZED_OPERATIONS_UNKNOWN = -(2**31)


async def handle(
    ctx: RequestContext, request: wire.DescribeGroupsRequest
) -> wire.DescribeGroupsResponse:
    with_ops = bool(request.include_authorized_operations)
    groups = tuple(
        _described(ctx, _describe(ctx, group_id), with_ops) for group_id in request.groups
    )
    return wire.DescribeGroupsResponse(throttle_time=ZERO_THROTTLE, groups=groups)


def _describe(ctx: RequestContext, group_id: str) -> DescribedGroup:
    try:
        require(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id)
        return ctx.services.groups.read(group_id, lambda shard: shard.describe_group(group_id))
    except CoordinatorError as exc:
        return DescribedGroup(group_id, exc.code, "")


def _described(ctx: RequestContext, group: DescribedGroup, with_ops: bool) -> wire.DescribedGroup:
    members = tuple(
        wire.DescribedGroupMember(
            member_id=m.member_id,
            group_instance_id=m.group_instance_id,
            client_id=m.client_id,
            client_host=m.client_host,
            member_metadata=m.metadata,
            member_assignment=m.assignment,
        )
        for m in group.members
    )
    return wire.DescribedGroup(
        error_code=group.error,
        group_id=group.group_id,
        group_state=group.state,
        protocol_type=group.protocol_type,
        protocol_data=group.protocol_data,
        members=members,
        authorized_operations=(
            authorized_operations(ctx, ResourceType.GROUP, group.group_id)
            if with_ops and group.error is ErrorCode.none
            else AUTHORIZED_OPERATIONS_UNKNOWN
        ),
    )
