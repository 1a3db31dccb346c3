"""dump.py (what `riverlog log dump` prints): batch rows, records, index files, bad tails."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from storage_batches import BASE_TS, LogFactory, batch, marker

from riverlog.protocol.records import build_batch
from riverlog.storage import AppendOrigin, LogConfig, PartitionLog
from riverlog.storage.cleaner import LogCleaner
from riverlog.storage.dump import (
    BatchRow,
    DumpError,
    OffsetIndexRow,
    RecordRow,
    TimeIndexRow,
    TxnIndexRow,
    dump_batches,
    dump_file,
    file_kind,
)

NOW = BASE_TS
SEGMENT = "00000000000000000000"


def sample_log(open_log: LogFactory) -> PartitionLog:
    log = open_log(LogConfig(index_interval_bytes=1))
    log.append(batch(3, compression=4), leader_epoch=1, now_ms=NOW)  # 0-2
    log.append(batch(1, pid=7, epoch=2, seq=0, transactional=True), leader_epoch=1, now_ms=NOW)
    log.append(
        marker(False, 7, 2, coordinator_epoch=5), leader_epoch=1, now_ms=NOW,
        origin=AppendOrigin.COORDINATOR,
    )  # fmt: skip
    log.close()
    return log


def test_log_rows_carry_every_header_field(open_log: LogFactory) -> None:
    log = sample_log(open_log)
    result = dump_file(log.directory / f"{SEGMENT}.log")
    assert result.kind == "log" and result.base_offset == 0 and result.problem is None
    rows = result.rows
    assert all(isinstance(r, BatchRow) for r in rows)
    first, txn, abort = rows
    assert isinstance(first, BatchRow) and isinstance(txn, BatchRow) and isinstance(abort, BatchRow)
    assert (first.base_offset, first.last_offset, first.count, first.codec) == (0, 2, 3, "zstd")
    assert (first.first_timestamp, first.max_timestamp, first.timestamp_type) == (
        NOW, NOW + 2, "CreateTime"
    )  # fmt: skip
    assert (first.position, first.partition_leader_epoch, first.crc_valid) == (0, 1, True)
    assert first.records is None  # not asked for
    assert (txn.producer_id, txn.producer_epoch, txn.base_sequence, txn.last_sequence) == (
        7, 2, 0, 0
    )  # fmt: skip
    assert txn.is_transactional and not txn.is_control and txn.position == first.size
    assert abort.is_control and abort.control_type == "ABORT"
    assert abort.position == first.size + txn.size
    assert abort.delete_horizon_ms is None


def test_records_are_decoded_when_asked(open_log: LogFactory) -> None:
    log = open_log()
    data = build_batch(
        [(b"k", b"\xff\x00", (("h", b"v"), ("n", None)), NOW), (None, None, (), NOW + 5)],
        compression=1,
    )
    log.append(data, leader_epoch=0, now_ms=NOW)
    log.close()
    (row,) = dump_file(log.directory / f"{SEGMENT}.log", records=True).rows
    assert isinstance(row, BatchRow)
    assert row.records == (
        RecordRow(0, NOW, b"k", b"\xff\x00", (("h", b"v"), ("n", None))),
        RecordRow(1, NOW + 5, None, None, ()),
    )


def test_index_files(open_log: LogFactory) -> None:
    log = sample_log(open_log)
    offsets = dump_file(log.directory / f"{SEGMENT}.index").rows
    assert offsets == [OffsetIndexRow(o, p) for o, p in log.segments[0].offset_index.entries()]
    assert [r.offset for r in offsets if isinstance(r, OffsetIndexRow)] == [3, 4]  # batch 2 on
    times = dump_file(log.directory / f"{SEGMENT}.timeindex").rows
    assert times and all(isinstance(t, TimeIndexRow) for t in times)
    assert times[-1] == TimeIndexRow(NOW + 2, 2)
    txns = dump_file(log.directory / f"{SEGMENT}.txnindex").rows
    assert txns == [TxnIndexRow(7, 3, 4, 5)]


def test_torn_tail_and_bad_crc_are_reported(open_log: LogFactory) -> None:
    log = sample_log(open_log)
    path = log.directory / f"{SEGMENT}.log"
    data = bytearray(path.read_bytes())
    data[70] ^= 0xFF  # inside the first batch's records: its CRC no longer holds
    path.write_bytes(bytes(data) + data[:30])  # and a partial header at the end
    result = dump_file(path)
    assert [r.crc_valid for r in result.rows if isinstance(r, BatchRow)] == [False, True, True]
    assert result.problem == f"partial batch header at position {len(data)} (30 bytes)"
    rows = list(dump_batches(bytes(data[:100])))
    assert isinstance(rows[-1], str) and rows[-1].startswith("partial batch at position 0")
    garbage = list(dump_batches(b"\x00" * 70))
    assert len(garbage) == 1 and str(garbage[0]).startswith("corrupt batch at position 0")


def test_cleaned_segments_show_delete_horizons_and_empty_batches(
    open_log: LogFactory, tmp_path: Path
) -> None:
    config = LogConfig(
        cleanup_policy=("compact",), min_cleanable_dirty_ratio=0.0, delete_retention_ms=1000
    )
    log = open_log(config)
    log.append(batch(1, key=b"a", pid=3, epoch=0, seq=0), leader_epoch=0, now_ms=NOW)
    log.append(build_batch([(b"a", None, (), NOW)]), leader_epoch=0, now_ms=NOW)
    log.roll(NOW)
    log.high_watermark = log.log_end_offset
    LogCleaner(tmp_path).clean_pass({("topic", 0): log}, NOW, 1 << 20)
    log.close()
    empty, tombstone = dump_file(log.directory / f"{SEGMENT}.log", records=True).rows
    assert isinstance(empty, BatchRow) and isinstance(tombstone, BatchRow)
    assert (empty.count, empty.records, empty.producer_id, empty.base_sequence) == (0, (), 3, 0)
    assert tombstone.delete_horizon_ms == NOW + 1000 == tombstone.first_timestamp
    assert tombstone.records == (RecordRow(1, NOW, b"a", None, ()),)


def test_file_kinds(tmp_path: Path) -> None:
    assert file_kind(Path(f"{SEGMENT}.log")) == ("log", 0)
    assert file_kind(Path("00000000000000000042.timeindex.cleaned")) == ("timeindex", 42)
    for bad in ("leader-epoch-checkpoint", "1.log", f"{SEGMENT}.snapshot"):
        with pytest.raises(DumpError, match="not a segment file"):
            file_kind(Path(bad))
    empty = tmp_path / f"{SEGMENT}.log"
    empty.write_bytes(b"")
    assert dataclasses.astuple(dump_file(empty))[1:] == ("log", 0, [], None)
    with pytest.raises(DumpError, match="cannot read"):
        dump_file(tmp_path / f"{SEGMENT}.index")
