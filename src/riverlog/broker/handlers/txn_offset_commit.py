"""TxnOffsetCommit (key 28): offsets a transactional producer commits for a consumer group.

Served by the group's coordinator. The producer must be the transactional id's current producer
(INVALID_PRODUCER_ID_MAPPING / PRODUCER_FENCED, INVALID_PRODUCER_EPOCH before v3, KIP-588). The offsets
wait in the transaction coordinator and are committed through the group runtime when the transaction
commits (dropped when it aborts); see `riverlog.broker.txn_runtime` for what is not durable yet.
Not done yet: the member/generation check of v3+ and OffsetFetch's UNSTABLE_OFFSET_COMMIT.
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from riverlog.broker.context import RequestContext
from riverlog.broker.group_runtime import CoordinatorError
from riverlog.broker.handlers import _txn
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.coordinator.group.records import OffsetCommitValue

API_KEY = 28
MIN_VERSION = 0
MAX_VERSION = 3
FENCED_SINCE = 3


async def handle(ctx: RequestContext, request: Any) -> Any:
    wanted = [(t.name, p) for t in request.topics for p in t.partitions]
    code = _check(ctx, request)
    if code is not ErrorCode.none:
        return _response(ctx, {(topic, p.partition_index): code for topic, p in wanted})
    image = ctx.services.image
    max_metadata = ctx.services.config.get_int("offset.metadata.max.bytes")
    answers: dict[tuple[str, int], ErrorCode] = {}
    offsets: dict[tuple[str, str, int], OffsetCommitValue] = {}
    for topic, p in wanted:
        described = image.topic(topic)
        metadata = p.committed_metadata or ""
        if described is None or p.partition_index not in described.partitions:
            answers[(topic, p.partition_index)] = ErrorCode.unknown_topic_or_partition
        elif len(metadata.encode()) > max_metadata:
            answers[(topic, p.partition_index)] = ErrorCode.offset_metadata_too_large
        else:
            epoch = int(getattr(p, "committed_leader_epoch", -1))
            value = OffsetCommitValue(int(p.committed_offset), metadata, -1, epoch)
            offsets[(request.group_id, topic, int(p.partition_index))] = value
            answers[(topic, p.partition_index)] = ErrorCode.none
    _txn.runtime(ctx).add_offsets(request.transactional_id, offsets)
    return _response(ctx, answers)


def _check(ctx: RequestContext, request: Any) -> ErrorCode:
    """NOT_COORDINATOR unless the group is here; the producer must be the id's current one."""
    try:
        ctx.services.groups.shard_for(request.group_id)
        _, shard = _txn.runtime(ctx).shard_for(request.transactional_id)
    except CoordinatorError as exc:
        return exc.code
    code = shard.check_producer(
        request.transactional_id, int(request.producer_id), int(request.producer_epoch)
    )
    return _txn.for_version(code, ctx.version, FENCED_SINCE)


def _response(ctx: RequestContext, answers: dict[tuple[str, int], ErrorCode]) -> Any:
    by_topic: dict[str, list[Any]] = {}
    for (topic, partition), code in answers.items():
        by_topic.setdefault(topic, []).append(
            ctx.build(
                "TxnOffsetCommitResponsePartition", partition_index=partition, error_code=code
            )
        )
    topics = tuple(
        ctx.build("TxnOffsetCommitResponseTopic", name=name, partitions=tuple(parts))
        for name, parts in by_topic.items()
    )
    return ctx.build("TxnOffsetCommitResponse", throttle_time=ZERO_THROTTLE, topics=topics)
