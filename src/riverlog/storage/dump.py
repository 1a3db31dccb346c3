"""What is inside a segment file, as rows (Kafka's DumpLogSegments; `riverlog log dump`).

Read-only: files are read with `os.pread`/`os.read`, never written or mapped, so dumping the
files of a running broker is safe (a segment still being appended may end in a partial batch:
reported, not an error). Supported files, by suffix (a `.cleaned`, `.swap` or `.deleted` suffix
after it is allowed):
- `.log`: one BatchRow per batch (header fields, position, size, CRC check), and with
  `records=True` its records (decoded, decompressed). A torn or corrupt tail ends the rows and
  is reported in `DumpResult.problem`, with the position it starts at.
- `.index`: (offset, position) entries; `.timeindex`: (timestamp, offset) entries;
  `.txnindex`: aborted transactions — all in Kafka's formats (index.py, txn_index.py), relative
  offsets made absolute with the base offset taken from the file name.
`dump_batches` and the `dump_*_index` functions are pure functions of bytes; `iter_file` and
`dump_file` read a file with them.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from riverlog.protocol import errors as protocol_errors
from riverlog.protocol.records import (
    BATCH_HEADER_SIZE,
    CONTROL_ABORT,
    CONTROL_COMMIT,
    BatchHeader,
    crc_ok,
    decode_records,
    parse_header,
)

Buffer = bytes | bytearray | memoryview

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
_FILE_NAME = re.compile(r"^(\d{20})\.(log|index|timeindex|txnindex)(\.cleaned|\.swap|\.deleted)?$")
_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
_TXN_ENTRY = struct.Struct(">hqqqq")
_CONTROL_KEY = struct.Struct(">hh")


class DumpError(Exception):
    """The file cannot be dumped (unknown kind, unreadable)."""


@dataclass(frozen=True, slots=True)
class RecordRow:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One batch: its header fields, where it is, and whether its CRC holds."""

    base_offset: int
    last_offset: int
    count: int
    first_timestamp: int  # the base timestamp (the delete horizon when that attribute is set)
    max_timestamp: int
    timestamp_type: str  # CreateTime | LogAppendTime
    codec: str
    producer_id: int
    producer_epoch: int
    base_sequence: int
    last_sequence: int
    is_transactional: bool
    is_control: bool
    control_type: str | None  # COMMIT | ABORT for a marker
    delete_horizon_ms: int | None
    partition_leader_epoch: int
    position: int
    size: int
    crc: int
    crc_valid: bool
    records: tuple[RecordRow, ...] | None = None  # when asked for
    error: str | None = None  # records that failed to decode


@dataclass(slots=True)
class DumpResult:
    """What `dump_file` found: the file's kind and rows, and what ended it early, if anything."""

    path: Path
    kind: str  # log | index | timeindex | txnindex
    base_offset: int
    rows: list[object] = field(default_factory=list)
    problem: str | None = None


# --- .log ----------------------------------------------------------------------------------------


def dump_batches(data: Buffer, *, records: bool = False) -> Iterator[BatchRow | str]:
    """A BatchRow per whole batch of `data`; a final str describes a torn or corrupt tail."""
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < BATCH_HEADER_SIZE:
            yield f"partial batch header at position {pos} ({end - pos} bytes)"
            return
        try:
            header = parse_header(data, pos)
        except protocol_errors.CorruptRecordError as exc:
            yield f"corrupt batch at position {pos}: {exc}"
            return
        if pos + header.size > end:
            yield f"partial batch at position {pos}: needs {header.size} bytes, {end - pos} left"
            return
        yield batch_row(data, pos, header, records=records)
        pos += header.size


def batch_row(
    data: Buffer, pos: int, header: BatchHeader, *, records: bool, position: int | None = None
) -> BatchRow:
    """The row for the batch at `pos` of `data` (records decoded when asked, and for markers);
    `position` is where it is in its file when `data` holds only part of the file."""
    valid = crc_ok(data, pos, header)
    decoded, error = None, None
    if records or header.is_control:
        try:
            decoded = tuple(
                RecordRow(r.offset, r.timestamp, r.key, r.value, r.headers)
                for r in decode_records(data, pos, header)
            )
        except protocol_errors.CorruptRecordError as exc:
            error = str(exc)
    return BatchRow(
        base_offset=header.base_offset,
        last_offset=header.last_offset,
        count=header.records_count,
        first_timestamp=header.base_timestamp,
        max_timestamp=header.max_timestamp,
        timestamp_type="LogAppendTime" if header.timestamp_type else "CreateTime",
        codec=CODECS[header.compression] if header.compression < len(CODECS) else "unknown",
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        last_sequence=header.last_sequence,
        is_transactional=header.is_transactional,
        is_control=header.is_control,
        control_type=_control_type(decoded) if header.is_control else None,
        delete_horizon_ms=header.base_timestamp if header.has_delete_horizon else None,
        partition_leader_epoch=header.partition_leader_epoch,
        position=pos if position is None else position,
        size=header.size,
        crc=header.crc,
        crc_valid=valid,
        records=decoded if records else None,
        error=error,
    )


