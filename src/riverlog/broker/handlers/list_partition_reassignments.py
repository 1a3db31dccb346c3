"""ListPartitionReassignments (key 46): the reassignments in progress (KIP-455), from the image.

A partition is listed while its replica set still has adding or removing replicas; `replicas` is the
whole set during the move (target + current), as Kafka reports it. A null topic list means all topics.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.metadata.image import PartitionState, TopicImage
from riverlog.protocol.messages.list_partition_reassignments import (
    ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
    OngoingPartitionReassignment,
    OngoingTopicReassignment,
)
from riverlog.security.acl import AclOperation

API_KEY = 46
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = ListPartitionReassignmentsRequest


async def handle(
    ctx: RequestContext, request: ListPartitionReassignmentsRequest
) -> ListPartitionReassignmentsResponse:
    image = ctx.services.image
    if not ctx.cluster_authorized(AclOperation.DESCRIBE):
        return ListPartitionReassignmentsResponse(
            throttle_time=ZERO_THROTTLE,
            error_code=ErrorCode.cluster_authorization_failed,
            error_message="Cluster authorization failed.",
            topics=(),
        )
    if request.topics is None:
        wanted = [(t, sorted(t.partitions)) for t in image.topics.values()]
    else:
        wanted = [
            (image.topics[t.name], list(t.partition_indexes))
            for t in request.topics
            if t.name in image.topics
        ]
    topics = []
    for topic, indexes in wanted:
        ongoing = [_ongoing(ctx, s) for s in _moving(topic, indexes)]
        if ongoing:
            topics.append(OngoingTopicReassignment(name=topic.name, partitions=tuple(ongoing)))
    return ListPartitionReassignmentsResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        topics=tuple(topics),
    )


def _moving(topic: TopicImage, indexes: list[int]) -> list[PartitionState]:
    states = [topic.partitions[i] for i in indexes if i in topic.partitions]
    return [s for s in states if s.adding_replicas or s.removing_replicas]


def _ongoing(ctx: RequestContext, state: PartitionState) -> OngoingPartitionReassignment:
    return OngoingPartitionReassignment(
        partition_index=state.partition,
        replicas=state.replicas,
        adding_replicas=state.adding_replicas,
        removing_replicas=state.removing_replicas,
    )
