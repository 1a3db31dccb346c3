"""AddPartitionsToTxn (key 24): a transactional producer names the partitions it is about to write.

v0-v3 (one transaction per request) are served; the v4+ batched form (KIP-890, used by brokers) is not
advertised yet. Partitions of unknown topics fail with UNKNOWN_TOPIC_OR_PARTITION and the rest of the
request with OPERATION_NOT_ATTEMPTED, as Kafka does; otherwise every partition gets the coordinator's
answer (PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH before v2, KIP-588).
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from riverlog.broker.context import RequestContext
from riverlog.broker.handlers import _txn
from riverlog.broker.responses import ZERO_THROTTLE

API_KEY = 24
MIN_VERSION = 0
MAX_VERSION = 3
FENCED_SINCE = 2


async def handle(ctx: RequestContext, request: Any) -> Any:
    txn_id: str = request.v3_and_below_transactional_id
    producer_id = int(request.v3_and_below_producer_id)
    epoch = int(request.v3_and_below_producer_epoch)
    wanted = [(t.name, int(p)) for t in request.v3_and_below_topics for p in t.partitions]
    image = ctx.services.image
    unknown = {
        (topic, p)
        for topic, p in wanted
        if (described := image.topic(topic)) is None or p not in described.partitions
    }
    if unknown:
        answers = {
            tp: ErrorCode.unknown_topic_or_partition
            if tp in unknown
            else ErrorCode.operation_not_attempted
            for tp in wanted
        }
        return _response(ctx, answers)
    result = await _txn.execute(
        ctx,
        txn_id,
        lambda shard, now: shard.add_partitions(txn_id, producer_id, epoch, wanted, now),
    )
    code = _txn.for_version(result.error, ctx.version, FENCED_SINCE)
    return _response(ctx, dict.fromkeys(wanted, code))


def _response(ctx: RequestContext, answers: dict[tuple[str, int], ErrorCode]) -> Any:
    by_topic: dict[str, list[Any]] = {}
    for (topic, partition), code in answers.items():
        by_topic.setdefault(topic, []).append(
            ctx.build(
                "AddPartitionsToTxnPartitionResult",
                partition_index=partition,
                partition_error_code=code,
            )
        )
    results = tuple(
        ctx.build("AddPartitionsToTxnTopicResult", name=name, results_by_partition=tuple(parts))
        for name, parts in by_topic.items()
    )
    return ctx.build(
        "AddPartitionsToTxnResponse",
        throttle_time=ZERO_THROTTLE,
        results_by_topic_v3_and_below=results,
    )