def _control_type(decoded: tuple[RecordRow, ...] | None) -> str | None:
    if not decoded or decoded[0].key is None or len(decoded[0].key) < _CONTROL_KEY.size:
        return None
    _, kind = _CONTROL_KEY.unpack_from(decoded[0].key)
    return {CONTROL_ABORT: "ABORT", CONTROL_COMMIT: "COMMIT"}.get(kind, f"type {kind}")


# --- indexes -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OffsetIndexRow:
    offset: int
    position: int


@dataclass(frozen=True, slots=True)
class TimeIndexRow:
    timestamp: int
    offset: int


@dataclass(frozen=True, slots=True)
class TxnIndexRow:
    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int


def dump_offset_index(data: Buffer, base_offset: int) -> Iterator[OffsetIndexRow | str]:
    """Entries of an `.index`; a str at the end when the file has a partial entry."""
    whole = len(data) - len(data) % _OFFSET_ENTRY.size
    for i in range(0, whole, _OFFSET_ENTRY.size):
        rel, position = _OFFSET_ENTRY.unpack_from(data, i)
        yield OffsetIndexRow(base_offset + rel, position)
    if whole != len(data):
        yield f"partial entry at byte {whole} ({len(data) - whole} bytes)"


def dump_time_index(data: Buffer, base_offset: int) -> Iterator[TimeIndexRow | str]:
    """Entries of a `.timeindex`; a str at the end when the file has a partial entry."""
    whole = len(data) - len(data) % _TIME_ENTRY.size
    for i in range(0, whole, _TIME_ENTRY.size):
        timestamp, rel = _TIME_ENTRY.unpack_from(data, i)
        yield TimeIndexRow(timestamp, base_offset + rel)
    if whole != len(data):
        yield f"partial entry at byte {whole} ({len(data) - whole} bytes)"


def dump_txn_index(data: Buffer) -> Iterator[TxnIndexRow | str]:
    """Entries of a `.txnindex`; a str at the end when the file has a partial entry."""
    whole = len(data) - len(data) % _TXN_ENTRY.size
    for i in range(0, whole, _TXN_ENTRY.size):
        _, pid, first, last, lso = _TXN_ENTRY.unpack_from(data, i)
        yield TxnIndexRow(pid, first, last, lso)
    if whole != len(data):
        yield f"partial entry at byte {whole} ({len(data) - whole} bytes)"


# --- files ---------------------------------------------------------------------------------------


def file_kind(path: Path) -> tuple[str, int]:
    """(kind, base offset) from a segment file name; DumpError for anything else."""
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise DumpError(
            f"{path.name} is not a segment file: expected <20-digit base offset>.log, .index, "
            ".timeindex or .txnindex"
        )
    return match.group(2), int(match.group(1))


def iter_file(path: Path | str, *, records: bool = False) -> Iterator[object]:
    """Rows of a segment file as they are read (a str last if the file ends badly); DumpError
    when it cannot be read. A `.log` is read batch by batch with `os.pread` (never mapped: a
    running broker may truncate it meanwhile), so its size does not matter."""
    path = Path(path)
    kind, base = file_kind(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise DumpError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if kind == "log":
            yield from _read_batches(fd, records)
            return
        data = _read_all(fd)
        if kind == "index":
            yield from dump_offset_index(data, base)
        elif kind == "timeindex":
            yield from dump_time_index(data, base)
        else:
            yield from dump_txn_index(data)
    finally:
        os.close(fd)


def _read_batches(fd: int, records: bool) -> Iterator[BatchRow | str]:
    """`dump_batches` over a file, one batch in memory at a time."""
    position = 0
    while True:
        head = os.pread(fd, BATCH_HEADER_SIZE, position)
        if not head:
            return
        if len(head) < BATCH_HEADER_SIZE:
            yield f"partial batch header at position {position} ({len(head)} bytes)"
            return
        try:
            header = parse_header(head)
        except protocol_errors.CorruptRecordError as exc:
            yield f"corrupt batch at position {position}: {exc}"
            return
        batch = os.pread(fd, header.size, position)
        if len(batch) < header.size:
            yield (
                f"partial batch at position {position}: needs {header.size} bytes, "
                f"{len(batch)} left"
            )
            return
        yield batch_row(batch, 0, header, records=records, position=position)
        position += header.size


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def dump_file(path: Path | str, *, records: bool = False) -> DumpResult:
    """Every row of a segment file (see the module docstring); DumpError when unreadable."""
    path = Path(path)
    kind, base = file_kind(path)
    result = DumpResult(path, kind, base)
    for row in iter_file(path, records=records):
        if isinstance(row, str):
            result.problem = row
        else:
            result.rows.append(row)
    return result
