"""The transaction coordinator for one `__transaction_state` partition (pure: no I/O, no clock).

Format: `transactions` maps each transactional id this partition owns to its TransactionMetadata. Every
operation returns a TxnResult: the error to answer, the records to append (the runtime appends them
and replays them here before answering) and, when a transaction ends, the MarkerJob the runtime must
carry out (a COMMIT/ABORT control batch on every partition) before calling `complete`.

Invariants (Kafka's TransactionCoordinator):
- Only the current (producer id, epoch) of a transactional id may add partitions or end its
  transaction: an unknown id or other producer id is INVALID_PRODUCER_ID_MAPPING, another epoch
  PRODUCER_FENCED (handlers map it to INVALID_PRODUCER_EPOCH for clients too old to know it).
- InitProducerId bumps the epoch, fencing every older producer with that id; on an ongoing
  transaction it first aborts it with a bumped epoch and answers CONCURRENT_TRANSACTIONS (the client
  retries once the abort completed). Near epoch exhaustion a new producer id takes over.
- While markers are being written (Prepare*) every other operation gets CONCURRENT_TRANSACTIONS.
- A transaction open longer than its timeout is aborted with a bumped epoch (`abort_expired`).
- An id idle (Empty/Complete*) for `transactional.id.expiration.ms` is deleted with a tombstone.
- AddPartitionsToTxn verify_only (KIP-890) only reads: INVALID_TXN_STATE for a partition not added.
- Transactions V2 (KIP-890 part 2): EndTxn v5 bumps the epoch in its Prepare record (markers carry
  the bumped epoch, so a zombie write of the old epoch is fenced on every partition) and answers
  the new producer id and epoch; the same EndTxn sent again with the pre-bump epoch is a retry.
- Nothing changes here except by `replay`, so log order is state order.

Crash behaviour: rebuilt by replaying the partition; transactions found in Prepare* (the broker died
between writing PrepareX and CompleteX) are returned by `pending_markers` for the runtime to finish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kio.schema.errors import ErrorCode

from riverlog.coordinator.txn.records import TransactionLogRecord
from riverlog.coordinator.txn.state import (
    MAX_EPOCH,
    NO_PRODUCER_ID,
    TV_2,
    TransactionMetadata,
    TxnState,
)


@dataclass(frozen=True, slots=True)
class MarkerJob:
    """Write a COMMIT (or ABORT) marker with this producer id/epoch on each partition, then complete."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    commit: bool
    partitions: frozenset[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class TxnResult:
    error: ErrorCode = ErrorCode.none
    records: list[TransactionLogRecord] = field(default_factory=list)
    metadata: TransactionMetadata | None = None  # what the answer reports (producer id, epoch)
    markers: MarkerJob | None = None


def _record(meta: TransactionMetadata) -> TransactionLogRecord:
    return TransactionLogRecord(meta.transactional_id, meta)


def _failed(error: ErrorCode) -> TxnResult:
    return TxnResult(error=error)


class TransactionCoordinatorShard:
    def __init__(self, max_timeout_ms: int) -> None:
        self.max_timeout_ms = max_timeout_ms
        self.transactions: dict[str, TransactionMetadata] = {}

    # --- replay -------------------------------------------------------------------------------------

    def replay(self, record: TransactionLogRecord) -> None:
        if record.value is None:
            self.transactions.pop(record.transactional_id, None)
        else:
            self.transactions[record.transactional_id] = record.value

    # --- InitProducerId -----------------------------------------------------------------------------

    def init_producer_id(
        self,
        transactional_id: str,
        timeout_ms: int,
        expected: tuple[int, int],
        now_ms: int,
        new_producer_id: Callable[[], int],
    ) -> TxnResult:
        """Kafka's handleInitProducerId for a transactional id; `expected` is (id, epoch) or (-1, -1)."""
        if not 0 < timeout_ms <= self.max_timeout_ms:
            return _failed(ErrorCode.invalid_transaction_timeout)
        meta = self.transactions.get(transactional_id)
        if meta is None:
            fresh = TransactionMetadata(transactional_id, new_producer_id(), -1, timeout_ms)
            meta = fresh.transition(TxnState.EMPTY, now_ms, producer_epoch=0)
            return TxnResult(records=[_record(meta)], metadata=meta)
        if expected[0] != NO_PRODUCER_ID and expected != (meta.producer_id, meta.producer_epoch):
            return _failed(ErrorCode.producer_fenced)
        if meta.state.is_prepare or meta.state is TxnState.PREPARE_EPOCH_FENCE:
            return _failed(ErrorCode.concurrent_transactions)
        if meta.state is TxnState.ONGOING:
            aborting = self._begin_abort(meta, now_ms)
            return TxnResult(
                ErrorCode.concurrent_transactions, aborting.records, None, aborting.markers
            )
        if meta.producer_epoch >= MAX_EPOCH:
            bumped = meta.transition(
                TxnState.EMPTY,
                now_ms,
                producer_id=new_producer_id(),
                producer_epoch=0,
                timeout_ms=timeout_ms,
            )
        else:
            bumped = meta.transition(
                TxnState.EMPTY,
                now_ms,
                producer_epoch=meta.producer_epoch + 1,
                timeout_ms=timeout_ms,
            )
        return TxnResult(records=[_record(bumped)], metadata=bumped)

    # --- AddPartitionsToTxn / AddOffsetsToTxn --------------------------------------------------------

    def check_producer(self, transactional_id: str, producer_id: int, epoch: int) -> ErrorCode:
        """Whether (producer_id, epoch) is the transactional id's current producer."""
        meta = self.transactions.get(transactional_id)
        if meta is None or meta.producer_id != producer_id:
            return ErrorCode.invalid_producer_id_mapping
        if meta.producer_epoch != epoch:
            return ErrorCode.producer_fenced
        return ErrorCode.none

    def add_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        epoch: int,
        partitions: Iterable[tuple[str, int]],
        now_ms: int,
        client_transaction_version: int = 0,
    ) -> TxnResult:
        """AddPartitionsToTxn, AddOffsetsToTxn, and (transactions V2, `client_transaction_version`
        2) the implicit add a partition leader asks for on a transaction's first produce there."""
        error = self.check_producer(transactional_id, producer_id, epoch)
        if error is not ErrorCode.none:
            return _failed(error)
        meta = self.transactions[transactional_id]
        if meta.state.is_prepare or meta.state is TxnState.PREPARE_EPOCH_FENCE:
            return _failed(ErrorCode.concurrent_transactions)
        added = frozenset(partitions)
        if meta.state is TxnState.ONGOING and added <= meta.partitions:
            return TxnResult(metadata=meta)  # nothing new: no write (Kafka's shortcut)
        ongoing = meta.transition(
            TxnState.ONGOING,
            now_ms,
            partitions=meta.partitions | added,
            client_transaction_version=client_transaction_version,
        )
        return TxnResult(records=[_record(ongoing)], metadata=ongoing)

    def verify_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        epoch: int,
        partitions: Iterable[tuple[str, int]],
    ) -> dict[tuple[str, int], ErrorCode]:
        """AddPartitionsToTxn v4+ verify_only (KIP-890): is each partition in the ongoing
        transaction? INVALID_TXN_STATE where not; nothing is written."""
        wanted = list(partitions)
        error = self.check_producer(transactional_id, producer_id, epoch)
        if error is ErrorCode.none:
            meta = self.transactions[transactional_id]
            if meta.state.is_prepare or meta.state is TxnState.PREPARE_EPOCH_FENCE:
                error = ErrorCode.concurrent_transactions
        if error is not ErrorCode.none:
            return dict.fromkeys(wanted, error)
        added = self.transactions[transactional_id].partitions
        return {tp: ErrorCode.none if tp in added else ErrorCode.invalid_txn_state for tp in wanted}

    # --- EndTxn, expiry and completion ---------------------------------------------------------------

    def end_txn(
        self,
        transactional_id: str,
        producer_id: int,
        epoch: int,
        commit: bool,
        now_ms: int,
        client_transaction_version: int = 0,
        new_producer_id: Callable[[], int] | None = None,
    ) -> TxnResult:
        """Kafka's endTransaction. With transactions V2 (`client_transaction_version` >= 2, EndTxn
        v5) the prepare record bumps the epoch, and a retry is recognised by the request carrying the
        epoch before that bump (or, after an exhausted epoch, the previous producer id)."""
        meta = self.transactions.get(transactional_id)
        if meta is None:
            return _failed(ErrorCode.invalid_producer_id_mapping)
        retry = _retried_v2_end(meta, producer_id, epoch)
        if meta.producer_id != producer_id and not retry:
            return _failed(ErrorCode.invalid_producer_id_mapping)
        if not _valid_end_epoch(meta, epoch, retry):
            return _failed(ErrorCode.producer_fenced)
        state = meta.state
        tv2 = client_transaction_version >= TV_2
        done = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        preparing = TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT
        if state is TxnState.ONGOING or (tv2 and state.is_complete and not retry):
            # V2 clients add partitions implicitly, so they may end a transaction the coordinator
            # never saw start (every produce failed): it ends empty, with the epoch bump.
            return self._prepare_end(
                meta, preparing, now_ms, client_transaction_version, new_producer_id
            )
        if state is done:
            return TxnResult(metadata=meta)  # a retry of a completed EndTxn
        if state is preparing:
            return _failed(ErrorCode.concurrent_transactions)
        return _failed(ErrorCode.invalid_txn_state)

    def _prepare_end(
        self,
        meta: TransactionMetadata,
        target: TxnState,
        now_ms: int,
        client_transaction_version: int,
        new_producer_id: Callable[[], int] | None,
    ) -> TxnResult:
        if meta.state is not TxnState.ONGOING:  # V2's empty transaction: it starts as it ends
            meta = meta.transition(TxnState.ONGOING, now_ms)
        if client_transaction_version < TV_2:
            prepared = meta.transition(
                target, now_ms, client_transaction_version=client_transaction_version
            )
        else:
            next_id = NO_PRODUCER_ID
            if meta.producer_epoch >= MAX_EPOCH:
                if new_producer_id is None:
                    return _failed(ErrorCode.coordinator_not_available)
                next_id = new_producer_id()
            prepared = meta.transition(
                target,
                now_ms,
                producer_epoch=meta.producer_epoch + 1,
                client_transaction_version=client_transaction_version,
                next_producer_id=next_id,
            )
        return TxnResult(records=[_record(prepared)], metadata=prepared, markers=_job(prepared))

    def _begin_abort(self, meta: TransactionMetadata, now_ms: int) -> TxnResult:
        """Abort an ongoing transaction with a bumped epoch, fencing its producer (Kafka's
        PrepareEpochFence then abort, written as one PrepareAbort record)."""
        epoch = meta.producer_epoch + 1 if meta.producer_epoch < MAX_EPOCH else meta.producer_epoch
        prepared = meta.transition(TxnState.PREPARE_ABORT, now_ms, producer_epoch=epoch)
        return TxnResult(records=[_record(prepared)], metadata=prepared, markers=_job(prepared))

    def expired(self, now_ms: int) -> list[str]:
        """Transactional ids whose ongoing transaction outlived its timeout."""
        return [txn for txn, meta in self.transactions.items() if meta.expired(now_ms)]

    def abort_expired(self, transactional_id: str, now_ms: int) -> TxnResult:
        meta = self.transactions.get(transactional_id)
        if meta is None or not meta.expired(now_ms):
            return TxnResult()
        return self._begin_abort(meta, now_ms)

    def expired_ids(self, now_ms: int, expiration_ms: int) -> list[str]:
        """Ids with no transaction in flight and no update for `transactional.id.expiration.ms`."""
        return [
            txn for txn, meta in self.transactions.items() if _idle(meta, now_ms, expiration_ms)
        ]

    def expire_id(self, transactional_id: str, now_ms: int, expiration_ms: int) -> TxnResult:
        """A tombstone for an expired id (Kafka: Dead, then the record is deleted)."""
        meta = self.transactions.get(transactional_id)
        if meta is None or not _idle(meta, now_ms, expiration_ms):
            return TxnResult()
        meta.transition(TxnState.DEAD, now_ms)  # raises if Kafka forbids it
        return TxnResult(records=[TransactionLogRecord(transactional_id, None)])

    def complete(self, transactional_id: str, now_ms: int) -> TxnResult:
        """Every marker is written: PrepareCommit -> CompleteCommit, PrepareAbort -> CompleteAbort."""
        meta = self.transactions.get(transactional_id)
        if meta is None or not meta.state.is_prepare:
            return TxnResult()
        done = (
            TxnState.COMPLETE_COMMIT
            if meta.state is TxnState.PREPARE_COMMIT
            else TxnState.COMPLETE_ABORT
        )
        if meta.next_producer_id != NO_PRODUCER_ID:  # V2 epoch exhausted: the new id takes over
            completed = meta.transition(
                done,
                now_ms,
                producer_id=meta.next_producer_id,
                producer_epoch=0,
                next_producer_id=NO_PRODUCER_ID,
                previous_producer_id=meta.producer_id,
            )
        else:
            completed = meta.transition(done, now_ms)
        return TxnResult(records=[_record(completed)], metadata=completed)

    def pending_markers(self) -> list[MarkerJob]:
        """Transactions whose markers may not all be written yet (found in Prepare* on load)."""
        return [_job(meta) for meta in self.transactions.values() if meta.state.is_prepare]


