"""DeleteRecords (key 21): move partitions' log start offsets forward; answers the new low watermark.

Kafka's rules (ReplicaManager / Partition.deleteRecordsOnLeader): records of internal topics cannot be
deleted (INVALID_TOPIC_EXCEPTION); the partition must be hosted and led here (UNKNOWN_TOPIC_OR_PARTITION,
NOT_LEADER_OR_FOLLOWER); its cleanup.policy must include `delete` (POLICY_VIOLATION); offset -1 means the
high watermark; a negative offset or one above the high watermark is OFFSET_OUT_OF_RANGE. An offset below
the log start offset changes nothing. With this broker the only replica, the low watermark is the
leader's log start offset, so the answer needs no purgatory.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.topics import INTERNAL_TOPICS
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.delete_records import (
    DeleteRecordsPartition,
    DeleteRecordsPartitionResult,
    DeleteRecordsRequest,
    DeleteRecordsResponse,
    DeleteRecordsTopicResult,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 21
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = DeleteRecordsRequest
HIGH_WATERMARK = -1


async def handle(ctx: RequestContext, request: DeleteRecordsRequest) -> DeleteRecordsResponse:
    topics = tuple(
        DeleteRecordsTopicResult(
            name=topic.name,
            partitions=tuple(_partition(ctx, topic.name, p) for p in topic.partitions),
        )
        for topic in request.topics
    )
    return DeleteRecordsResponse(throttle_time=ZERO_THROTTLE, topics=topics)


def _partition(
    ctx: RequestContext, topic: str, p: DeleteRecordsPartition
) -> DeleteRecordsPartitionResult:
    if not ctx.authorized(AclOperation.DELETE, ResourceType.TOPIC, topic):
        return _answer(ctx, p.partition_index, ErrorCode.topic_authorization_failed)
    if topic in INTERNAL_TOPICS:
        return _answer(ctx, p.partition_index, ErrorCode.invalid_topic_exception)
    replicas = ctx.services.replicas
    found = replicas.check_partition(topic, p.partition_index)
    if isinstance(found, ErrorCode):
        return _answer(ctx, p.partition_index, found)
    code = replicas.delete_records(found, p.offset)
    if code is not ErrorCode.none:
        return _answer(ctx, p.partition_index, code)
    return _answer(ctx, p.partition_index, ErrorCode.none, found.log_start_offset)


def _answer(
    ctx: RequestContext, index: int, code: ErrorCode, low_watermark: int = -1
) -> DeleteRecordsPartitionResult:
    return DeleteRecordsPartitionResult(
        partition_index=index,
        low_watermark=low_watermark,
        error_code=code,
    )
