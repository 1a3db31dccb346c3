"""Idempotent/transactional producer rules for one append (Kafka's ProducerAppendInfo).

A ProducerStateEntry is what the partition remembers about one producer id: its epoch, the
metadata of its last 5 batches (sequence range, offsets, timestamp), the coordinator epoch of
its last transaction marker and the first offset of its open transaction, if any.

ProducerAppendInfo validates the batches of one append against a copy of that entry and
accumulates the new state; nothing changes in the partition until the append has been written
and the manager's `update` is called. The rules, as Kafka's:
- epoch: a batch or marker with an epoch older than the entry's is fenced
  (InvalidProducerEpochError; only logged for replication).
- sequence (client appends only): with a new epoch the first sequence must be 0 unless the
  producer is unknown (no epoch yet); with the same epoch it must follow the last sequence
  (wrapping after int32 max), unless the entry has no epoch (state lost to retention or
  DeleteRecords), which accepts any sequence (OutOfOrderSequenceError otherwise).
- a non-transactional batch while a transaction is open is InvalidTxnStateError; a
  transactional batch with no open transaction starts one at its first offset.
- a marker with an older coordinator epoch is TransactionCoordinatorFencedError; a marker
  completes the open transaction (a CompletedTxn), or is a no-op for an empty transaction.
Duplicate detection (a retry of one of the last 5 batches) is the log's job via
`ProducerStateEntry.find_duplicate`, before this class runs.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from typing import NamedTuple

from riverlog.storage.errors import (
    InvalidProducerEpochError,
    InvalidTxnStateError,
    OutOfOrderSequenceError,
    TransactionCoordinatorFencedError,
)

log = logging.getLogger(__name__)

NUM_BATCHES_TO_RETAIN = 5
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
_INT32_MAX = 2**31 - 1


class AppendOrigin(enum.Enum):
    """Who is appending: decides how much is validated (Kafka's AppendOrigin)."""

    CLIENT = "client"  # produce requests: full validation
    COORDINATOR = "coordinator"  # group/txn coordinator writes and markers: no sequence checks
    REPLICATION = "replication"  # follower fetches: trusted, fencing only logged


def decrement_sequence(sequence: int, decrement: int) -> int:
    """`sequence - decrement`, wrapping below 0 to int32 max (Kafka's rule)."""
    if sequence < decrement:
        return _INT32_MAX - (decrement - sequence) + 1
    return sequence - decrement


def increment_sequence(sequence: int, increment: int) -> int:
    """`sequence + increment`, wrapping past int32 max to 0 (Kafka's rule)."""
    if sequence > _INT32_MAX - increment:
        return increment - (_INT32_MAX - sequence) - 1
    return sequence + increment


def in_sequence(last_seq: int, next_seq: int) -> bool:
    """Whether `next_seq` directly follows `last_seq` (0 follows int32 max)."""
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == _INT32_MAX)


class BatchMetadata(NamedTuple):
    """What is kept about one of a producer's recent batches."""

    first_seq: int
    last_seq: int
    last_offset: int
    offset_delta: int
    timestamp: int

    @property
    def first_offset(self) -> int:
        return self.last_offset - self.offset_delta


class CompletedTxn(NamedTuple):
    """A transaction ended by a marker: its first data offset and the marker's offset."""

    producer_id: int
    first_offset: int
    last_offset: int
    is_aborted: bool


class ProducerStateEntry:
    """A producer id's epoch, last batches and open transaction."""

    __slots__ = (
        "batches",
        "coordinator_epoch",
        "current_txn_first_offset",
        "last_timestamp",
        "producer_epoch",
        "producer_id",
    )

    def __init__(
        self,
        producer_id: int,
        producer_epoch: int = NO_PRODUCER_EPOCH,
        coordinator_epoch: int = -1,
        last_timestamp: int = -1,
        current_txn_first_offset: int | None = None,
    ) -> None:
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch
        self.coordinator_epoch = coordinator_epoch
        self.last_timestamp = last_timestamp
        self.current_txn_first_offset = current_txn_first_offset
        self.batches: deque[BatchMetadata] = deque(maxlen=NUM_BATCHES_TO_RETAIN)

    def without_batches(self) -> ProducerStateEntry:
        """A copy with the same epochs and transaction but no batch metadata."""
        return ProducerStateEntry(
            self.producer_id,
            self.producer_epoch,
            self.coordinator_epoch,
            self.last_timestamp,
            self.current_txn_first_offset,
        )

    @property
    def is_empty(self) -> bool:
        return not self.batches

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    @property
    def first_seq(self) -> int:
        return self.batches[0].first_seq if self.batches else NO_SEQUENCE

    @property
    def last_data_offset(self) -> int:
        return self.batches[-1].last_offset if self.batches else -1

    def maybe_update_producer_epoch(self, epoch: int) -> None:
        """A new epoch forgets the previous epoch's batches."""
        if self.producer_epoch != epoch:
            self.batches.clear()
            self.producer_epoch = epoch

    def add_batch(self, epoch: int, last_seq: int, last_offset: int, delta: int, ts: int) -> None:
        if self.producer_epoch != epoch:
            self.maybe_update_producer_epoch(epoch)
        first_seq = decrement_sequence(last_seq, delta) if last_seq >= 0 else last_seq
        self.batches.append(BatchMetadata(first_seq, last_seq, last_offset, delta, ts))
        self.last_timestamp = ts

    def merge(self, other: ProducerStateEntry) -> None:
        """Apply an updated entry from a ProducerAppendInfo."""
        self.maybe_update_producer_epoch(other.producer_epoch)
        self.batches.extend(other.batches)
        self.coordinator_epoch = other.coordinator_epoch
        self.current_txn_first_offset = other.current_txn_first_offset
        self.last_timestamp = other.last_timestamp

    def find_duplicate(self, epoch: int, first_seq: int, last_seq: int) -> BatchMetadata | None:
        """The retained batch with exactly this epoch and sequence range, if any."""
        if epoch != self.producer_epoch:
            return None
        for batch in self.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        return None

    def __repr__(self) -> str:
        return (
            f"ProducerStateEntry(pid={self.producer_id}, epoch={self.producer_epoch}, "
            f"seq={self.first_seq}..{self.last_seq}, txn={self.current_txn_first_offset})"
        )


