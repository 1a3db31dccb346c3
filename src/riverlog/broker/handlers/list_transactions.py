"""ListTransactions (key 66): the transactional ids this broker coordinates (KIP-664).

Filters as Kafka applies them: states by Kafka's names (unknown names are echoed back in
`unknown_state_filters`), producer ids, v1+ `duration_filter` (only transactions running longer than
that many ms), v2+ `transactional_id_pattern` (a regular expression; empty or null matches all).
Dead ids are never listed. An invalid pattern is INVALID_REQUEST.
"""

from __future__ import annotations

import re

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.coordinator.txn import TransactionMetadata, TxnState
from riverlog.protocol.messages.list_transactions import (
    ListTransactionsRequest,
    ListTransactionsResponse,
    TransactionState,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 66
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = ListTransactionsRequest


async def handle(ctx: RequestContext, request: ListTransactionsRequest) -> ListTransactionsResponse:
    wanted = {name: TxnState.from_kafka_name(name) for name in request.state_filters}
    unknown = tuple(name for name, state in wanted.items() if state is None)
    states = {state for state in wanted.values() if state is not None}
    try:
        pattern = re.compile(request.transactional_id_pattern or "")
    except re.error:
        return _answer(ctx, ErrorCode.invalid_request, unknown, ())
    runtime = ctx.services.transactions
    if runtime is None:
        return _answer(ctx, ErrorCode.coordinator_not_available, unknown, ())
    runtime.load()
    now = ctx.services.clock.now_ms()
    producer_ids = {int(pid) for pid in request.producer_id_filters}
    duration = int(request.duration_filter)

    def included(meta: TransactionMetadata) -> bool:
        return (
            meta.state is not TxnState.DEAD
            and (not producer_ids or meta.producer_id in producer_ids)
            and (not wanted or meta.state in states)
            and (duration < 0 or now - meta.start_ms > duration)
            and pattern.search(meta.transactional_id) is not None
            and ctx.authorized(
                AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, meta.transactional_id
            )
        )

    listed = tuple(
        TransactionState(
            transactional_id=meta.transactional_id,
            producer_id=meta.producer_id,
            transaction_state=meta.state.kafka_name,
        )
        for shard in runtime.shards.values()
        for meta in shard.transactions.values()
        if included(meta)
    )
    return _answer(ctx, ErrorCode.none, unknown, listed)


def _answer(
    ctx: RequestContext,
    code: ErrorCode,
    unknown: tuple[str, ...],
    listed: tuple[TransactionState, ...],
) -> ListTransactionsResponse:
    return ListTransactionsResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=code,
        unknown_state_filters=unknown,
        transaction_states=listed,
    )
