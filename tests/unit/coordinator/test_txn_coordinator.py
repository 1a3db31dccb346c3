"""The transaction coordinator state machine and its `__transaction_state` records."""

from __future__ import annotations

import itertools
import struct

from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from riverlog.coordinator.txn import (
    TransactionCoordinatorShard,
    TransactionLogRecord,
    TransactionMetadata,
    TxnResult,
    TxnState,
    decode_record,
    encode_record,
)
from riverlog.coordinator.txn.state import MAX_EPOCH

MAX_TIMEOUT = 900_000
TIMEOUT = 60_000
S = TxnState


class Coordinator:
    """A shard plus what the runtime does: replay every record, complete every marker job."""

    def __init__(self) -> None:
        self.shard = TransactionCoordinatorShard(MAX_TIMEOUT)
        self.ids = itertools.count(1000)
        self.now = 1_000_000
        self.log: list[TransactionLogRecord] = []
        self.markers: list[tuple[str, int, int, bool, frozenset[tuple[str, int]]]] = []

    def apply(self, result: TxnResult) -> TxnResult:
        for record in result.records:
            self.log.append(decode_record(*encode_record(record)))  # through the wire format
            self.shard.replay(self.log[-1])
        job = result.markers
        if job is not None:
            self.markers.append(
                (
                    job.transactional_id,
                    job.producer_id,
                    job.producer_epoch,
                    job.commit,
                    job.partitions,
                )
            )
            self.apply(self.shard.complete(job.transactional_id, self.now))
        return result

    def init(self, txn: str, expected: tuple[int, int] = (-1, -1)) -> TxnResult:
        return self.apply(
            self.shard.init_producer_id(txn, TIMEOUT, expected, self.now, lambda: next(self.ids))
        )

    def add(self, txn: str, pid: int, epoch: int, *parts: tuple[str, int]) -> ErrorCode:
        return self.apply(self.shard.add_partitions(txn, pid, epoch, parts, self.now)).error

    def end(self, txn: str, pid: int, epoch: int, commit: bool) -> ErrorCode:
        return self.apply(self.shard.end_txn(txn, pid, epoch, commit, self.now)).error

    def state(self, txn: str) -> TransactionMetadata:
        return self.shard.transactions[txn]


def test_init_then_commit_writes_markers_and_completes() -> None:
    c = Coordinator()
    meta = c.init("t").metadata
    assert meta is not None and (meta.producer_id, meta.producer_epoch) == (1000, 0)
    assert c.state("t").state is S.EMPTY
    assert c.add("t", 1000, 0, ("a", 0), ("b", 1)) is ErrorCode.none
    assert c.state("t").state is S.ONGOING
    assert c.state("t").start_ms == c.now
    assert c.add("t", 1000, 0, ("a", 0)) is ErrorCode.none
    assert len(c.log) == 2  # adding a partition already in the transaction writes nothing
    assert c.end("t", 1000, 0, commit=True) is ErrorCode.none
    assert c.markers == [("t", 1000, 0, True, frozenset({("a", 0), ("b", 1)}))]
    assert [r.value.state for r in c.log if r.value] == [
        S.EMPTY,
        S.ONGOING,
        S.PREPARE_COMMIT,
        S.COMPLETE_COMMIT,
    ]
    assert c.state("t").partitions == frozenset()
    assert c.end("t", 1000, 0, commit=True) is ErrorCode.none  # a retry
    assert c.end("t", 1000, 0, commit=False) is ErrorCode.invalid_txn_state
    assert len(c.markers) == 1


def test_abort_and_next_transaction() -> None:
    c = Coordinator()
    c.init("t")
    c.add("t", 1000, 0, ("a", 0))
    assert c.end("t", 1000, 0, commit=False) is ErrorCode.none
    assert c.markers[-1][3] is False
    assert c.state("t").state is S.COMPLETE_ABORT
    assert c.add("t", 1000, 0, ("a", 1)) is ErrorCode.none
    assert c.state("t").partitions == frozenset({("a", 1)})


def test_end_without_transaction_is_invalid_state() -> None:
    c = Coordinator()
    c.init("t")
    assert c.end("t", 1000, 0, commit=True) is ErrorCode.invalid_txn_state


def test_second_init_fences_the_first_producer() -> None:
    c = Coordinator()
    c.init("t")
    again = c.init("t").metadata
    assert again is not None and (again.producer_id, again.producer_epoch) == (1000, 1)
    assert c.add("t", 1000, 0, ("a", 0)) is ErrorCode.producer_fenced
    assert c.end("t", 1000, 0, commit=True) is ErrorCode.producer_fenced
    assert c.add("t", 999, 1, ("a", 0)) is ErrorCode.invalid_producer_id_mapping
    assert c.add("unknown", 1000, 1, ("a", 0)) is ErrorCode.invalid_producer_id_mapping


def test_init_on_ongoing_transaction_aborts_it_with_a_bumped_epoch() -> None:
    c = Coordinator()
    c.init("t")
    c.add("t", 1000, 0, ("a", 0))
    first = c.init("t")
    assert first.error is ErrorCode.concurrent_transactions
    assert c.markers == [("t", 1000, 1, False, frozenset({("a", 0)}))]  # abort fences epoch 0
    retried = c.init("t").metadata
    assert retried is not None and retried.producer_epoch == 2
    assert c.state("t").state is S.EMPTY


