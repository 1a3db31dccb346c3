"""DescribeProducers (key 61): the active producers of partitions led here (KIP-664).

Per partition, from its producer state: id, epoch, last sequence, last timestamp, coordinator epoch
and the first offset of the open transaction (-1 when none) — what `kafka-transactions.sh
describe-producers` shows and what `find-hanging` looks for. UNKNOWN_TOPIC_OR_PARTITION /
NOT_LEADER_OR_FOLLOWER where the partition is not led here.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.describe_producers import (
    DescribeProducersRequest,
    DescribeProducersResponse,
    PartitionResponse,
    ProducerState,
    TopicResponse,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 61
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = DescribeProducersRequest


async def handle(
    ctx: RequestContext, request: DescribeProducersRequest
) -> DescribeProducersResponse:
    topics = tuple(
        TopicResponse(
            name=topic.name,
            partitions=tuple(_partition(ctx, topic.name, int(p)) for p in topic.partition_indexes),
        )
        for topic in request.topics
    )
    return DescribeProducersResponse(throttle_time=ZERO_THROTTLE, topics=topics)


def _partition(ctx: RequestContext, topic: str, index: int) -> PartitionResponse:
    part = ctx.services.replicas.check_partition(topic, index)
    if not ctx.authorized(AclOperation.READ, ResourceType.TOPIC, topic):
        part = ErrorCode.topic_authorization_failed
    if isinstance(part, ErrorCode):
        return PartitionResponse(
            partition_index=index,
            error_code=part,
            error_message=None,
            active_producers=(),
        )
    producers = tuple(
        ProducerState(
            producer_id=entry.producer_id,
            producer_epoch=entry.producer_epoch,
            last_sequence=entry.last_seq,
            last_timestamp=entry.last_timestamp,
            coordinator_epoch=entry.coordinator_epoch,
            current_txn_start_offset=(
                -1 if entry.current_txn_first_offset is None else entry.current_txn_first_offset
            ),
        )
        for entry in ctx.services.fetches.producers(part)
    )
    return PartitionResponse(
        partition_index=index,
        error_code=ErrorCode.none,
        error_message=None,
        active_producers=producers,
    )
