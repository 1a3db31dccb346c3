"""Shared by the transaction handlers: reaching the transaction coordinator, Kafka's error mapping."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.context import RequestContext
from riverlog.broker.group_runtime import CoordinatorError
from riverlog.broker.txn_runtime import ShardOperation, TxnRuntime
from riverlog.coordinator.txn import TxnResult


def runtime(ctx: RequestContext) -> TxnRuntime:
    """The broker's transaction coordinator (CoordinatorError when it has none)."""
    found = ctx.services.transactions
    if found is None:
        raise CoordinatorError(ErrorCode.coordinator_not_available)
    return found


async def execute(ctx: RequestContext, transactional_id: str, op: ShardOperation) -> TxnResult:
    """Run a coordinator operation; a CoordinatorError becomes a failed result."""
    try:
        return await runtime(ctx).execute(transactional_id, op)
    except CoordinatorError as exc:
        return TxnResult(error=exc.code)


def for_version(code: ErrorCode, version: int, fenced_since: int) -> ErrorCode:
    """KIP-588: requests older than `fenced_since` get INVALID_PRODUCER_EPOCH for PRODUCER_FENCED."""
    if code is ErrorCode.producer_fenced and version < fenced_since:
        return ErrorCode.invalid_producer_epoch
    return code
