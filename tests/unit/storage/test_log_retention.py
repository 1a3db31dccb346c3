"""Retention: retention.ms, retention.bytes, log start offset; whole inactive segments only."""

from __future__ import annotations

from storage_batches import BASE_TS, LogFactory, batch

from riverlog.storage import PartitionLog

NOW = BASE_TS
HOUR = 3_600_000


def fill(log: PartitionLog, timestamps: list[int]) -> None:
    for ts in timestamps:
        log.append(batch(2, ts=ts), leader_epoch=0, now_ms=NOW)
    log.high_watermark = log.log_end_offset


def segment_size() -> int:
    return 3 * len(batch(2))


def test_retention_ms_deletes_old_segments_but_never_the_active_one(open_log: LogFactory) -> None:
    log = open_log(segment_bytes=segment_size(), retention_ms=HOUR)
    fill(log, [NOW] * 9)  # three full segments, all old
    assert [s.base_offset for s in log.segments] == [0, 6, 12]
    assert log.delete_old_segments(NOW + HOUR) == 0  # not older than retention.ms yet
    assert log.delete_old_segments(NOW + HOUR + 2) == 2
    assert [s.base_offset for s in log.segments] == [12]
    assert log.log_start_offset == 12
    assert not list(log.directory.glob("*.deleted"))
    assert sorted(p.name[:20] for p in log.directory.glob("*.log")) == ["00000000000000000012"]


def test_retention_ms_stops_at_the_first_recent_segment(open_log: LogFactory) -> None:
    log = open_log(segment_bytes=segment_size(), retention_ms=HOUR)
    fill(log, [NOW, NOW, NOW + HOUR // 2, NOW, NOW, NOW, NOW, NOW, NOW])
    assert log.delete_old_segments(NOW + HOUR + 2) == 0  # segment 0 holds a recent batch


def test_retention_bytes(open_log: LogFactory) -> None:
    log = open_log(
        segment_bytes=segment_size(), retention_bytes=segment_size() + 10, retention_ms=-1
    )
    fill(log, [NOW] * 10)
    assert [s.base_offset for s in log.segments] == [0, 6, 12, 18]
    # 3 full segments + 1 batch; deleting 2 leaves 1 segment + 1 batch > retention.bytes? no:
    # a segment goes only while the rest still exceeds retention.bytes.
    assert log.delete_old_segments(NOW) == 2
    assert [s.base_offset for s in log.segments] == [12, 18]
    assert log.size_in_bytes > segment_size()


def test_segments_above_the_high_watermark_are_kept(open_log: LogFactory) -> None:
    log = open_log(segment_bytes=segment_size(), retention_ms=0)
    fill(log, [NOW] * 9)
    log.high_watermark = 7
    assert log.delete_old_segments(NOW + 10) == 1  # segment 6-11 is not wholly below the HW
    assert [s.base_offset for s in log.segments] == [6, 12]


def test_compact_only_topics_ignore_time_and_size(open_log: LogFactory) -> None:
    log = open_log(
        segment_bytes=segment_size(), retention_ms=0, retention_bytes=0, cleanup_policy=("compact",)
    )
    fill(log, [NOW] * 9)
    assert log.delete_old_segments(NOW + HOUR) == 0
    log.delete_records_before(13)  # the log start offset still applies
    assert [s.base_offset for s in log.segments] == [12]


def test_retention_moves_epochs_and_snapshots_with_the_log_start(open_log: LogFactory) -> None:
    log = open_log(segment_bytes=segment_size(), retention_ms=HOUR)
    for epoch in range(9):
        log.append(batch(2, ts=NOW), leader_epoch=epoch, now_ms=NOW)
    log.high_watermark = log.log_end_offset
    log.delete_old_segments(NOW + 2 * HOUR)
    assert log.leader_epoch_cache.entries()[0] == (6, 12)
    assert all(int(p.name[:20]) >= 12 for p in log.directory.glob("*.snapshot"))