def test_prepare_state_refuses_everything_until_complete() -> None:
    c = Coordinator()
    c.init("t")
    c.add("t", 1000, 0, ("a", 0))
    prepared = c.shard.end_txn("t", 1000, 0, True, c.now)
    for record in prepared.records:
        c.shard.replay(record)  # markers not written yet
    assert c.shard.pending_markers() == [prepared.markers]
    assert c.add("t", 1000, 0, ("a", 1)) is ErrorCode.concurrent_transactions
    assert c.end("t", 1000, 0, commit=True) is ErrorCode.concurrent_transactions
    assert c.end("t", 1000, 0, commit=False) is ErrorCode.invalid_txn_state
    assert c.init("t").error is ErrorCode.concurrent_transactions
    c.apply(c.shard.complete("t", c.now))
    assert c.state("t").state is S.COMPLETE_COMMIT
    assert c.shard.pending_markers() == []


def test_expired_transaction_is_aborted_and_its_producer_fenced() -> None:
    c = Coordinator()
    c.init("t")
    c.add("t", 1000, 0, ("a", 0))
    c.now += TIMEOUT
    assert c.shard.expired(c.now) == []
    c.now += 1
    assert c.shard.expired(c.now) == ["t"]
    c.apply(c.shard.abort_expired("t", c.now))
    assert c.markers == [("t", 1000, 1, False, frozenset({("a", 0)}))]
    assert c.state("t").state is S.COMPLETE_ABORT
    assert c.end("t", 1000, 0, commit=True) is ErrorCode.producer_fenced


def test_timeout_limits() -> None:
    c = Coordinator()
    too_long = c.shard.init_producer_id("t", MAX_TIMEOUT + 1, (-1, -1), c.now, lambda: 1)
    assert too_long.error is ErrorCode.invalid_transaction_timeout
    assert c.shard.init_producer_id("t", 0, (-1, -1), c.now, lambda: 1).error is (
        ErrorCode.invalid_transaction_timeout
    )


def test_kip360_expected_producer_must_match() -> None:
    c = Coordinator()
    c.init("t")
    assert c.init("t", (1000, 5)).error is ErrorCode.producer_fenced
    bumped = c.init("t", (1000, 0)).metadata
    assert bumped is not None and bumped.producer_epoch == 1


def test_epoch_exhaustion_moves_to_a_new_producer_id() -> None:
    c = Coordinator()
    c.init("t")
    meta = c.state("t")
    c.shard.replay(
        TransactionLogRecord("t", TransactionMetadata("t", 1000, MAX_EPOCH, TIMEOUT, S.EMPTY))
    )
    fresh = c.init("t").metadata
    assert fresh is not None and (fresh.producer_id, fresh.producer_epoch) == (1001, 0)
    assert meta.producer_id == 1000


def test_replay_rebuilds_the_same_state() -> None:
    c = Coordinator()
    c.init("t")
    c.add("t", 1000, 0, ("a", 0))
    c.init("u")
    c.add("u", 1001, 0, ("b", 2))
    c.end("u", 1001, 0, commit=False)
    loaded = TransactionCoordinatorShard(MAX_TIMEOUT)
    for record in c.log:
        loaded.replay(record)
    assert loaded.transactions == c.shard.transactions
    loaded.replay(TransactionLogRecord("u", None))
    assert set(loaded.transactions) == {"t"}


def test_record_bytes_follow_kafkas_transaction_log_v0() -> None:
    meta = TransactionMetadata("tx", 7, 3, 60000, S.ONGOING, frozenset({("a", 1), ("a", 0)}), 5, 9)
    key, value = encode_record(TransactionLogRecord("tx", meta))
    assert key == struct.pack(">hh", 0, 2) + b"tx"
    assert value == (
        struct.pack(">hqhib", 0, 7, 3, 60000, 1)
        + struct.pack(">i", 1)
        + struct.pack(">h", 1)
        + b"a"
        + struct.pack(">iii", 2, 0, 1)
        + struct.pack(">qq", 9, 5)
    )
    assert encode_record(TransactionLogRecord("tx", None))[1] is None


partitions = st.frozensets(st.tuples(st.text(min_size=1, max_size=5), st.integers(0, 1000)))


@given(
    st.text(max_size=20),
    st.integers(0, 2**62),
    st.integers(0, MAX_EPOCH),
    st.integers(1, MAX_TIMEOUT),
    st.sampled_from(list(TxnState)),
    partitions,
    st.integers(-1, 2**50),
    st.integers(-1, 2**50),
)
def test_records_round_trip(
    txn: str,
    pid: int,
    epoch: int,
    timeout: int,
    state: TxnState,
    parts: frozenset[tuple[str, int]],
    start: int,
    updated: int,
) -> None:
    record = TransactionLogRecord(
        txn, TransactionMetadata(txn, pid, epoch, timeout, state, parts, start, updated)
    )
    assert decode_record(*encode_record(record)) == record
