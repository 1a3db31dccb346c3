"""LogSegment: append, index, read whole batches, timestamps, truncation, recovery, reopen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from storage_batches import BASE_TS, batch, offsets

from riverlog.protocol.records import iter_batches, patch_base_offset
from riverlog.storage import LogConfig
from riverlog.storage.segment import LogSegment, segment_name

NOW = BASE_TS


def at(offset: int, data: bytes) -> bytes:
    buf = bytearray(data)
    patch_base_offset(buf, 0, offset)
    return bytes(buf)


def filled(tmp_path: Path, count: int = 10, base: int = 0, **config: int) -> LogSegment:
    """A segment with `count` batches of 2 records, offsets base, base+2, ..."""
    segment = LogSegment.create(tmp_path, base, LogConfig(**config), NOW)  # type: ignore[arg-type]
    for i in range(count):
        segment.append_batches(at(base + 2 * i, batch(2, ts=NOW + 10 * i)))
    return segment


def test_file_names_are_kafkas(tmp_path: Path) -> None:
    segment = LogSegment.create(tmp_path, 42, LogConfig(), NOW)
    assert segment_name(42) == "00000000000000000042"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00000000000000000042.index",
        "00000000000000000042.log",
        "00000000000000000042.timeindex",
    ]
    segment.close()


def test_batches_are_stored_exactly(tmp_path: Path) -> None:
    segment = filled(tmp_path, 3)
    data = (tmp_path / (segment_name(0) + ".log")).read_bytes()
    assert data == b"".join(at(2 * i, batch(2, ts=NOW + 10 * i)) for i in range(3))
    assert segment.next_offset == 6 and segment.size == len(data)
    assert segment.max_timestamp == NOW + 21 and segment.offset_of_max_timestamp == 5
    segment.close()


def test_index_entry_every_interval(tmp_path: Path) -> None:
    size = len(batch(2))
    segment = filled(tmp_path, 10, index_interval_bytes=2 * size)
    # Kafka's rule: an entry once more than index.interval.bytes were appended since the last.
    assert [o for o, _ in segment.offset_index.entries()] == [6, 12, 18]
    assert [p for _, p in segment.offset_index.entries()] == [3 * size, 6 * size, 9 * size]
    assert segment.time_index.entries() == [(NOW + 31, 7), (NOW + 61, 13), (NOW + 91, 19)]
    segment.close()


@pytest.mark.parametrize("interval", [0, 100, 4096])
def test_read_returns_whole_batches_from_the_one_holding_offset(
    tmp_path: Path, interval: int
) -> None:
    segment = filled(tmp_path, 10, index_interval_bytes=interval)
    size = len(batch(2))
    sliced = segment.read(5, 3 * size, max_offset=1000, min_one=True)
    assert sliced is not None
    assert offsets(sliced.read()) == [(4, 5), (6, 7), (8, 9)]
    assert (sliced.first_offset, sliced.last_offset) == (4, 9)
    assert sliced.position == 2 * size
    # max_bytes not a multiple of the batch size: whole batches only
    assert offsets(segment.read(0, 2 * size + 5, 1000, True).read()) == [(0, 1), (2, 3)]
    # bounded by max_offset (exclusive: batches ending before it)
    assert offsets(segment.read(0, 10 * size, 7, True).read()) == [(0, 1), (2, 3), (4, 5)]
    assert segment.read(20, 100, 1000, True) is None
    segment.close()


def test_min_one_returns_a_batch_larger_than_max_bytes(tmp_path: Path) -> None:
    segment = filled(tmp_path, 3)
    assert offsets(segment.read(2, 10, 1000, min_one=True).read()) == [(2, 3)]
    assert segment.read(2, 10, 1000, min_one=False).size == 0
    segment.close()


def test_find_offset_by_timestamp(tmp_path: Path) -> None:
    segment = filled(tmp_path, 10, index_interval_bytes=1)
    assert segment.find_offset_by_timestamp(NOW + 31, 0) == (7, NOW + 31)
    assert segment.find_offset_by_timestamp(NOW + 32, 0) == (8, NOW + 40)
    assert segment.find_offset_by_timestamp(NOW, 3) == (3, NOW + 11)
    assert segment.find_offset_by_timestamp(NOW + 1000, 0) is None
    segment.close()


def test_find_offset_by_timestamp_inside_compressed_batch(tmp_path: Path) -> None:
    segment = LogSegment.create(tmp_path, 0, LogConfig(), NOW)
    segment.append_batches(
        batch(5, timestamps=[NOW, NOW + 5, NOW + 3, NOW + 9, NOW + 1], compression=1)
    )
    # The record, not the batch: Kafka decompresses to find it.
    assert segment.find_offset_by_timestamp(NOW + 4, 0) == (1, NOW + 5)
    assert segment.record_with_timestamp(NOW + 9) == 3
    segment.close()


def test_truncate_to_cuts_the_whole_batch_holding_offset(tmp_path: Path) -> None:
    segment = filled(tmp_path, 10, index_interval_bytes=1)
    removed = segment.truncate_to(7, NOW)
    assert removed == 7 * len(batch(2))
    assert segment.next_offset == 6
    assert segment.max_timestamp == NOW + 21 and segment.offset_of_max_timestamp == 5
    assert all(o < 6 for o, _ in segment.offset_index.entries())
    assert segment.truncate_to(100, NOW) == 0
    segment.truncate_to(0, NOW + 5)
    assert segment.size == 0 and segment.next_offset == 0 and segment.created_ms == NOW + 5
    segment.close()


def test_reopen_restores_summary_from_indexes(tmp_path: Path) -> None:
    segment = filled(tmp_path, 10, base=100, index_interval_bytes=200)
    expected = (segment.next_offset, segment.max_timestamp, segment.offset_of_max_timestamp)
    entries = segment.offset_index.entries()
    segment.close()
    reopened = LogSegment.open(tmp_path, 100, LogConfig(index_interval_bytes=200), NOW)
    assert reopened.index_error is None
    assert (
        reopened.next_offset,
        reopened.max_timestamp,
        reopened.offset_of_max_timestamp,
    ) == expected
    assert reopened.offset_index.entries() == entries
    assert reopened.first_batch_timestamp == NOW + 1
    reopened.close()


def test_open_flags_an_index_pointing_inside_a_batch(tmp_path: Path) -> None:
    segment = filled(tmp_path, 4, index_interval_bytes=1)
    segment.close()
    index_path = tmp_path / (segment_name(0) + ".index")
    data = bytearray(index_path.read_bytes())
    data[-1] += 3  # position of the last entry (the one open() trusts), now inside a batch
    index_path.write_bytes(bytes(data))
    reopened = LogSegment.open(tmp_path, 0, LogConfig(), NOW)
    assert reopened.index_error is not None
    reopened.recover()
    assert reopened.index_error is None and reopened.next_offset == 8
    reopened.close()


def test_recover_truncates_a_torn_tail(tmp_path: Path) -> None:
    segment = filled(tmp_path, 5)
    good = segment.size
    segment.close()
    with open(tmp_path / (segment_name(0) + ".log"), "ab") as f:
        f.write(batch(3)[:40])
    reopened = LogSegment.open(tmp_path, 0, LogConfig(), NOW)
    seen: list[int] = []
    truncated, reason = reopened.recover(lambda h, buf, pos: seen.append(h.base_offset))
    assert truncated == 40 and reason
    assert seen == [0, 2, 4, 6, 8]
    assert reopened.size == good == os.path.getsize(reopened.log_path)
    reopened.close()


def test_recover_truncates_at_a_crc_mismatch(tmp_path: Path) -> None:
    segment = filled(tmp_path, 5)
    size = len(batch(2))
    segment.close()
    path = tmp_path / (segment_name(0) + ".log")
    data = bytearray(path.read_bytes())
    data[3 * size + 70] ^= 0xFF  # inside the 4th batch's records
    path.write_bytes(bytes(data))
    reopened = LogSegment.open(tmp_path, 0, LogConfig(), NOW)
    truncated, reason = reopened.recover()
    assert "CRC" in reason and truncated == 2 * size
    assert reopened.next_offset == 6
    assert [h.base_offset for _, h in iter_batches(path.read_bytes())] == [0, 2, 4]
    reopened.close()


def test_should_roll(tmp_path: Path) -> None:
    size = len(batch(2))
    segment = filled(tmp_path, 2, segment_bytes=3 * size, segment_ms=1000, segment_index_bytes=16)
    assert not segment.should_roll(size, NOW + 20, 5, NOW)
    assert segment.should_roll(size + 1, NOW + 20, 5, NOW)  # segment.bytes
    # segment.ms counts from the first batch's max timestamp to the new batch's
    assert segment.should_roll(1, NOW + 1002, 5, NOW)
    assert not segment.should_roll(1, NOW + 1001, 5, NOW)
    assert segment.should_roll(1, NOW, 2**31 + 5, NOW)  # offset no longer fits an int32 delta
    empty = LogSegment.create(tmp_path, 50, LogConfig(segment_bytes=14), NOW)
    assert not empty.should_roll(10_000, NOW, 51, NOW)  # never roll an empty segment
    segment.close()
    empty.close()


def test_time_roll_without_timestamps_uses_creation_time(tmp_path: Path) -> None:
    segment = LogSegment.create(tmp_path, 0, LogConfig(segment_ms=100), NOW)
    segment.append_batches(batch(1, ts=-1))
    assert not segment.should_roll(1, -1, 1, NOW + 100)
    assert segment.should_roll(1, -1, 1, NOW + 101)
    segment.close()


def test_change_suffix_and_delete(tmp_path: Path) -> None:
    segment = filled(tmp_path, 2)
    segment.change_suffix("", ".deleted")
    assert all(p.name.endswith(".deleted") for p in tmp_path.iterdir())
    assert offsets(segment.read(0, 1000, 100, True).read()) == [(0, 1), (2, 3)]
    segment.delete()
    assert list(tmp_path.iterdir()) == []
