"""InitProducerId (key 22): producer ids for idempotent and transactional producers.

Without a transactional id Kafka hands out a fresh producer id with epoch 0 on every call (also when the
client passes its old id/epoch to bump after an error, KIP-360). With one, the transaction coordinator
(`riverlog.broker.coordinators.transactions`) bumps the id's epoch, fencing older producers; an ongoing transaction is
aborted first (Kafka answers CONCURRENT_TRANSACTIONS and the client retries; riverlog completes the
abort before answering and retries once itself, which the client cannot tell apart).
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.handlers import _txn
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE, millis
from riverlog.broker.services import ProducerIdUnavailable
from riverlog.protocol.messages.init_producer_id import (
    InitProducerIdRequest,
    InitProducerIdResponse,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 22
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = InitProducerIdRequest
FENCED_SINCE = 4  # KIP-588


async def handle(ctx: RequestContext, request: InitProducerIdRequest) -> InitProducerIdResponse:
    try:
        denied = _denied(ctx, request.transactional_id)
        if denied is not None:
            return _answer(ctx, denied, -1, -1)
        if request.transactional_id is not None:
            return await _transactional(ctx, request)
        return _answer(ctx, ErrorCode.none, ctx.services.producer_ids.next_id(), 0)
    except ProducerIdUnavailable:
        return _answer(ctx, ErrorCode.coordinator_load_in_progress, -1, -1)


def _denied(ctx: RequestContext, txn_id: str | None) -> ErrorCode | None:
    """KafkaApis: WRITE on the transactional id; without one, IDEMPOTENT_WRITE on the cluster or
    WRITE on some topic (Kafka 3.0+)."""
    if txn_id is not None:
        if ctx.authorized(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
            return None
        return ErrorCode.transactional_id_authorization_failed
    if ctx.cluster_authorized(AclOperation.IDEMPOTENT_WRITE) or any(
        ctx.authorized(AclOperation.WRITE, ResourceType.TOPIC, name)
        for name in ctx.services.image.topics
    ):
        return None
    return ErrorCode.cluster_authorization_failed


async def _transactional(
    ctx: RequestContext, request: InitProducerIdRequest
) -> InitProducerIdResponse:
    txn_id = request.transactional_id
    if not txn_id:
        return _answer(ctx, ErrorCode.invalid_request, -1, -1)  # Kafka: an empty id is invalid
    timeout_ms = millis(request.transaction_timeout)
    expected = (
        request.producer_id,
        request.producer_epoch,
    )
    new_id = ctx.services.producer_ids.next_id
    for _ in range(2):
        result = await _txn.execute(
            ctx,
            txn_id,
            lambda shard, now: shard.init_producer_id(txn_id, timeout_ms, expected, now, new_id),
        )
        if result.error is not ErrorCode.concurrent_transactions or result.markers is None:
            break
    meta = result.metadata
    if result.error is not ErrorCode.none or meta is None:
        return _answer(ctx, _txn.for_version(result.error, ctx.version, FENCED_SINCE), -1, -1)
    return _answer(ctx, ErrorCode.none, meta.producer_id, meta.producer_epoch)


def _answer(
    ctx: RequestContext, code: ErrorCode, producer_id: int, epoch: int
) -> InitProducerIdResponse:
    return InitProducerIdResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=code,
        producer_id=producer_id,
        producer_epoch=epoch,
    )
