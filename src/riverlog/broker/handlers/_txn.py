"""Shared by the transaction handlers: reaching the transaction coordinator, Kafka's error mapping,
and the KIP-890 check a transactional produce goes through (`riverlog.broker.coordinators.txn_verification`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.runtime import CoordinatorError
from riverlog.broker.coordinators.transactions import ShardOperation, TxnRuntime
from riverlog.broker.coordinators.txn_verification import for_producer
from riverlog.broker.network.context import RequestContext
from riverlog.broker.replication.replica_manager import Partition
from riverlog.coordinator.txn import TxnResult
from riverlog.protocol.errors import CorruptRecordError
from riverlog.protocol.records import BatchHeader, parse_header

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


def unchecked_transactional_batch(
    services: BrokerServices,
    transactional_id: str | None,
    part: Partition,
    records: bytes | memoryview,
    adds: bool,
) -> BatchHeader | None:
    """The header of a transactional batch that needs the KIP-890 check before it is appended, or
    None: not transactional, checking switched off (`transaction.partition.verification.enable`,
    transactions V1 only: V2 clients rely on the leader's add), or the producer is already in a
    transaction on this partition with this epoch (checked when that transaction began here)."""
    if transactional_id is None:
        return None
    if not adds and not services.config.get_bool("transaction.partition.verification.enable"):
        return None
    try:
        header = parse_header(records)
    except CorruptRecordError:
        return None  # the append refuses it with Kafka's error
    if not header.is_transactional or header.is_control:
        return None
    entry = services.fetches.producer_entry(part, header.producer_id)
    if (
        entry is not None
        and entry.producer_epoch == header.producer_epoch
        and entry.current_txn_first_offset is not None
    ):
        return None
    return header


async def check_transactional_produce(
    services: BrokerServices,
    transactional_id: str,
    part: Partition,
    header: BatchHeader,
    adds: bool,
) -> ErrorCode:
    """KIP-890: verify (V1) or add (V2, `adds`) the partition in the producer's transaction; the
    Produce error when that fails (INVALID_TXN_STATE for a partition never added)."""
    code = await services.txn_verifier.check(
        transactional_id,
        header.producer_id,
        header.producer_epoch,
        (part.topic, part.index),
        add=adds,
    )
    return for_producer(code)


async def verify_transactional_produce(
    services: BrokerServices,
    transactional_id: str | None,
    part: Partition,
    records: bytes | memoryview,
    adds: bool = False,
) -> ErrorCode:
    """Both steps of Produce's KIP-890 check in one call (tests and tools)."""
    header = unchecked_transactional_batch(services, transactional_id, part, records, adds)
    if header is None or transactional_id is None:
        return ErrorCode.none
    return await check_transactional_produce(services, transactional_id, part, header, adds)