class ProducerAppendInfo:
    """Validates one append's batches for one producer and accumulates its new state."""

    def __init__(self, producer_id: int, current: ProducerStateEntry, origin: AppendOrigin) -> None:
        self.producer_id = producer_id
        self.current = current
        self.origin = origin
        self.updated = current.without_batches()
        self.started_txns: list[int] = []  # first offsets of transactions this append opens

    def _check_producer_epoch(self, epoch: int, offset: int) -> None:
        current = self.updated.producer_epoch
        if epoch < current:
            message = (
                f"Epoch of producer {self.producer_id} at offset {offset} is {epoch}, "
                f"which is smaller than the last seen epoch {current}"
            )
            if self.origin is AppendOrigin.REPLICATION:
                log.warning(message)
            else:
                raise InvalidProducerEpochError(message)

    def _check_sequence(self, epoch: int, first_seq: int, offset: int) -> None:
        updated = self.updated
        if epoch != updated.producer_epoch:
            if first_seq != 0 and updated.producer_epoch != NO_PRODUCER_EPOCH:
                raise OutOfOrderSequenceError(
                    f"Invalid sequence number for new epoch of producer {self.producer_id} at "
                    f"offset {offset}: {epoch} (request epoch), {first_seq} (seq. number), "
                    f"{updated.producer_epoch} (current producer epoch)"
                )
            return
        if not updated.is_empty:
            last_seq = updated.last_seq
        elif epoch == self.current.producer_epoch:
            last_seq = self.current.last_seq
        else:
            last_seq = NO_SEQUENCE
        # No epoch means the producer's state was lost (retention, DeleteRecords): accept any.
        if self.current.producer_epoch != NO_PRODUCER_EPOCH and not in_sequence(
            last_seq, first_seq
        ):
            raise OutOfOrderSequenceError(
                f"Out of order sequence number for producer {self.producer_id} at offset "
                f"{offset}: {first_seq} (incoming seq. number), {last_seq} (current end sequence)"
            )

    def append_data_batch(
        self,
        epoch: int,
        first_seq: int,
        last_seq: int,
        timestamp: int,
        first_offset: int,
        last_offset: int,
        is_transactional: bool,
    ) -> None:
        """Validate and record a data batch written at [first_offset, last_offset]."""
        self._check_producer_epoch(epoch, first_offset)
        if self.origin is AppendOrigin.CLIENT:
            self._check_sequence(epoch, first_seq, first_offset)
        updated = self.updated
        updated.add_batch(epoch, last_seq, last_offset, last_offset - first_offset, timestamp)
        if updated.current_txn_first_offset is not None and not is_transactional:
            raise InvalidTxnStateError(
                f"Expected transactional write from producer {self.producer_id} at offset "
                f"{first_offset}"
            )
        if updated.current_txn_first_offset is None and is_transactional:
            updated.current_txn_first_offset = first_offset
            self.started_txns.append(first_offset)

    def append_end_txn_marker(
        self, is_commit: bool, coordinator_epoch: int, epoch: int, offset: int, timestamp: int
    ) -> CompletedTxn | None:
        """Validate and record a COMMIT/ABORT marker at `offset`; the completed transaction."""
        self._check_producer_epoch(epoch, offset)
        updated = self.updated
        if updated.coordinator_epoch > coordinator_epoch:
            message = (
                f"Invalid coordinator epoch for producer {self.producer_id} at offset {offset}: "
                f"{coordinator_epoch} (zombie), {updated.coordinator_epoch} (current)"
            )
            if self.origin is AppendOrigin.REPLICATION:
                log.info(message)
            else:
                raise TransactionCoordinatorFencedError(message)
        completed = None
        first = updated.current_txn_first_offset
        if first is not None:
            completed = CompletedTxn(self.producer_id, first, offset, not is_commit)
        updated.maybe_update_producer_epoch(epoch)
        updated.coordinator_epoch = coordinator_epoch
        updated.current_txn_first_offset = None
        updated.last_timestamp = timestamp
        return completed
