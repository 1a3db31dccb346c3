"""Log compaction (cleaner.py): updates, tombstones, lags, dirty ratio, transactions, producer
state, crash during the swap, bounded steps, the checkpoint, and a model-based property test."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from storage_batches import BASE_TS, LogFactory, marker

from riverlog.protocol.records import (
    BatchHeader,
    Record,
    build_batch,
    crc_ok,
    decode_records,
    iter_batches,
)
from riverlog.storage import AppendOrigin, LogConfig, LogManager, ManualClock, PartitionLog
from riverlog.storage.checkpoint import CLEANER_OFFSET_CHECKPOINT
from riverlog.storage.cleaner import LogCleaner, log_to_clean
from riverlog.storage.segment import LogSegment

NOW = BASE_TS
HOUR = 3_600_000
DAY = 24 * HOUR
TP = ("topic", 0)
COMPACT = LogConfig(cleanup_policy=("compact",), segment_bytes=600, min_cleanable_dirty_ratio=0.0)


def keyed(
    key: bytes,
    value: bytes | None,
    ts: int = NOW,
    *,
    headers: Sequence[tuple[str, bytes | None]] = (),
    compression: int = 0,
) -> bytes:
    return build_batch([(key, value, headers, ts)], compression=compression)


def put(log: PartitionLog, *pairs: tuple[bytes, bytes | None], ts: int = NOW) -> None:
    """One single-record batch per pair, then the high watermark follows."""
    for key, value in pairs:
        log.append(keyed(key, value, ts), leader_epoch=0, now_ms=ts)
    log.high_watermark = log.log_end_offset


def batches(log: PartitionLog) -> list[tuple[BatchHeader, list[Record]]]:
    """Every batch from the log start offset, read as a fetch would (segment by segment)."""
    out = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        chunk = log.read(offset, 1 << 30)
        if not chunk.size:
            break
        data = chunk.read()
        for pos, header in iter_batches(data):
            assert crc_ok(data, pos, header)
            out.append((header, decode_records(data, pos, header)))
        offset = chunk.last_offset + 1
    return out


def records(log: PartitionLog) -> list[tuple[int, bytes | None, bytes | None]]:
    return [(r.offset, r.key, r.value) for h, rs in batches(log) if not h.is_control for r in rs]


def clean(cleaner: LogCleaner, log: PartitionLog, now: int = NOW) -> int:
    """Run passes until nothing is due; returns the rounds completed."""
    rounds = 0
    for _ in range(50):
        result = cleaner.clean_pass({TP: log}, now, 1 << 30)
        rounds += result.rounds_completed
        if not result.busy and not result.rounds_completed:
            return rounds
    raise AssertionError("the cleaner never settled")


@pytest.fixture
def cleaner(tmp_path: Path) -> LogCleaner:
    return LogCleaner(tmp_path)


def test_keeps_the_latest_record_per_key_at_its_offset(
    open_log: LogFactory, cleaner: LogCleaner, tmp_path: Path
) -> None:
    log = open_log(COMPACT)
    for i in range(30):
        put(log, (b"k%d" % (i % 4), b"v%d" % i))
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    before = (log.log_end_offset, len(log.segments))
    assert clean(cleaner, log) == 1
    assert records(log) == [(26, b"k2", b"v26"), (27, b"k3", b"v27"), (28, b"k0", b"v28"),
                            (29, b"k1", b"v29")]  # fmt: skip
    assert log.log_end_offset == before[0]
    assert log.read(27, 1).first_offset == 27
    assert log.read(5, 1).first_offset == 26  # a removed offset reads the next batch
    assert cleaner.checkpoints() == {TP: 30}
    assert (tmp_path / CLEANER_OFFSET_CHECKPOINT).read_text() == "0\n1\ntopic 0 30\n"
    assert not [p for p in log.directory.iterdir() if p.name.endswith((".cleaned", ".swap"))]
    # Reopening from scratch (full recovery) sees the same log.
    reopened = PartitionLog.open(log.directory, COMPACT, clock=ManualClock(NOW))
    assert records(reopened) == records(log)
    reopened.close_handles()


def test_never_touches_the_active_segment_or_records_above_the_lso(
    open_log: LogFactory, cleaner: LogCleaner
) -> None:
    log = open_log(dataclasses.replace(COMPACT, segment_bytes=1 << 20))
    put(log, (b"a", b"1"), (b"a", b"2"), (b"a", b"3"))
    assert clean(cleaner, log) == 0  # everything is in the active segment
    log.roll(NOW)
    put(log, (b"a", b"4"))
    log.high_watermark = 2
    assert clean(cleaner, log) == 0  # the high watermark is inside the only inactive segment
    log.high_watermark = log.log_end_offset
    assert clean(cleaner, log) == 1
    assert records(log) == [(2, b"a", b"3"), (3, b"a", b"4")]  # 3 is in the active segment


def test_tombstones_stay_for_delete_retention_ms_then_go(
    open_log: LogFactory, cleaner: LogCleaner, clock: ManualClock
) -> None:
    log = open_log(dataclasses.replace(COMPACT, delete_retention_ms=HOUR))
    put(log, (b"a", b"1"), (b"b", b"1"), (b"a", None))
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    clean(cleaner, log, NOW)
    assert records(log) == [(1, b"b", b"1"), (2, b"a", None)]
    tomb = next(h for h, rs in batches(log) if rs and rs[0].value is None)
    assert tomb.has_delete_horizon and tomb.base_timestamp == NOW + HOUR  # KIP-534
    assert next(r for _, rs in batches(log) for r in rs if r.value is None).timestamp == NOW
    # Cleaning again before the horizon keeps it (new dirty data triggers the round).
    put(log, (b"c", b"1"), ts=NOW + HOUR - 1)
    log.roll(NOW + HOUR - 1)
    log.high_watermark = log.log_end_offset
    assert clean(cleaner, log, NOW + HOUR - 1) == 1
    assert (2, b"a", None) in records(log)
    # After the horizon the next cleaning drops it.
    put(log, (b"d", b"1"), ts=NOW + HOUR)
    log.roll(NOW + HOUR)
    log.high_watermark = log.log_end_offset
    assert clean(cleaner, log, NOW + HOUR) == 1
    assert records(log) == [(1, b"b", b"1"), (3, b"c", b"1"), (4, b"d", b"1")]


def test_min_compaction_lag_ms_leaves_recent_segments_dirty(
    open_log: LogFactory, cleaner: LogCleaner
) -> None:
    log = open_log(dataclasses.replace(COMPACT, min_compaction_lag_ms=HOUR))
    put(log, (b"a", b"1"), (b"a", b"2"), ts=NOW)
    log.roll(NOW)
    put(log, (b"a", b"3"), ts=NOW + HOUR)
    log.roll(NOW + HOUR)
    log.high_watermark = log.log_end_offset
    assert clean(cleaner, log, NOW + HOUR) == 1  # only the first segment is old enough
    assert records(log) == [(1, b"a", b"2"), (2, b"a", b"3")]
    assert cleaner.checkpoints() == {TP: 2}
    assert clean(cleaner, log, NOW + 2 * HOUR) == 1
    assert records(log) == [(2, b"a", b"3")]


def test_max_compaction_lag_ms_forces_a_clean_below_the_ratio(
    open_log: LogFactory, cleaner: LogCleaner
) -> None:
    log = open_log(
        dataclasses.replace(COMPACT, min_cleanable_dirty_ratio=1.0, max_compaction_lag_ms=DAY)
    )
    put(log, (b"a", b"1"), (b"a", b"2"), ts=NOW)
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    assert clean(cleaner, log, NOW + DAY) == 0  # the ratio (1.0) is never > 1.0
    assert clean(cleaner, log, NOW + DAY + 1) == 1  # first batch older than max.compaction.lag.ms
    assert records(log) == [(1, b"a", b"2")]


def test_min_cleanable_dirty_ratio_and_the_dirtiest_log_goes_first(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = dataclasses.replace(COMPACT, min_cleanable_dirty_ratio=0.5)
    manager = LogManager(tmp_path, config, clock)
    manager.load()
    one, two = manager.get_or_create("one", 0), manager.get_or_create("two", 0)
    for log, count in ((one, 12), (two, 20)):
        for i in range(count):
            put(log, (b"k%d" % (i % 2), b"v%d" % i))
        log.roll(NOW)
        log.high_watermark = log.log_end_offset
    result = manager.clean_pass(NOW, max_bytes=1 << 30)
    assert result.rounds_completed == 2
    checkpoints = manager.cleaner.checkpoints()
    assert checkpoints == {("one", 0): 12, ("two", 0): 20}
    # A little new dirty data: the ratio is below 0.5, nothing is cleaned.
    put(one, (b"k0", b"new"))
    one.roll(NOW)
    one.high_watermark = one.log_end_offset
    ltc, _ = log_to_clean(("one", 0), one, checkpoints[("one", 0)], NOW)
    assert 0 < ltc.cleanable_ratio <= 0.5 and not ltc.due
    assert manager.clean_pass(NOW).rounds_completed == 0
    # Dirtier than 0.5: cleaned.
    put(one, *[(b"k1", b"x%d" % i) for i in range(4)])
    one.roll(NOW)
    one.high_watermark = one.log_end_offset
    assert manager.clean_pass(NOW).rounds_completed == 1
    assert records(one) == [(12, b"k0", b"new"), (16, b"k1", b"x3")]
    manager.close()


def test_reads_and_offset_for_timestamp_after_cleaning(
    open_log: LogFactory, cleaner: LogCleaner
) -> None:
    log = open_log(dataclasses.replace(COMPACT, index_interval_bytes=50))
    for i in range(20):
        put(log, (b"k%d" % (i % 3), b"v%d" % i), ts=NOW + 10 * i)
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    clean(cleaner, log)
    assert [r[0] for r in records(log)] == [17, 18, 19]
    assert log.offset_for_timestamp(NOW) == (17, NOW + 170)  # removed records are not found
    assert log.offset_for_timestamp(NOW + 181) == (19, NOW + 190)
    assert log.offset_for_timestamp(NOW + 191) is None
    assert log.max_timestamp_offset() == (19, NOW + 190)
    for offset in (0, 17, 18, 19):
        assert log.read(offset, 1).first_offset == max(offset, 17)


def test_headers_and_codecs_survive_rebuilding(open_log: LogFactory, cleaner: LogCleaner) -> None:
    log = open_log(COMPACT)
    for codec in range(5):
        stamps = [NOW + codec * 10 + i for i in range(3)]
        data = build_batch(
            [(b"gone", b"x", (), stamps[0]), (b"k%d" % codec, b"v", (("h", b"1"), ("n", None)),
              stamps[1]), (b"gone", None, (), stamps[2])],
            compression=codec,
        )  # fmt: skip
        log.append(data, leader_epoch=3, now_ms=NOW)
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    clean(cleaner, log)
    kept = batches(log)
    assert [h.compression for h, _ in kept] == [0, 1, 2, 3, 4]
    assert [h.partition_leader_epoch for h, _ in kept] == [3] * 5
    assert all(h.last_offset_delta == 2 for h, _ in kept)  # offset range kept
    first = kept[0][1]
    assert [(r.offset, r.key, r.headers, r.timestamp) for r in first] == [
        (1, b"k0", (("h", b"1"), ("n", None)), NOW + 1)
    ]
    assert [r.offset for _, rs in kept for r in rs][-2:] == [13, 14]  # last tombstone kept


def txn_append(log: PartitionLog, data: bytes) -> None:
    log.append(data, leader_epoch=0, now_ms=NOW)
    log.high_watermark = log.log_end_offset


def end_txn(log: PartitionLog, commit: bool, pid: int) -> None:
    log.append(marker(commit, pid, 0), leader_epoch=0, now_ms=NOW, origin=AppendOrigin.COORDINATOR)
    log.high_watermark = log.log_end_offset


def txn_batch(pid: int, seq: int, *pairs: tuple[bytes, bytes]) -> bytes:
    return build_batch(
        [(k, v, (), NOW) for k, v in pairs], producer_id=pid, producer_epoch=0,
        base_sequence=seq, transactional=True,
    )  # fmt: skip


def control_offsets(log: PartitionLog) -> list[int]:
    return [h.base_offset for h, _ in batches(log) if h.is_control]


def test_aborted_transactions_are_removed_and_markers_go_last(
    open_log: LogFactory, cleaner: LogCleaner
) -> None:
    log = open_log(dataclasses.replace(COMPACT, delete_retention_ms=HOUR))
    txn_append(log, txn_batch(7, 0, (b"a", b"aborted"), (b"b", b"aborted")))  # 0-1
    end_txn(log, False, 7)  # 2
    txn_append(log, txn_batch(7, 2, (b"c", b"committed")))  # 3
    end_txn(log, True, 7)  # 4
    txn_append(log, keyed(b"a", b"plain"))  # 5
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    assert log.aborted_transactions(0, 6) == [(7, 0)]
    clean(cleaner, log)
    assert records(log) == [(3, b"c", b"committed"), (5, b"a", b"plain")]
    assert control_offsets(log) == [2, 4]  # the abort marker stays until its data is gone
    assert log.aborted_transactions(0, 6) == [(7, 0)]  # the cleaned txn index keeps it
    # Next round (new dirty data): no aborted batch left, so the marker gets a delete horizon.
    txn_append(log, keyed(b"z", b"1"))
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    clean(cleaner, log)
    abort = next(h for h, _ in batches(log) if h.base_offset == 2)
    assert abort.has_delete_horizon and abort.base_timestamp == NOW + HOUR
    assert control_offsets(log) == [2, 4]  # the commit's batch 3 is still there
    # After the horizon the abort marker goes; the commit marker stays with its data.
    txn_append(log, keyed(b"y", b"1"))
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    clean(cleaner, log, NOW + HOUR)
    assert control_offsets(log) == [4]
    assert records(log) == [(3, b"c", b"committed"), (5, b"a", b"plain"), (6, b"z", b"1"),
                            (7, b"y", b"1")]  # fmt: skip
    reopened = PartitionLog.open(log.directory, log.config, clock=ManualClock(NOW))
    assert records(reopened) == records(log)
    reopened.close_handles()


def test_open_transactions_are_not_cleaned(open_log: LogFactory, cleaner: LogCleaner) -> None:
    log = open_log(COMPACT)
    put(log, (b"a", b"1"), (b"a", b"2"))
    txn_append(log, txn_batch(9, 0, (b"a", b"open")))  # 2, no marker yet
    put(log, (b"a", b"3"))
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    assert log.last_stable_offset == 2
    clean(cleaner, log)
    assert records(log) == [(0, b"a", b"1"), (1, b"a", b"2"), (2, b"a", b"open"),
                            (3, b"a", b"3")]  # fmt: skip


def test_empty_batch_is_retained_for_producer_state(
    open_log: LogFactory, cleaner: LogCleaner, clock: ManualClock
) -> None:
    log = open_log(COMPACT)
    idempotent = build_batch(
        [(b"x", b"1", (), NOW), (b"x", b"2", (), NOW)], producer_id=5, producer_epoch=0,
        base_sequence=0,
    )  # fmt: skip
    log.append(idempotent, leader_epoch=0, now_ms=NOW)  # 0-1
    put(log, (b"x", b"3"))  # 2: supersedes both records of producer 5's last batch
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    clean(cleaner, log)
    header, recs = batches(log)[0]
    assert (header.base_offset, header.last_offset_delta, header.records_count, recs) == (
        0, 1, 0, []
    )  # fmt: skip
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (5, 0, 0)
    reopened = PartitionLog.open(log.directory, COMPACT, clock=clock)
    log.close_handles()
    after = build_batch([(b"x", b"4", (), NOW)], producer_id=5, producer_epoch=0, base_sequence=2)
    assert reopened.append(after, leader_epoch=0, now_ms=NOW).first_offset == 3  # in sequence
    reopened.close_handles()


def test_bounded_steps_interleave_with_appends(open_log: LogFactory, cleaner: LogCleaner) -> None:
    log = open_log(COMPACT)
    for i in range(60):
        put(log, (b"k%d" % (i % 5), b"v%d" % i))
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    steps = 0
    while cleaner.rounds_completed == 0:
        cleaner.clean_pass({TP: log}, NOW, max_bytes=100)  # about one batch a step
        steps += 1
        put(log, (b"live", b"%d" % steps))  # appends go on between steps
    assert steps > 10
    kept = records(log)
    assert [r for r in kept if r[1] != b"live"] == [(55 + i, b"k%d" % i, b"v%d" % (55 + i))
                                                    for i in range(5)]  # fmt: skip
    assert len([r for r in kept if r[1] == b"live"]) == steps


def test_round_aborts_when_the_log_changes_under_it(
    open_log: LogFactory, cleaner: LogCleaner
) -> None:
    log = open_log(COMPACT)
    for i in range(40):
        put(log, (b"k%d" % (i % 5), b"v%d" % i))
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    while not list(log.directory.glob("*.cleaned")):  # map built, writing the first group
        assert cleaner.clean_pass({TP: log}, NOW, max_bytes=100).busy
    log.truncate_to(30)  # a follower truncating: the round must not swap stale segments
    assert cleaner.clean_pass({TP: log}, NOW, max_bytes=100).bytes_read == 0
    assert not cleaner.busy
    assert not list(log.directory.glob("*.cleaned"))
    assert records(log) == [(i, b"k%d" % (i % 5), b"v%d" % i) for i in range(30)]
    # The checkpoint never runs ahead of a truncation.
    log.high_watermark = log.log_end_offset
    log.roll(NOW)
    clean(cleaner, log)
    assert cleaner.checkpoints()[TP] == 30
    cleaner.maybe_truncate_checkpoint({TP: log}, TP, 10)
    assert cleaner.checkpoints()[TP] == 10


def test_retention_under_a_round_aborts_it_and_compact_delete_runs_retention(
    open_log: LogFactory, cleaner: LogCleaner
) -> None:
    config = dataclasses.replace(COMPACT, cleanup_policy=("compact", "delete"), retention_ms=HOUR)
    log = open_log(config)
    for i in range(40):
        put(log, (b"k%d" % (i % 5), b"v%d" % i))
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    assert cleaner.clean_pass({TP: log}, NOW, max_bytes=100).busy
    assert log.delete_old_segments(NOW + 2 * HOUR) > 0  # every inactive segment expired
    assert cleaner.clean_pass({TP: log}, NOW, max_bytes=100).bytes_read == 0
    assert not cleaner.busy and not list(log.directory.glob("*.cleaned"))
    assert log.log_start_offset == 40 == log.active_segment.base_offset


def test_async_pass_runs_steps_in_an_executor(open_log: LogFactory, cleaner: LogCleaner) -> None:
    log = open_log(COMPACT)
    for i in range(30):
        put(log, (b"k%d" % (i % 3), b"v%d" % i))
    log.roll(NOW)
    log.high_watermark = log.log_end_offset

    async def run() -> int:
        rounds = 0
        with ThreadPoolExecutor(1) as pool:
            for _ in range(100):
                result = await cleaner.clean_pass_async({TP: log}, NOW, 200, pool)
                rounds += result.rounds_completed
                if not result.busy:
                    return rounds
        raise AssertionError("never finished")

    assert asyncio.run(run()) == 1
    assert [r[0] for r in records(log)] == [27, 28, 29]


def test_manager_checkpoint_survives_restart_and_deletion(
    tmp_path: Path, clock: ManualClock
) -> None:
    manager = LogManager(tmp_path, COMPACT, clock)
    manager.load()
    log = manager.get_or_create("t", 0)
    for i in range(20):
        put(log, (b"k%d" % (i % 2), b"v%d" % i))
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    manager.clean_pass(NOW)
    manager.close()
    again = LogManager(tmp_path, COMPACT, clock)
    again.load()
    assert again.cleaner.checkpoints() == {("t", 0): 20}
    assert again.clean_pass(NOW).rounds_completed == 0  # nothing dirty since
    reloaded = again.get_or_create("t", 0)
    reloaded.truncate_to(10)  # through the manager's truncation hook
    assert reloaded.log_end_offset <= 10
    assert again.cleaner.checkpoints() == {("t", 0): reloaded.log_end_offset}
    again.delete("t", 0)
    assert (tmp_path / CLEANER_OFFSET_CHECKPOINT).read_text() == "0\n0\n"
    again.close()


# --- crash during the swap ------------------------------------------------------------------------


class Crash(BaseException):
    """A kill -9 at a chosen point: nothing after it runs."""


def crash_log(directory: Path) -> tuple[PartitionLog, dict[int, tuple[bytes, bytes]]]:
    log = PartitionLog.open(directory, COMPACT, clock=ManualClock(NOW))
    written = {}
    for i in range(40):
        key, value = b"k%d" % (i % 6), b"v%d" % i
        put(log, (key, value))
        written[i] = (key, value)
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    log.update_config(dataclasses.replace(COMPACT, segment_bytes=1 << 20))  # big groups
    return log, written


@pytest.mark.parametrize(
    ("target", "call"),
    # One group of 5 segments: rename 1 is .cleaned -> .swap, 2-6 the old segments to .deleted,
    # 7 .swap -> final; then the 5 deletes.
    [("change_suffix", n) for n in range(1, 8)] + [("delete", 1), ("delete", 5)],
)
def test_crash_during_the_swap_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, call: int
) -> None:
    log, written = crash_log(tmp_path / "topic-0")
    assert len(log.inactive_segments()) == 5
    original = getattr(LogSegment, target)
    calls = 0

    def killer(self: LogSegment, *args: str) -> None:
        nonlocal calls
        calls += 1
        if calls == call:
            raise Crash
        original(self, *args)

    monkeypatch.setattr(LogSegment, target, killer)
    with pytest.raises(Crash):
        clean(LogCleaner(tmp_path), log)
    monkeypatch.setattr(LogSegment, target, original)
    log.close_handles()
    reopened = PartitionLog.open(log.directory, COMPACT, clock=ManualClock(NOW))
    leftovers = [p.name for p in log.directory.iterdir() if p.suffix in (".cleaned", ".swap",
                                                                           ".deleted")]  # fmt: skip
    assert leftovers == []
    kept = records(reopened)
    assert all(written[offset] == (key, value) for offset, key, value in kept)
    assert [o for o, _, _ in kept] == sorted({o for o, _, _ in kept})
    latest = {key: offset for offset, (key, _) in written.items()}
    if target == "change_suffix" and call == 1:  # no .swap file yet: the old segments stay
        assert [o for o, _, _ in kept] == list(range(40))
    else:  # the .swap file was complete: recovery finishes the swap
        assert {o for o, _, _ in kept} == set(latest.values())
    assert reopened.log_end_offset == 40
    reopened.close_handles()


# --- model-based property test --------------------------------------------------------------------

APPEND = st.tuples(
    st.just("append"),
    st.lists(
        st.tuples(st.integers(0, 7), st.one_of(st.none(), st.binary(max_size=12))),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 4),  # codec
)
OPS = st.lists(
    st.one_of(
        APPEND,
        APPEND,
        APPEND,
        st.tuples(st.just("roll")),
        st.tuples(st.just("step"), st.integers(1, 400)),
        st.tuples(st.just("commit")),
        st.tuples(st.just("truncate"), st.integers(0, 200)),
    ),
    min_size=15,
    max_size=60,
)


@settings(max_examples=30, deadline=None)
@given(ops=OPS, map_bytes=st.sampled_from([150, 400, 1 << 20]))
def test_random_appends_and_cleaning_match_the_model(
    ops: list[tuple[object, ...]], map_bytes: int
) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="riverlog-cleaner-"))
    try:
        check_model(tmp, ops, map_bytes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_model(tmp: Path, ops: list[tuple[object, ...]], map_bytes: int) -> None:
    config = dataclasses.replace(COMPACT, segment_bytes=400, delete_retention_ms=DAY)
    log = PartitionLog.open(tmp / "topic-0", config, clock=ManualClock(NOW))
    cleaner = LogCleaner(tmp, dedupe_buffer_size=map_bytes, load_factor=1.0)
    model: dict[int, tuple[bytes, bytes | None]] = {}
    for op in ops:
        if op[0] == "append":
            pairs, codec = op[1], op[2]
            assert isinstance(pairs, list) and isinstance(codec, int)
            data = build_batch([(b"key-%d" % k, v, (), NOW) for k, v in pairs], compression=codec)
            first = log.append(data, leader_epoch=0, now_ms=NOW).first_offset
            for i, (k, v) in enumerate(pairs):
                model[first + i] = (b"key-%d" % k, v)
        elif op[0] == "roll":
            log.roll(NOW)
        elif op[0] == "step":
            assert isinstance(op[1], int)
            cleaner.clean_pass({TP: log}, NOW, op[1])
        elif op[0] == "commit":
            log.high_watermark = log.log_end_offset
        elif op[0] == "truncate":
            assert isinstance(op[1], int)
            # As replication does: only what is above the high watermark is truncated.
            if log.high_watermark <= op[1] < log.log_end_offset:
                log.truncate_to(op[1])
                cleaner.maybe_truncate_checkpoint({TP: log}, TP, log.log_end_offset)
                model = {o: kv for o, kv in model.items() if o < log.log_end_offset}
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    clean(cleaner, log)
    kept = records(log)
    offsets = [o for o, _, _ in kept]
    assert offsets == sorted(set(offsets))
    for offset, key, value in kept:
        assert model[offset] == (key, value)
    latest = {key: offset for offset, (key, _) in sorted(model.items())}
    assert sorted(latest.values()) == offsets  # exactly the latest record of every key
    assert log.log_end_offset == (max(model) + 1 if model else log.log_end_offset)
    log.close_handles()


def test_a_corrupt_log_is_skipped_not_fatal(open_log: LogFactory, cleaner: LogCleaner) -> None:
    log = open_log(COMPACT)
    for i in range(20):
        put(log, (b"k%d" % (i % 3), b"v%d" % i))
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    first = log.segments[0]
    with first.log_path.open("r+b") as f:  # garbage varints in the first batch's records
        f.seek(61)
        f.write(b"\xff" * 8)
    assert clean(cleaner, log) == 0
    assert cleaner.uncleanable == {TP}
    assert not list(log.directory.glob("*.cleaned"))
    sizes = [s.size for s in log.segments]
    assert clean(cleaner, log) == 0 and [s.size for s in log.segments] == sizes  # left alone
