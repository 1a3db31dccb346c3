"""Recovery on open: torn tails, corrupt indexes, stray files, producer state and epochs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from storage_batches import BASE_TS, batch, marker, offsets

from riverlog.storage import AppendOrigin, LogConfig, ManualClock, PartitionLog
from riverlog.storage.errors import DuplicateSequenceError
from riverlog.storage.segment import segment_name

NOW = BASE_TS


def fill(log: PartitionLog, count: int, **batch_args: object) -> None:
    for _ in range(count):
        log.append(batch(2, **batch_args), leader_epoch=1, now_ms=NOW)  # type: ignore[arg-type]


def reopen(path: Path, clock: ManualClock, **kwargs: object) -> PartitionLog:
    return PartitionLog.open(
        path, LogConfig(segment_bytes=500, index_interval_bytes=100), clock=clock, **kwargs
    )  # type: ignore[arg-type]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "topic-0"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_clean_reopen_changes_nothing(
    path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    log = reopen(path, clock)
    fill(log, 10)
    before = {p.name: p.read_bytes() for p in path.glob("*.log")}
    log.close()
    reopened = reopen(path, clock, recovery_point=log.log_end_offset)
    assert reopened.log_end_offset == 20 and reopened.latest_epoch == 1
    assert {p.name: p.read_bytes() for p in path.glob("*.log")} == before
    assert warnings_of(caplog) == []
    reopened.close()


@pytest.mark.parametrize("damage", ["chop", "garbage", "zeros"])
def test_torn_tail_is_truncated_with_one_warning(
    path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    log = reopen(path, clock)
    fill(log, 12)
    log.close()
    active = max(path.glob("*.log"))
    data = active.read_bytes()
    if damage == "chop":
        active.write_bytes(data[:-7])
    elif damage == "garbage":
        active.write_bytes(data + os.urandom(100))
    else:
        active.write_bytes(data + bytes(4096))
    caplog.clear()
    reopened = reopen(path, clock, recovery_point=0)
    expected_end = 22 if damage == "chop" else 24
    assert reopened.log_end_offset == expected_end
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and "Truncated" in warnings[0] and active.name in warnings[0]
    # appends continue right after the recovered tail, and everything reads back whole
    result = reopened.append(batch(2), leader_epoch=2, now_ms=NOW)
    assert result.first_offset == expected_end
    got = []
    offset = 0
    while offset < reopened.log_end_offset:
        chunk = reopened.read(offset, 100_000).read()
        got += offsets(chunk)
        offset = got[-1][1] + 1
    assert got == [(i, i + 1) for i in range(0, expected_end + 2, 2)]
    reopened.close()


def test_corruption_in_an_old_segment_drops_later_segments(
    path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    log = reopen(path, clock)
    fill(log, 12)
    log.close()
    first = path / (segment_name(0) + ".log")
    data = bytearray(first.read_bytes())
    data[150] ^= 0xFF  # inside the second batch of the first segment
    first.write_bytes(bytes(data))
    caplog.clear()
    reopened = reopen(path, clock, recovery_point=0)
    assert reopened.log_end_offset == 2
    assert [s.base_offset for s in reopened.segments] == [0]
    assert len(warnings_of(caplog)) == 1
    reopened.close()


@pytest.mark.parametrize("damage", ["delete", "garbage", "truncate"])
def test_broken_index_is_rebuilt_with_one_line(
    path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    log = reopen(path, clock)
    fill(log, 12)
    first = log.segments[0]
    entries = first.offset_index.entries()
    times = first.time_index.entries()
    assert entries
    log.close()
    index = path / (segment_name(0) + ".index")
    if damage == "delete":
        index.unlink()
    elif damage == "garbage":
        index.write_bytes(os.urandom(len(index.read_bytes()) + 3))
    else:
        index.write_bytes(index.read_bytes()[:-3])
    caplog.clear()
    reopened = reopen(path, clock, recovery_point=log.log_end_offset)  # segment 0 is "flushed"
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and "Rebuilding index" in warnings[0]
    rebuilt = reopened.segments[0]
    assert rebuilt.offset_index.entries() == entries
    assert rebuilt.time_index.entries()[: len(times)] == times
    assert index.exists()
    assert offsets(reopened.read(5, 60).read()) == [(4, 5)]
    reopened.close()


def test_stray_files_are_cleaned_up(path: Path, clock: ManualClock) -> None:
    log = reopen(path, clock)
    fill(log, 3)
    log.close()
    for name in (
        "00000000000000000099.log.deleted",
        "00000000000000000099.index.deleted",
        "00000000000000000050.log.cleaned",
        "00000000000000000060.log.swap",  # same unfinished group as the .cleaned one
        "00000000000000000077.index",  # orphan index
        "leader-epoch-checkpoint.tmp",
    ):
        (path / name).write_bytes(b"junk")
    reopened = reopen(path, clock)
    names = sorted(p.name for p in path.iterdir())
    assert not [n for n in names if n.endswith((".deleted", ".cleaned", ".swap", ".tmp"))]
    assert "00000000000000000077.index" not in names
    assert reopened.log_end_offset == 6
    reopened.close()


def test_interrupted_swap_is_completed(path: Path, clock: ManualClock) -> None:
    """A crash after the cleaned segment became `.swap`: the swap replaces its range."""
    log = reopen(path, clock)
    fill(log, 12)
    bases = [s.base_offset for s in log.segments]
    assert len(bases) >= 3
    # The "cleaned" replacement of the first two segments: their batches, minus the first one.
    kept = b"".join(
        log.segments[i].read_batch(pos, h.size)
        for i in (0, 1)
        for pos, h in log.segments[i].iter_headers()
        if h.base_offset != 0
    )
    log.close()
    (path / (segment_name(0) + ".log.swap")).write_bytes(kept)
    reopened = reopen(path, clock)
    assert [s.base_offset for s in reopened.segments] == [0, *bases[2:]]
    assert not list(path.glob("*.swap"))
    assert offsets(reopened.read(0, 100).read())[0] == (2, 3)
    assert reopened.log_end_offset == 24
    reopened.close()


def test_producer_state_survives_restart_with_and_without_snapshot(
    path: Path, clock: ManualClock
) -> None:
    log = reopen(path, clock)
    for i in range(6):
        log.append(batch(2, pid=3, epoch=0, seq=2 * i), leader_epoch=0, now_ms=NOW)
    log.close()  # snapshot at the log end
    reopened = reopen(path, clock, recovery_point=log.log_end_offset)
    with pytest.raises(DuplicateSequenceError) as caught:
        reopened.append(batch(2, pid=3, epoch=0, seq=10), leader_epoch=0, now_ms=NOW)
    assert caught.value.original.first_offset == 10
    reopened.close()
    for snapshot in path.glob("*.snapshot"):
        snapshot.unlink()
    rebuilt = reopen(path, clock, recovery_point=0)  # replayed from the log
    entry = rebuilt.producer_state.last_entry(3)
    assert entry is not None and entry.last_seq == 11 and len(entry.batches) == 5
    rebuilt.append(batch(1, pid=3, epoch=0, seq=12), leader_epoch=0, now_ms=NOW)
    rebuilt.close()


def test_transaction_state_and_txn_index_are_rebuilt(path: Path, clock: ManualClock) -> None:
    log = reopen(path, clock)
    log.append(batch(2, pid=1, epoch=0, seq=0, transactional=True), leader_epoch=0, now_ms=NOW)
    log.append(marker(False, 1, 0), leader_epoch=0, now_ms=NOW, origin=AppendOrigin.COORDINATOR)
    log.append(batch(2, pid=2, epoch=0, seq=0, transactional=True), leader_epoch=0, now_ms=NOW)
    log.close()
    for snapshot in path.glob("*.snapshot"):
        snapshot.unlink()
    for txn_index in path.glob("*.txnindex"):
        txn_index.unlink()
    reopened = reopen(path, clock, recovery_point=0, high_watermark=6)
    assert reopened.aborted_transactions(0, 6) == [(1, 0)]
    assert reopened.last_stable_offset == 3  # producer 2's transaction is still open
    reopened.close()


def test_epoch_cache_is_reconciled_with_the_log(path: Path, clock: ManualClock) -> None:
    log = reopen(path, clock)
    fill(log, 3)
    log.assign_epoch(7, 6)
    log.close()
    active = max(path.glob("*.log"))
    active.write_bytes(active.read_bytes()[:-5])  # the last batch is torn
    reopened = reopen(path, clock, recovery_point=0)
    assert reopened.log_end_offset == 4
    assert reopened.leader_epoch_cache.entries() == [(1, 0)]  # epoch 7 started past the end
    reopened.close()
