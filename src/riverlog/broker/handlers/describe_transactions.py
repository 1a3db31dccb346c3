"""DescribeTransactions (key 65): a transactional id's state at its coordinator (KIP-664).

Per id: NOT_COORDINATOR when another broker coordinates it, TRANSACTIONAL_ID_NOT_FOUND when no
state exists, else its state (Kafka's name), timeout, start time, producer id and epoch, and the
partitions of the transaction in flight.
"""

from __future__ import annotations

import datetime

from kio.schema.errors import ErrorCode
from kio.static.primitive import i32Timedelta

from riverlog.broker.coordinators.runtime import CoordinatorError
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.coordinator.txn import TransactionMetadata
from riverlog.protocol.messages.describe_transactions import (
    DescribeTransactionsRequest,
    DescribeTransactionsResponse,
    TopicData,
    TransactionState,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 65
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = DescribeTransactionsRequest


async def handle(
    ctx: RequestContext, request: DescribeTransactionsRequest
) -> DescribeTransactionsResponse:
    states = tuple(_describe(ctx, txn_id) for txn_id in request.transactional_ids)
    return DescribeTransactionsResponse(throttle_time=ZERO_THROTTLE, transaction_states=states)


def _describe(ctx: RequestContext, transactional_id: str) -> TransactionState:
    runtime = ctx.services.transactions
    meta: TransactionMetadata | None = None
    if not ctx.authorized(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, transactional_id):
        return _state(ctx, transactional_id, ErrorCode.transactional_id_authorization_failed)
    if runtime is None:
        code = ErrorCode.coordinator_not_available
    else:
        try:
            meta = runtime.shard_for(transactional_id)[1].transactions.get(transactional_id)
            code = ErrorCode.none if meta is not None else ErrorCode.transactional_id_not_found
        except CoordinatorError as exc:
            code = exc.code
    if meta is None:
        return _state(ctx, transactional_id, code)
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(meta.partitions):
        by_topic.setdefault(topic, []).append(partition)
    return _state(
        ctx,
        transactional_id,
        code,
        state=meta.state.kafka_name,
        timeout_ms=meta.timeout_ms,
        start_ms=meta.start_ms,
        producer=(meta.producer_id, meta.producer_epoch),
        topics=tuple(
            TopicData(topic=topic, partitions=tuple(parts)) for topic, parts in by_topic.items()
        ),
    )


def _state(
    ctx: RequestContext,
    transactional_id: str,
    code: ErrorCode,
    *,
    state: str = "",
    timeout_ms: int = 0,
    start_ms: int = -1,
    producer: tuple[int, int] = (-1, -1),
    topics: tuple[TopicData, ...] = (),
) -> TransactionState:
    # Kafka sends -1 when no transaction is in flight; kio (riverlog's own CLI) cannot decode a
    # negative timestamp, so riverlog sends 0, which no real transaction starts at either.
    started = datetime.datetime.fromtimestamp(max(start_ms, 0) / 1000, tz=datetime.UTC)
    return TransactionState(
        error_code=code,
        transactional_id=transactional_id,
        transaction_state=state,
        transaction_timeout=i32Timedelta.parse(datetime.timedelta(milliseconds=timeout_ms)),
        transaction_start_time=started,
        producer_id=producer[0],
        producer_epoch=producer[1],
        topics=topics,
    )
