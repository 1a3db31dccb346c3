"""ListGroups (key 16): every group this broker coordinates, filtered by state (v4+) and type (v5+)."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.list_groups import (
    ListedGroup,
    ListGroupsRequest,
    ListGroupsResponse,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 16
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = ListGroupsRequest


async def handle(ctx: RequestContext, request: ListGroupsRequest) -> ListGroupsResponse:
    states = tuple(request.states_filter)
    types = tuple(request.types_filter)
    everything = ctx.cluster_authorized(AclOperation.DESCRIBE)  # else the describable ones
    groups = [
        group
        for shard in ctx.services.groups.shards.values()
        for group in shard.list_groups(states, types)
        if everything or ctx.authorized(AclOperation.DESCRIBE, ResourceType.GROUP, group.group_id)
    ]
    return ListGroupsResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        groups=tuple(
            ListedGroup(
                group_id=g.group_id,
                protocol_type=g.protocol_type,
                group_state=g.state,
                group_type=g.group_type,
            )
            for g in sorted(groups, key=lambda g: g.group_id)
        ),
    )
