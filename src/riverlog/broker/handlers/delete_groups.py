"""DeleteGroups (key 42): delete Empty groups and their committed offsets.

A group with members answers NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND; a deleted group's offsets
and metadata become tombstones in `__consumer_offsets`.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.groups import CoordinatorError
from riverlog.broker.handlers._authz import require
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.delete_groups import (
    DeletableGroupResult,
    DeleteGroupsRequest,
    DeleteGroupsResponse,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 42
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = DeleteGroupsRequest


async def handle(ctx: RequestContext, request: DeleteGroupsRequest) -> DeleteGroupsResponse:
    results = []
    for group_id in request.groups_names:
        error = await _delete(ctx, group_id)
        results.append(DeletableGroupResult(group_id=group_id, error_code=error))
    return DeleteGroupsResponse(throttle_time=ZERO_THROTTLE, results=tuple(results))


async def _delete(ctx: RequestContext, group_id: str) -> ErrorCode:
    if not group_id:
        return ErrorCode.invalid_group_id
    try:
        require(ctx, AclOperation.DELETE, ResourceType.GROUP, group_id)
        error: ErrorCode = await ctx.services.groups.execute(
            group_id, lambda shard, _ticket, _now: shard.delete_group(group_id)
        )
    except CoordinatorError as exc:
        if exc.code is ErrorCode.not_coordinator and not ctx.services.groups.shards:
            return ErrorCode.group_id_not_found  # no offsets topic yet: no group exists
        return exc.code
    return error