def _retried_v2_end(meta: TransactionMetadata, producer_id: int, epoch: int) -> bool:
    """A V2 EndTxn sent again after its epoch bump was written (the answer was lost): the stored
    epoch is the request's plus one, or the exhausted epoch moved the id on to a new producer id."""
    if not meta.bumps_per_transaction or not (meta.state.is_prepare or meta.state.is_complete):
        return False
    if meta.producer_id == producer_id and meta.producer_epoch == epoch + 1:
        return True
    return (
        meta.state.is_complete
        and meta.previous_producer_id == producer_id
        and epoch == MAX_EPOCH
        and meta.producer_epoch == 0
    )


def _valid_end_epoch(meta: TransactionMetadata, epoch: int, retry: bool) -> bool:
    """The request's epoch must be the current one, or (V2) the one before the bump it retries."""
    return epoch == meta.producer_epoch or retry


def _idle(meta: TransactionMetadata, now_ms: int, expiration_ms: int) -> bool:
    return meta.state.is_complete and meta.last_update_ms + expiration_ms <= now_ms


def _job(meta: TransactionMetadata) -> MarkerJob:
    return MarkerJob(
        meta.transactional_id,
        meta.producer_id,
        meta.producer_epoch,
        meta.state is TxnState.PREPARE_COMMIT,
        meta.partitions,
    )
