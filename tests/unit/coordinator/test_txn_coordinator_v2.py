"""Transactions V2 (KIP-890 part 2) in the coordinator: an epoch bump per EndTxn, retries, exhaustion."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode
from test_txn_coordinator import TIMEOUT, Coordinator

from riverlog.coordinator.txn import (
    TransactionLogRecord,
    TransactionMetadata,
    TxnResult,
    TxnState,
    decode_record,
    encode_record,
)
from riverlog.coordinator.txn.state import MAX_EPOCH, TV_2

S = TxnState


class V2(Coordinator):
    """The Coordinator harness with V2 requests: implicit adds and EndTxn v5."""

    def add_v2(self, txn: str, pid: int, epoch: int, *parts: tuple[str, int]) -> ErrorCode:
        return self.apply(self.shard.add_partitions(txn, pid, epoch, parts, self.now, TV_2)).error

    def end_v2(self, txn: str, pid: int, epoch: int, commit: bool) -> TxnResult:
        return self.apply(
            self.shard.end_txn(txn, pid, epoch, commit, self.now, TV_2, lambda: next(self.ids))
        )


def answered(result: TxnResult) -> tuple[ErrorCode, int, int]:
    meta = result.metadata
    return (
        result.error,
        -1 if meta is None else meta.producer_id,
        -1 if meta is None else (meta.producer_epoch),
    )


def test_every_end_bumps_the_epoch_and_the_markers_carry_it() -> None:
    c = V2()
    c.init("t")
    for epoch, commit in ((0, True), (1, False), (2, True)):
        assert c.add_v2("t", 1000, epoch, ("a", 0)) is ErrorCode.none
        assert c.state("t").client_transaction_version == TV_2
        result = c.end_v2("t", 1000, epoch, commit)
        assert result.error is ErrorCode.none
        assert c.markers[-1] == ("t", 1000, epoch + 1, commit, frozenset({("a", 0)}))
        done = c.state("t")
        assert (done.state, done.producer_epoch) == (
            S.COMPLETE_COMMIT if commit else S.COMPLETE_ABORT,
            epoch + 1,
        )
    assert c.add_v2("t", 1000, 2, ("a", 0)) is ErrorCode.producer_fenced  # the old epoch is gone


def test_a_retry_carries_the_epoch_before_the_bump() -> None:
    c = V2()
    c.init("t")
    c.add_v2("t", 1000, 0, ("a", 0))
    assert answered(c.end_v2("t", 1000, 0, True)) == (ErrorCode.none, 1000, 1)
    assert answered(c.end_v2("t", 1000, 0, True)) == (ErrorCode.none, 1000, 1)  # retry
    assert c.end_v2("t", 1000, 0, False).error is ErrorCode.invalid_txn_state
    assert c.end_v2("t", 999, 0, True).error is ErrorCode.invalid_producer_id_mapping
    assert len(c.markers) == 1  # retries write nothing


def test_a_retry_while_markers_are_written_is_concurrent() -> None:
    c = V2()
    c.init("t")
    c.add_v2("t", 1000, 0, ("a", 0))
    prepared = c.shard.end_txn("t", 1000, 0, True, c.now, TV_2)
    for record in prepared.records:  # Prepare written; markers not yet
        c.shard.replay(record)
    assert c.shard.end_txn("t", 1000, 0, True, c.now, TV_2).error is (
        ErrorCode.concurrent_transactions
    )
    assert c.shard.add_partitions("t", 1000, 1, [("a", 0)], c.now, TV_2).error is (
        ErrorCode.concurrent_transactions
    )


def test_an_empty_transaction_ends_with_a_bump() -> None:
    c = V2()
    c.init("t")
    assert answered(c.end_v2("t", 1000, 0, False)) == (ErrorCode.none, 1000, 1)
    assert c.markers[-1][3:] == (False, frozenset())
    assert c.state("t").state is S.COMPLETE_ABORT
    # V1 keeps Kafka's rule: no transaction, no EndTxn.
    c.init("u")
    assert c.end("u", 1001, 0, True) is ErrorCode.invalid_txn_state


def test_exhausted_epoch_moves_to_a_new_producer_id_at_completion() -> None:
    c = V2()
    c.init("t")
    c.shard.replay(
        TransactionLogRecord(
            "t",
            TransactionMetadata(
                "t",
                1000,
                MAX_EPOCH,
                TIMEOUT,
                S.ONGOING,
                frozenset({("a", 0)}),
                1,
                1,
                client_transaction_version=TV_2,
            ),
        )
    )
    result = c.end_v2("t", 1000, MAX_EPOCH, True)
    assert answered(result)[0] is ErrorCode.none
    # The markers go out under the old id at Short.MaxValue; the id moves on once they are written.
    assert c.markers[-1][1:3] == (1000, MAX_EPOCH + 1)
    meta = c.state("t")
    assert (meta.producer_id, meta.producer_epoch, meta.previous_producer_id) == (1001, 0, 1000)
    assert meta.next_producer_id == -1
    retried = c.end_v2("t", 1000, MAX_EPOCH, True)  # the answer was lost
    assert answered(retried) == (ErrorCode.none, 1001, 0)
    assert c.add_v2("t", 1001, 0, ("a", 0)) is ErrorCode.none


def test_a_timed_out_v2_transaction_is_recoverable_by_its_abort() -> None:
    c = V2()
    c.init("t")
    c.add_v2("t", 1000, 0, ("a", 0))
    c.now += TIMEOUT + 1
    c.apply(c.shard.abort_expired("t", c.now))
    assert c.state("t").producer_epoch == 1  # fenced by the timeout's bump
    # The client's own abort reads as a retry of that bump: it goes on at epoch 1.
    assert answered(c.end_v2("t", 1000, 0, False)) == (ErrorCode.none, 1000, 1)
    assert c.end_v2("t", 1000, 0, True).error is ErrorCode.invalid_txn_state


def test_v2_fields_are_written_as_transaction_log_value_v1_tags() -> None:
    meta = TransactionMetadata(
        "tx",
        7,
        3,
        60000,
        S.COMPLETE_COMMIT,
        frozenset(),
        5,
        9,
        previous_producer_id=6,
        next_producer_id=-1,
        client_transaction_version=2,
    )
    _, value = encode_record(TransactionLogRecord("tx", meta))
    assert value is not None
    assert value == (
        struct.pack(">hqhib", 1, 7, 3, 60000, 4)
        + b"\x01"  # compact array: zero partitions
        + struct.pack(">qq", 9, 5)
        + b"\x02"  # two tagged fields
        + b"\x00\x08"
        + struct.pack(">q", 6)  # tag 0 PreviousProducerId
        + b"\x02\x02"
        + struct.pack(">h", 2)  # tag 2 ClientTransactionVersion
    )
    plain = TransactionMetadata("tx", 7, 3, 60000, S.EMPTY)
    assert encode_record(TransactionLogRecord("tx", plain))[1][:2] == b"\x00\x00"  # type: ignore[index]


@given(
    st.integers(-1, 2**62),
    st.integers(-1, 2**62),
    st.integers(0, 2),
    st.frozensets(st.tuples(st.text(min_size=1, max_size=5), st.integers(0, 1000)), max_size=4),
    st.sampled_from(list(TxnState)),
)
def test_v1_values_round_trip(
    previous: int, following: int, tv: int, parts: frozenset[tuple[str, int]], state: TxnState
) -> None:
    meta = TransactionMetadata(
        "tx",
        7,
        3,
        60000,
        state,
        parts,
        5,
        9,
        previous_producer_id=previous,
        next_producer_id=following,
        client_transaction_version=tv,
    )
    record = TransactionLogRecord("tx", meta)
    assert decode_record(*encode_record(record)) == record
