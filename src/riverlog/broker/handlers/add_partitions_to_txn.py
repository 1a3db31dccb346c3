"""AddPartitionsToTxn (key 24): partitions a transactional producer is about to write.

v0-v3: one transaction per request, sent by clients. v4+ (KIP-890): a batch of transactions, sent by
brokers; a transaction with `verify_only` writes nothing and answers, per partition, whether it is
already in the ongoing transaction (INVALID_TXN_STATE when not) — the check a partition leader makes
before accepting a transactional produce. Without `verify_only` a leader adds the partition for a
transactions V2 client (KIP-890 part 2), which marks the transaction as V2 (epoch bump at its end). Partitions of unknown topics fail with
UNKNOWN_TOPIC_OR_PARTITION and the rest of that transaction with OPERATION_NOT_ATTEMPTED, as Kafka
does; otherwise every partition gets the coordinator's answer (PRODUCER_FENCED becomes
INVALID_PRODUCER_EPOCH before v2, KIP-588). v4+ comes only from brokers: without CLUSTER_ACTION on
the cluster the whole request answers CLUSTER_AUTHORIZATION_FAILED, as Kafka's KafkaApis does.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.runtime import CoordinatorError
from riverlog.broker.handlers import _txn
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.coordinator.txn.state import TV_2
from riverlog.protocol.messages.add_partitions_to_txn import (
    AddPartitionsToTxnPartitionResult,
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse,
    AddPartitionsToTxnResult,
    AddPartitionsToTxnTopicResult,
    AddPartitionsToTxnTransaction,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 24
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = AddPartitionsToTxnRequest
FENCED_SINCE = 2
BATCHED_SINCE = 4
Answers = dict[tuple[str, int], ErrorCode]


async def handle(
    ctx: RequestContext, request: AddPartitionsToTxnRequest
) -> AddPartitionsToTxnResponse:
    if ctx.version >= BATCHED_SINCE:
        if not ctx.cluster_authorized(AclOperation.CLUSTER_ACTION):
            return AddPartitionsToTxnResponse(
                throttle_time=ZERO_THROTTLE,
                error_code=ErrorCode.cluster_authorization_failed,
                results_by_transaction=(),
            )
        results = [await _batched(ctx, txn) for txn in request.transactions]
        return AddPartitionsToTxnResponse(
            throttle_time=ZERO_THROTTLE,
            error_code=ErrorCode.none,
            results_by_transaction=tuple(results),
        )
    answers = await add(
        ctx,
        request.v3_and_below_transactional_id,
        int(request.v3_and_below_producer_id),
        int(request.v3_and_below_producer_epoch),
        [(t.name, int(p)) for t in request.v3_and_below_topics for p in t.partitions],
    )
    return AddPartitionsToTxnResponse(
        throttle_time=ZERO_THROTTLE,
        results_by_topic_v3_and_below=_topic_results(ctx, answers),
    )


async def _batched(
    ctx: RequestContext, txn: AddPartitionsToTxnTransaction
) -> AddPartitionsToTxnResult:
    wanted = [(t.name, int(p)) for t in txn.topics for p in t.partitions]
    producer_id, epoch = int(txn.producer_id), int(txn.producer_epoch)
    if txn.verify_only:
        answers = verify(ctx, txn.transactional_id, producer_id, epoch, wanted)
    else:  # only a broker adding for a transactions V2 client sends v4+ without verify_only
        answers = await add(ctx, txn.transactional_id, producer_id, epoch, wanted, TV_2)
    return AddPartitionsToTxnResult(
        transactional_id=txn.transactional_id,
        topic_results=_topic_results(ctx, answers),
    )


async def add(
    ctx: RequestContext,
    txn_id: str,
    producer_id: int,
    epoch: int,
    wanted: list[tuple[str, int]],
    client_transaction_version: int = 0,
) -> Answers:
    """Add the partitions to the transaction; each partition's answer."""
    if not ctx.authorized(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
        return dict.fromkeys(wanted, ErrorCode.transactional_id_authorization_failed)
    denied = [
        tp for tp in wanted if not ctx.authorized(AclOperation.WRITE, ResourceType.TOPIC, tp[0])
    ]
    if denied:  # KafkaApis: the others answer OPERATION_NOT_ATTEMPTED
        answers = dict.fromkeys(wanted, ErrorCode.operation_not_attempted)
        answers.update(dict.fromkeys(denied, ErrorCode.topic_authorization_failed))
        return answers
    unknown = _unknown(ctx, wanted)
    if unknown:
        return _not_attempted(wanted, unknown)
    tv = client_transaction_version
    result = await _txn.execute(
        ctx,
        txn_id,
        lambda shard, now: shard.add_partitions(txn_id, producer_id, epoch, wanted, now, tv),
    )
    return dict.fromkeys(wanted, _txn.for_version(result.error, ctx.version, FENCED_SINCE))


def verify(
    ctx: RequestContext, txn_id: str, producer_id: int, epoch: int, wanted: list[tuple[str, int]]
) -> Answers:
    """KIP-890 verification: which partitions are already in the ongoing transaction."""
    unknown = _unknown(ctx, wanted)
    if unknown:
        return _not_attempted(wanted, unknown)
    try:
        _, shard = _txn.runtime(ctx).shard_for(txn_id)
    except CoordinatorError as exc:
        return dict.fromkeys(wanted, exc.code)
    return shard.verify_partitions(txn_id, producer_id, epoch, wanted)


def _unknown(ctx: RequestContext, wanted: list[tuple[str, int]]) -> set[tuple[str, int]]:
    image = ctx.services.image
    return {
        (topic, p)
        for topic, p in wanted
        if (described := image.topic(topic)) is None or p not in described.partitions
    }


def _not_attempted(wanted: list[tuple[str, int]], unknown: set[tuple[str, int]]) -> Answers:
    return {
        tp: ErrorCode.unknown_topic_or_partition
        if tp in unknown
        else ErrorCode.operation_not_attempted
        for tp in wanted
    }


def _topic_results(
    ctx: RequestContext, answers: Answers
) -> tuple[AddPartitionsToTxnTopicResult, ...]:
    by_topic: dict[str, list[AddPartitionsToTxnPartitionResult]] = {}
    for (topic, partition), code in answers.items():
        by_topic.setdefault(topic, []).append(
            AddPartitionsToTxnPartitionResult(
                partition_index=partition,
                partition_error_code=code,
            )
        )
    return tuple(
        AddPartitionsToTxnTopicResult(name=name, results_by_partition=tuple(parts))
        for name, parts in by_topic.items()
    )
