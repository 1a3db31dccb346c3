"""OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, from the leader-epoch cache.

Clients use it to detect log truncation after a leader change (KIP-320); followers use it to find where
their log diverges. An epoch the cache does not know answers (-1, -1), as Kafka does.
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from riverlog.broker.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 23
MIN_VERSION = 2
MAX_VERSION = 4


async def handle(ctx: RequestContext, request: Any) -> Any:
    topics = tuple(
        ctx.build(
            "OffsetForLeaderTopicResult",
            topic=topic.topic,
            partitions=tuple(
                _partition(ctx, topic.topic, p, getattr(request, "replica_id", -1) >= 0)
                for p in topic.partitions
            ),
        )
        for topic in request.topics
    )
    return ctx.build("OffsetForLeaderEpochResponse", throttle_time=ZERO_THROTTLE, topics=topics)


def _partition(ctx: RequestContext, topic: str, p: Any, replica: bool = False) -> Any:
    allowed = (
        ctx.cluster_authorized(AclOperation.CLUSTER_ACTION)
        if replica
        else ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, topic)
    )
    if not allowed:
        code = ErrorCode.topic_authorization_failed
        return ctx.build("EpochEndOffset", error_code=code, partition=p.partition)
    found = ctx.services.replicas.check_partition(
        topic, p.partition, getattr(p, "current_leader_epoch", -1)
    )
    if isinstance(found, ErrorCode):
        return ctx.build("EpochEndOffset", error_code=found, partition=p.partition)
    epoch, end_offset = ctx.services.fetches.end_offset_for_epoch(found, p.leader_epoch)
    return ctx.build(
        "EpochEndOffset",
        error_code=ErrorCode.none,
        partition=p.partition,
        leader_epoch=epoch,
        end_offset=end_offset,
    )
