"""Producer state: Kafka's idempotence/transaction rules, LSO bookkeeping and snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from riverlog.storage.errors import (
    InvalidProducerEpochError,
    InvalidTxnStateError,
    OutOfOrderSequenceError,
    TransactionCoordinatorFencedError,
)
from riverlog.storage.producer_append import (
    AppendOrigin,
    CompletedTxn,
    decrement_sequence,
    in_sequence,
    increment_sequence,
)
from riverlog.storage.producer_state import ProducerStateManager

INT32_MAX = 2**31 - 1
DAY = 86_400_000


def append(
    state: ProducerStateManager,
    pid: int,
    epoch: int,
    first_seq: int,
    first_offset: int,
    count: int = 1,
    *,
    transactional: bool = False,
    origin: AppendOrigin = AppendOrigin.CLIENT,
    ts: int = 1000,
) -> None:
    info = state.prepare_update(pid, origin)
    last_seq = increment_sequence(first_seq, count - 1)
    info.append_data_batch(
        epoch, first_seq, last_seq, ts, first_offset, first_offset + count - 1, transactional
    )
    state.update(info)


def end_txn(
    state: ProducerStateManager,
    pid: int,
    epoch: int,
    offset: int,
    commit: bool,
    coordinator: int = 0,
) -> CompletedTxn | None:
    info = state.prepare_update(pid, AppendOrigin.COORDINATOR)
    txn = info.append_end_txn_marker(commit, coordinator, epoch, offset, 1000)
    state.update(info)
    if txn is not None:
        state.complete_txn(txn)
    return txn


def test_sequence_helpers_wrap_like_kafka() -> None:
    assert increment_sequence(INT32_MAX - 1, 3) == 1
    assert decrement_sequence(1, 3) == INT32_MAX - 1
    assert in_sequence(INT32_MAX, 0) and in_sequence(4, 5) and not in_sequence(4, 6)


def test_in_sequence_batches_are_accepted_and_gaps_rejected(tmp_path: Path) -> None:
    state = ProducerStateManager(tmp_path, DAY)
    append(state, 1, 0, 0, 0, count=5)
    append(state, 1, 0, 5, 5, count=5)
    with pytest.raises(OutOfOrderSequenceError, match="Out of order sequence"):
        append(state, 1, 0, 11, 10)
    with pytest.raises(OutOfOrderSequenceError):
        append(state, 1, 0, 9, 10)


def test_unknown_producer_accepts_any_first_sequence(tmp_path: Path) -> None:
    state = ProducerStateManager(tmp_path, DAY)
    append(state, 7, 3, 42, 0)  # state lost to retention: accepted (KIP-360)
    assert state.last_entry(7).last_seq == 42  # type: ignore[union-attr]


def test_new_epoch_must_start_at_sequence_zero(tmp_path: Path) -> None:
    state = ProducerStateManager(tmp_path, DAY)
    append(state, 1, 0, 0, 0, count=3)
    with pytest.raises(OutOfOrderSequenceError, match="new epoch"):
        append(state, 1, 1, 3, 3)
    append(state, 1, 1, 0, 3)
    entry = state.last_entry(1)
    assert entry is not None and entry.producer_epoch == 1 and len(entry.batches) == 1


def test_older_epoch_is_fenced_but_only_logged_for_replication(tmp_path: Path) -> None:
    state = ProducerStateManager(tmp_path, DAY)
    append(state, 1, 5, 0, 0)
    with pytest.raises(InvalidProducerEpochError, match="smaller than the last seen epoch 5"):
        append(state, 1, 4, 0, 1)
    append(state, 1, 4, 0, 1, origin=AppendOrigin.REPLICATION)


def test_duplicate_lookup_covers_the_last_five_batches(tmp_path: Path) -> None:
    state = ProducerStateManager(tmp_path, DAY)
    for i in range(7):
        append(state, 1, 0, 10 * i, 100 + 10 * i, count=10)
    entry = state.last_entry(1)
    assert entry is not None
    assert entry.find_duplicate(0, 0, 9) is None  # evicted (only 5 kept)
    dup = entry.find_duplicate(0, 20, 29)
    assert dup is not None and (dup.first_offset, dup.last_offset) == (120, 129)
    assert entry.find_duplicate(1, 20, 29) is None  # other epoch
    assert entry.find_duplicate(0, 20, 28) is None  # other range


def test_transaction_lifecycle_and_lso_bookkeeping(tmp_path: Path) -> None:
    state = ProducerStateManager(tmp_path, DAY)
    append(state, 1, 0, 0, 10, count=2, transactional=True)
    append(state, 2, 0, 0, 12, count=2, transactional=True)
    append(state, 1, 0, 2, 14, count=2, transactional=True)
    assert state.ongoing == {10: 1, 12: 2}
    assert state.first_unstable_offset == 10
    with pytest.raises(InvalidTxnStateError):
        append(state, 1, 0, 4, 16)  # non-transactional while the transaction is open
    txn = end_txn(state, 1, 0, 16, commit=False)
    assert txn == CompletedTxn(1, 10, 16, True)
    assert state.last_stable_offset_for(CompletedTxn(1, 10, 16, True)) == 12
    # completed, but not yet below the high watermark: still unstable
    assert state.first_unstable_offset == 10
    state.on_high_watermark_updated(17)
    assert state.first_unstable_offset == 12
    assert end_txn(state, 2, 0, 17, commit=True) == CompletedTxn(2, 12, 17, False)
    state.on_high_watermark_updated(18)
    assert state.first_unstable_offset is None
    assert end_txn(state, 2, 0, 18, commit=True) is None  # empty transaction: no-op


def test_marker_from_older_coordinator_epoch_is_fenced(tmp_path: Path) -> None:
    state = ProducerStateManager(tmp_path, DAY)
    append(state, 1, 0, 0, 0, transactional=True)
    end_txn(state, 1, 0, 1, commit=True, coordinator=5)
    append(state, 1, 0, 1, 2, transactional=True)
    with pytest.raises(TransactionCoordinatorFencedError):
        end_txn(state, 1, 0, 3, commit=True, coordinator=4)


def test_snapshot_round_trip(tmp_path: Path) -> None:
    state = ProducerStateManager(tmp_path, DAY)
    append(state, 1, 0, 0, 0, count=5)
    append(state, 2, 3, 0, 5, count=2, transactional=True)
    state.map_end_offset = 7
    path = state.take_snapshot()
    assert path.name == "00000000000000000007.snapshot"
    loaded = ProducerStateManager(tmp_path, DAY)
    loaded.truncate_and_reload(0, 7, now_ms=1000)
    assert loaded.map_end_offset == 7
    assert loaded.ongoing == {5: 2}
    entry = loaded.last_entry(1)
    assert entry is not None and (entry.producer_epoch, entry.last_seq, entry.last_data_offset) == (
        0,
        4,
        4,
    )
    assert entry.find_duplicate(0, 0, 4) is not None


def test_reload_prefers_latest_snapshot_at_or_below_end_and_skips_corrupt(tmp_path: Path) -> None:
    state = ProducerStateManager(tmp_path, DAY)
    append(state, 1, 0, 0, 0)
    state.map_end_offset = 1
    state.take_snapshot()
    append(state, 1, 0, 1, 1)
    state.map_end_offset = 2
    state.take_snapshot()
    append(state, 1, 0, 2, 2)
    state.map_end_offset = 3
    state.take_snapshot()
    corrupt = tmp_path / "00000000000000000002.snapshot"
    corrupt.write_bytes(corrupt.read_bytes()[:-1] + b"\x07")
    loaded = ProducerStateManager(tmp_path, DAY)
    loaded.truncate_and_reload(0, 2, now_ms=1000)
    assert loaded.map_end_offset == 1  # snapshot 3 is above the end, 2 is corrupt
    assert state.snapshot_offsets() == [1]


def test_expired_producers_are_forgotten(tmp_path: Path) -> None:
    state = ProducerStateManager(tmp_path, 1000)
    append(state, 1, 0, 0, 0, ts=0)
    append(state, 2, 0, 0, 1, ts=0, transactional=True)
    state.remove_expired_producers(999)
    assert set(state.producers) == {1, 2}
    state.remove_expired_producers(1000)
    assert set(state.producers) == {2}  # an open transaction keeps its producer
