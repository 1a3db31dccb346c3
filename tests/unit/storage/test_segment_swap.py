"""Replacing segments with cleaned ones (the cleaner's seam) and its crash behaviour."""

from __future__ import annotations

from pathlib import Path

from storage_batches import BASE_TS, LogFactory, batch, offsets

from riverlog.storage import LogConfig, ManualClock, PartitionLog
from riverlog.storage.segment import CLEANED_SUFFIX, SWAP_SUFFIX, LogSegment

NOW = BASE_TS


def cleaned_copy(log: PartitionLog, segments: list[LogSegment], drop: set[int]) -> LogSegment:
    """A `.cleaned` segment holding the batches of `segments` except those based in `drop`."""
    cleaned = LogSegment.create(
        log.directory, segments[0].base_offset, log.config, NOW, suffix=CLEANED_SUFFIX
    )
    for segment in segments:
        for _, header, data in segment.iter_batches():
            if header.base_offset not in drop:
                cleaned.append_batches(data)
    return cleaned


def test_replace_segments(open_log: LogFactory, tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(segment_bytes=3 * len(batch(2)))
    for _ in range(10):
        log.append(batch(2), leader_epoch=0, now_ms=NOW)
    old = log.inactive_segments()[:2]
    assert [s.base_offset for s in old] == [0, 6]
    cleaned = cleaned_copy(log, old, drop={0, 6, 8})
    log.replace_segments([cleaned], old)
    assert [s.base_offset for s in log.segments][:2] == [0, 12]
    assert offsets(log.read(0, 10_000).read()) == [(2, 3), (4, 5), (10, 11)]
    assert offsets(log.read(6, 10_000).read()) == [(10, 11)]  # the gap is skipped
    names = sorted(p.name for p in log.directory.iterdir())
    assert not [n for n in names if n.endswith((".cleaned", ".swap", ".deleted"))]
    assert "00000000000000000006.log" not in names
    log.close()
    reopened = PartitionLog.open(
        log.directory, LogConfig(segment_bytes=3 * len(batch(2))), clock=clock
    )
    assert offsets(reopened.read(0, 10_000).read()) == [(2, 3), (4, 5), (10, 11)]
    assert reopened.log_end_offset == 20
    reopened.close()


def test_crash_before_swap_keeps_the_old_segments(open_log: LogFactory, clock: ManualClock) -> None:
    log = open_log(segment_bytes=3 * len(batch(2)))
    for _ in range(10):
        log.append(batch(2), leader_epoch=0, now_ms=NOW)
    cleaned = cleaned_copy(log, log.inactive_segments()[:2], drop={0})
    cleaned.close()  # crash while the cleaner was still writing
    log.close_handles()
    reopened = PartitionLog.open(log.directory, log.config, clock=clock)
    assert offsets(reopened.read(0, 100).read())[0] == (0, 1)  # nothing replaced
    assert not list(log.directory.glob("*.cleaned"))
    reopened.close()


def test_crash_after_step_one_completes_the_swap(open_log: LogFactory, clock: ManualClock) -> None:
    log = open_log(segment_bytes=3 * len(batch(2)))
    for _ in range(10):
        log.append(batch(2), leader_epoch=0, now_ms=NOW)
    cleaned = cleaned_copy(log, log.inactive_segments()[:2], drop={0, 2})
    cleaned.flush()
    cleaned.change_suffix(CLEANED_SUFFIX, SWAP_SUFFIX)  # step 1 done, then the crash
    cleaned.close()
    log.close_handles()
    reopened = PartitionLog.open(log.directory, log.config, clock=clock)
    assert offsets(reopened.read(0, 10_000).read())[0] == (4, 5)
    assert [s.base_offset for s in reopened.segments][:2] == [0, 12]
    assert not list(log.directory.glob("*.swap"))
    reopened.close()
