"""OffsetDelete (key 47): delete a group's committed offsets for some partitions (KIP-496).

Refused for topics an active consumer group subscribes to (GROUP_SUBSCRIBED_TO_TOPIC per partition) and
for active groups of other protocol types (NON_EMPTY_GROUP). Needs DELETE on the group and, per topic,
READ (else TOPIC_AUTHORIZATION_FAILED for its partitions), as Kafka's KafkaApis.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.groups import CoordinatorError
from riverlog.broker.handlers._authz import require
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.coordinator.group.messages import TopicErrors
from riverlog.protocol.messages.offset_delete import (
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetDeleteResponsePartition,
    OffsetDeleteResponseTopic,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 47
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = OffsetDeleteRequest


async def handle(ctx: RequestContext, request: OffsetDeleteRequest) -> OffsetDeleteResponse:
    group_id = request.group_id
    wanted = [
        (t.name, [p.partition_index for p in t.partitions])
        for t in request.topics
        if ctx.authorized(AclOperation.READ, ResourceType.TOPIC, t.name)
    ]
    denied: TopicErrors = tuple(
        (
            t.name,
            tuple((p.partition_index, ErrorCode.topic_authorization_failed) for p in t.partitions),
        )
        for t in request.topics
        if not ctx.authorized(AclOperation.READ, ResourceType.TOPIC, t.name)
    )
    answer: TopicErrors = ()
    try:
        require(ctx, AclOperation.DELETE, ResourceType.GROUP, group_id)
        error, answer = await ctx.services.groups.execute(
            group_id, lambda shard, _ticket, _now: shard.delete_offsets(group_id, wanted)
        )
    except CoordinatorError as exc:
        error = exc.code
    if error is ErrorCode.none:
        answer = tuple(answer) + denied
    return OffsetDeleteResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=error,
        topics=tuple(
            OffsetDeleteResponseTopic(
                name=topic,
                partitions=tuple(
                    OffsetDeleteResponsePartition(partition_index=p, error_code=e)
                    for p, e in partitions
                ),
            )
            for topic, partitions in answer
        ),
    )
