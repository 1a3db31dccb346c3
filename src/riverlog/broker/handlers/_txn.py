"""Shared by the transaction handlers: reaching the transaction coordinator, Kafka's error mapping,
and the KIP-890 check a transactional produce goes through."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from riverlog.broker.context import RequestContext
from riverlog.broker.coordinator_runtime import CoordinatorError
from riverlog.broker.replica_manager import Partition
from riverlog.broker.txn_runtime import ShardOperation, TxnRuntime
from riverlog.coordinator.txn import TxnResult
from riverlog.protocol.errors import CorruptRecordError
from riverlog.protocol.records import parse_header

if TYPE_CHECKING:
    from riverlog.broker.services import BrokerServices


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


# KIP-890 part 1: how a failed verification is answered to a producer (Kafka's mapping for
# clients older than transactions V2: retriable coordinator trouble becomes NOT_ENOUGH_REPLICAS).
_VERIFY_TO_PRODUCE: dict[ErrorCode, ErrorCode] = {
    ErrorCode.producer_fenced: ErrorCode.invalid_producer_epoch,
    ErrorCode.invalid_producer_id_mapping: ErrorCode.invalid_producer_epoch,
    ErrorCode.concurrent_transactions: ErrorCode.not_enough_replicas,
    ErrorCode.not_coordinator: ErrorCode.not_enough_replicas,
    ErrorCode.coordinator_not_available: ErrorCode.not_enough_replicas,
    ErrorCode.coordinator_load_in_progress: ErrorCode.not_enough_replicas,
}


def verify_transactional_produce(
    services: BrokerServices,
    transactional_id: str | None,
    part: Partition,
    records: bytes | memoryview,
) -> ErrorCode:
    """KIP-890 part 1 (`transaction.partition.verification.enable`): a transactional batch that
    would open a transaction on this partition is refused with INVALID_TXN_STATE unless the
    coordinator has the partition in the producer's ongoing transaction. Checked only when this
    broker also coordinates the transactional id (a remote check needs AddPartitionsToTxn v4
    verify_only over an inter-broker connection). Produce calls this before appending."""
    if transactional_id is None or services.transactions is None:
        return ErrorCode.none
    if not services.config.get_bool("transaction.partition.verification.enable"):
        return ErrorCode.none
    try:
        header = parse_header(records)
    except CorruptRecordError:
        return ErrorCode.none  # the append refuses it with Kafka's error
    if not header.is_transactional or header.is_control:
        return ErrorCode.none
    entry = part.log.producer_state.last_entry(header.producer_id)
    if (
        entry is not None
        and entry.producer_epoch == header.producer_epoch
        and entry.current_txn_first_offset is not None
    ):
        return ErrorCode.none  # already in a transaction on this partition: verified then
    try:
        _, shard = services.transactions.shard_for(transactional_id)
    except CoordinatorError:
        return ErrorCode.none
    tp = (part.topic, part.index)
    code = shard.verify_partitions(
        transactional_id, header.producer_id, header.producer_epoch, [tp]
    )[tp]
    return _VERIFY_TO_PRODUCE.get(code, code)
