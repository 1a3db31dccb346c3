"""OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, from the leader-epoch cache.

Clients use it to detect log truncation after a leader change (KIP-320); followers use it to find where
their log diverges. An epoch the cache does not know answers (-1, -1), as Kafka does.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.offset_for_leader_epoch import (
    EpochEndOffset,
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
    OffsetForLeaderPartition,
    OffsetForLeaderTopicResult,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 23
MIN_VERSION = 2
MAX_VERSION = 4
REQUEST = OffsetForLeaderEpochRequest


async def handle(
    ctx: RequestContext, request: OffsetForLeaderEpochRequest
) -> OffsetForLeaderEpochResponse:
    topics = tuple(
        OffsetForLeaderTopicResult(
            topic=topic.topic,
            partitions=tuple(
                _partition(ctx, topic.topic, p, request.replica_id >= 0) for p in topic.partitions
            ),
        )
        for topic in request.topics
    )
    return OffsetForLeaderEpochResponse(throttle_time=ZERO_THROTTLE, topics=topics)


def _partition(
    ctx: RequestContext, topic: str, p: OffsetForLeaderPartition, replica: bool = False
) -> EpochEndOffset:
    allowed = (
        ctx.cluster_authorized(AclOperation.CLUSTER_ACTION)
        if replica
        else ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, topic)
    )
    if not allowed:
        code = ErrorCode.topic_authorization_failed
        return EpochEndOffset(error_code=code, partition=p.partition)
    found = ctx.services.replicas.check_partition(topic, p.partition, p.current_leader_epoch)
    if isinstance(found, ErrorCode):
        return EpochEndOffset(error_code=found, partition=p.partition)
    epoch, end_offset = ctx.services.fetches.end_offset_for_epoch(found, p.leader_epoch)
    return EpochEndOffset(
        error_code=ErrorCode.none,
        partition=p.partition,
        leader_epoch=epoch,
        end_offset=end_offset,
    )
