"""ListOffsets (key 2): earliest, latest, by timestamp, max timestamp, earliest local.

Special timestamps (Kafka): -2 earliest (log start offset), -1 latest (high watermark, or the last stable
offset under read_committed; the log end offset for a follower's request), -3 the record with the largest
timestamp (v7+), -4 earliest local (v8+, same as earliest without tiered storage), -5 earliest tiered
(v9+, none here → -1). A timestamp ≥ 0 finds the first offset whose timestamp is ≥ it; none → offset -1.
Looking up a timestamp decodes the batch that holds it; a stored batch that does not decode (written
before produce validated records) answers that partition with CORRUPT_MESSAGE, or INVALID_RECORD for
malformed records, as Kafka answers the exception its reader throws; the connection stays open.
"""

from __future__ import annotations

import logging

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.errors import CorruptRecordError, InvalidRecordError
from riverlog.protocol.messages.list_offsets import (
    ListOffsetsPartition,
    ListOffsetsPartitionResponse,
    ListOffsetsRequest,
    ListOffsetsResponse,
    ListOffsetsTopicResponse,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 2
MIN_VERSION = 1
MAX_VERSION = 10
REQUEST = ListOffsetsRequest
log = logging.getLogger(__name__)


async def handle(ctx: RequestContext, request: ListOffsetsRequest) -> ListOffsetsResponse:
    committed = request.isolation_level == 1  # None before v2: read_uncommitted
    follower = request.replica_id >= 0
    topics = tuple(
        ListOffsetsTopicResponse(
            name=topic.name,
            partitions=tuple(
                _partition(ctx, topic.name, p, committed, follower) for p in topic.partitions
            ),
        )
        for topic in request.topics
    )
    return ListOffsetsResponse(throttle_time=ZERO_THROTTLE, topics=topics)


def _partition(
    ctx: RequestContext, topic: str, p: ListOffsetsPartition, committed: bool, follower: bool
) -> ListOffsetsPartitionResponse:
    if not ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, topic):
        return _answer(ctx, p.partition_index, ErrorCode.topic_authorization_failed)
    services = ctx.services
    found = services.replicas.check_partition(topic, p.partition_index, p.current_leader_epoch)
    if isinstance(found, ErrorCode):
        return _answer(ctx, p.partition_index, found)
    try:
        answer = services.fetches.list_offset(found, p.timestamp, committed, follower)
    except CorruptRecordError as exc:
        code = (
            ErrorCode.invalid_record
            if isinstance(exc, InvalidRecordError)
            else ErrorCode.corrupt_message
        )
        log.warning("ListOffsets on %s-%d: %s", topic, p.partition_index, exc)
        return _answer(ctx, p.partition_index, code)
    if isinstance(answer, ErrorCode):
        return _answer(ctx, p.partition_index, answer)
    return _answer(
        ctx, p.partition_index, ErrorCode.none, answer.timestamp, answer.offset, answer.leader_epoch
    )


def _answer(
    ctx: RequestContext,
    index: int,
    code: ErrorCode,
    ts: int = -1,
    offset: int = -1,
    epoch: int = -1,
) -> ListOffsetsPartitionResponse:
    return ListOffsetsPartitionResponse(
        partition_index=index,
        error_code=code,
        timestamp=ts,
        offset=offset,
        leader_epoch=epoch,
    )
