"""LogSegment: one `<base-offset:020d>.log` file of record batches plus its three indexes.

Format: the `.log` is record batches (magic v2) back to back, exactly as the leader wrote them
(base offset and partition leader epoch patched), no framing of our own; Kafka's tools read it.
Batches in a segment have increasing offsets, all >= the base offset and within int32 of it.
Beside it: `.index` and `.timeindex` (index.py) and, once a transaction aborts, `.txnindex`
(txn_index.py). A segment being cleaned or swapped carries a suffix on every file name
(`.cleaned`, `.swap`, `.deleted`; see `change_suffix`).

In memory: `size` (bytes of whole batches; the file may be longer only after a crash, until
recovery), `next_offset`, the max timestamp and the offset of the batch carrying it, and the
first batch's max timestamp (Kafka's "rolling based timestamp" for `segment.ms`).

Hot path: `append` takes already-validated, already-patched batches and writes them with one
`os.write`/`os.writev`; `append_produced` (one produced batch) writes the batch with a new 16-byte
head (base offset, length, leader epoch) in one `os.writev`, without copying it. An index entry
is added every `index.interval.bytes`, in memory. Reads are `os.pread`, copied into the FileSlice
at once (so a slice stays valid if the segment is later truncated or deleted).
Thread-safety: none; one event loop owns the segment. `dup_log_fd` lets a thread fsync the file
while the loop keeps appending.

Crash behaviour: the tail of `.log` may be torn or garbage and indexes may be stale or missing.
`open` flags unusable indexes (`index_error`); `recover` re-reads every batch (size, magic, CRC,
offset order), rebuilds the indexes and truncates at the first bad batch, returning what it cut.
"""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from riverlog.protocol import errors as protocol_errors
from riverlog.protocol.records import (
    BATCH_HEADER_SIZE,
    RECORD_BATCH_OVERHEAD,
    BatchHeader,
    crc_ok,
    decode_records,
    parse_header,
)
from riverlog.storage.config import LogConfig
from riverlog.storage.errors import CorruptRecordError, KafkaStorageError
from riverlog.storage.index import CorruptIndexError, OffsetIndex, TimeIndex
from riverlog.storage.txn_index import TransactionIndex

Buffer = bytes | bytearray | memoryview

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
TXN_INDEX_SUFFIX = ".txnindex"
CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
DELETED_SUFFIX = ".deleted"

# baseOffset, batchLength, leaderEpoch, magic, crc, attributes, lastOffsetDelta, baseTs, maxTs
_PREFIX = struct.Struct(">qiibIhiqq")
_SCAN_WINDOW = 16 * 1024
_RECOVERY_CHUNK = 1024 * 1024
_INT32_MAX = 2**31 - 1
NO_TIMESTAMP = -1


def segment_name(base_offset: int) -> str:
    """Kafka's file name stem: the base offset as 20 zero-padded digits."""
    return f"{base_offset:020d}"


@dataclass(frozen=True, slots=True)
class FileSlice:
    """Whole batches read from one segment; `read()` gives their bytes ("" when empty)."""

    data: bytes = b""
    first_offset: int = -1  # base offset of the first batch
    last_offset: int = -1  # last offset of the last batch
    position: int = -1  # byte position in the segment's .log

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self) -> bytes:
        return self.data


EMPTY_SLICE = FileSlice()


class LogSegment:
    """A segment's log file, indexes and in-memory summary."""

    def __init__(
        self, directory: Path, base_offset: int, config: LogConfig, now_ms: int, suffix: str
    ) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.config = config
        self.suffix = suffix
        stem = directory / segment_name(base_offset)
        self.log_path = stem.with_name(stem.name + LOG_SUFFIX + suffix)
        self._fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self._fd).st_size
        self.offset_index = OffsetIndex(self._path(INDEX_SUFFIX), base_offset, 0)
        self.time_index = TimeIndex(self._path(TIME_INDEX_SUFFIX), base_offset, 0)
        self.txn_index = TransactionIndex(self._path(TXN_INDEX_SUFFIX), base_offset)
        self.index_error: str | None = None  # why the indexes must be rebuilt, if they must
        self.next_offset = base_offset
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = base_offset
        self.first_batch_timestamp: int | None = None
        self.created_ms = now_ms
        jitter = config.segment_jitter_ms
        self.roll_jitter_ms = random.randrange(jitter) if jitter > 0 else 0
        self._bytes_since_index = 0

    def _path(self, kind: str) -> Path:
        return self.directory / (segment_name(self.base_offset) + kind + self.suffix)

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls, directory: Path, base_offset: int, config: LogConfig, now_ms: int, suffix: str = ""
    ) -> LogSegment:
        """A new empty segment (existing files at that name are emptied)."""
        segment = cls(directory, base_offset, config, now_ms, suffix)
        os.ftruncate(segment._fd, 0)
        segment.size = 0
        segment._size_indexes()
        segment.offset_index.rewrite()
        segment.time_index.rewrite()
        segment.txn_index.reset()
        return segment

    @classmethod
    def open(
        cls, directory: Path, base_offset: int, config: LogConfig, now_ms: int, suffix: str = ""
    ) -> LogSegment:
        """An existing segment; unusable indexes are reported in `index_error`, not raised."""
        segment = cls(directory, base_offset, config, now_ms, suffix)
        segment._size_indexes()
        try:
            segment._load_indexes()
        except (CorruptIndexError, CorruptRecordError, protocol_errors.CorruptRecordError) as exc:
            segment.index_error = str(exc)
            segment._size_indexes()
        return segment

    def _size_indexes(self) -> None:
        size = self.config.segment_index_bytes
        self.offset_index = OffsetIndex(self.offset_index.path, self.base_offset, size)
        self.time_index = TimeIndex(self.time_index.path, self.base_offset, size)

    def _load_indexes(self) -> None:
        size = self.config.segment_index_bytes
        self.offset_index = OffsetIndex.load(
            self.offset_index.path, self.base_offset, size, self.size
        )
        self._load_tail_state()
        self.time_index = TimeIndex.load(
            self.time_index.path, self.base_offset, size, self.next_offset
        )
        self.txn_index = TransactionIndex.load(self.txn_index.path, self.base_offset)
        self._recompute_max_timestamp()

    def _load_tail_state(self) -> None:
        """next_offset and the first batch's timestamp, trusting the offset index."""
        start = self.offset_index.last_position
        expected = self.offset_index.last_offset if len(self.offset_index) else None
        self.next_offset = self.base_offset
        for pos, buf, rel in self._scan(start):
            base, _, _, _, _, _, delta, _, _ = _PREFIX.unpack_from(buf, rel)
            if expected is not None and pos == start and base != expected:
                raise CorruptIndexError(f"Index entry for {expected} points at a batch of {base}")
            self.next_offset = base + delta + 1
        if self.size:
            header = parse_header(os.pread(self._fd, BATCH_HEADER_SIZE, 0))
            self.first_batch_timestamp = header.max_timestamp

    def _recompute_max_timestamp(self) -> None:
        """Max timestamp from the time index, plus the batches after the last index entry."""
        self.max_timestamp, self.offset_of_max_timestamp = self.time_index.last_entry
        for _, buf, rel in self._scan(self.offset_index.last_position):
            base, _, _, _, _, _, delta, _, max_ts = _PREFIX.unpack_from(buf, rel)
            if max_ts > self.max_timestamp:
                self.max_timestamp, self.offset_of_max_timestamp = max_ts, base + delta

    # --- summary -------------------------------------------------------------------------------

    @property
    def largest_timestamp(self) -> int:
        """Max batch timestamp, or the file's mtime when no batch has one (Kafka's rule)."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return os.fstat(self._fd).st_mtime_ns // 1_000_000

    def should_roll(
        self, messages_size: int, max_timestamp: int, last_offset: int, now_ms: int
    ) -> bool:
        """Whether an append of this shape must go to a new segment (Kafka's shouldRoll)."""
        size, config = self.size, self.config
        if size == 0:
            return False
        first = self.first_batch_timestamp
        waited = (
            max_timestamp - first if first is not None and first >= 0 else now_ms - self.created_ms
        )
        return (
            size > config.segment_bytes - messages_size
            or waited > config.segment_ms - self.roll_jitter_ms
            or self.offset_index.is_full
            or self.time_index.is_full
            or last_offset - self.base_offset > _INT32_MAX
        )

    # --- appending -----------------------------------------------------------------------------

    def append(
        self,
        chunks: Sequence[Buffer],
        total: int,
        batches: Sequence[tuple[int, int, int, int, int]],
    ) -> None:
        """Write `chunks` (whole batches, `total` bytes) and index them.

        `batches` describes each batch: (position in chunks, base offset, last offset,
        max timestamp, size).
        """
        position = self.size
        self._write(chunks, total)
        for rel, base, last, max_ts, size in batches:
            self._index_batch(position + rel, base, last, max_ts, size)
        self.size = position + total
        self.next_offset = batches[-1][2] + 1

    def append_produced(
        self, head: bytes, data: Buffer, size: int, base: int, last: int, max_ts: int, now: int
    ) -> bool:
        """The produce hot path for one batch of `size` bytes whose first 16 bytes (base offset,
        length, leader epoch: not under the CRC) are replaced by `head`.

        Returns False, writing nothing, when the batch belongs in a new segment (`should_roll`).
        Otherwise one `os.writev` of `head` and the rest of `data` — the batch is never copied —
        then the same bookkeeping as `append` (test_partition_log compares the two paths)."""
        position = self.size
        if position and self.should_roll(size, max_ts, last, now):
            return False
        try:
            written = os.writev(self._fd, (head, memoryview(data)[16:size]))
            if written != size:
                _write_fully(self._fd, memoryview(b"".join((head, data[16:size])))[written:])
        except OSError as exc:
            os.ftruncate(self._fd, self.size)  # keep the log whole-batch-aligned
            raise KafkaStorageError(f"Error appending to {self.log_path}: {exc}") from exc
        # The index bookkeeping of _index_batch, inline (it runs on every produce).
        if max_ts > self.max_timestamp:
            self.max_timestamp, self.offset_of_max_timestamp = max_ts, last
        if self.first_batch_timestamp is None:
            self.first_batch_timestamp = max_ts
        if self._bytes_since_index > self.config.index_interval_bytes:
            self.offset_index.append(base, position)
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self._bytes_since_index = size
        else:
            self._bytes_since_index += size
        self.size = position + size
        self.next_offset = last + 1
        return True

    def _index_batch(self, position: int, base: int, last: int, max_ts: int, size: int) -> None:
        # Kafka's order: max timestamp first, then maybe an index entry, then count bytes.
        if max_ts > self.max_timestamp:
            self.max_timestamp, self.offset_of_max_timestamp = max_ts, last
        if self.first_batch_timestamp is None:
            self.first_batch_timestamp = max_ts
        if self._bytes_since_index > self.config.index_interval_bytes:
            self.offset_index.append(base, position)
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self._bytes_since_index = 0
        self._bytes_since_index += size

    def append_batches(self, data: Buffer) -> None:
        """Append whole batches whose offsets are already final (cleaner, tools, tests)."""
        infos = []
        for pos, header in _iter_headers(data):
            infos.append(
                (pos, header.base_offset, header.last_offset, header.max_timestamp, header.size)
            )
        if infos:
            self.append([data], len(data), infos)

    def _write(self, chunks: Sequence[Buffer], total: int) -> None:
        try:
            if len(chunks) == 1:
                written = os.write(self._fd, chunks[0])
            else:
                written = os.writev(self._fd, chunks) if len(chunks) < 1000 else 0
            if written != total:
                _write_fully(self._fd, memoryview(b"".join(chunks))[written:])
        except OSError as exc:
            os.ftruncate(self._fd, self.size)  # keep the log whole-batch-aligned
            raise KafkaStorageError(f"Error appending to {self.log_path}: {exc}") from exc

    # --- reading -------------------------------------------------------------------------------

    def _scan(self, start: int) -> Iterator[tuple[int, bytes, int]]:
        """(position, window, offset in window) of each batch from `start` to `size`.

        Reads headers through windows of the file; the full 61-byte header is in the window.
        """
        window, window_start, pos, end = b"", start, start, self.size
        while pos < end:
            rel = pos - window_start
            if rel + BATCH_HEADER_SIZE > len(window):
                window, window_start, rel = os.pread(self._fd, _SCAN_WINDOW, pos), pos, 0
                if len(window) < BATCH_HEADER_SIZE:
                    raise CorruptRecordError(f"Truncated batch header at {pos} of {self.log_path}")
            (length,) = struct.unpack_from(">i", window, rel + 8)
            size = length + RECORD_BATCH_OVERHEAD
            if size < BATCH_HEADER_SIZE or pos + size > end:
                raise CorruptRecordError(f"Bad batch length {length} at {pos} of {self.log_path}")
            yield pos, window, rel
            pos += size

    def translate_offset(self, offset: int) -> tuple[int, int, int, int] | None:
        """(position, base offset, last offset, size) of the first batch ending at or after
        `offset`, or None when the segment has no such batch."""
        if offset >= self.next_offset:
            return None
        _, start = self.offset_index.lookup(offset)
        for pos, buf, rel in self._scan(start):
            base, length, _, _, _, _, delta, _, _ = _PREFIX.unpack_from(buf, rel)
            if base + delta >= offset:
                return pos, base, base + delta, length + RECORD_BATCH_OVERHEAD
        return None

    def read(self, offset: int, max_bytes: int, max_offset: int, min_one: bool) -> FileSlice | None:
        """Whole batches from the one holding `offset`, within `max_bytes`, ending before
        `max_offset`; the first batch even if larger than `max_bytes` when `min_one`.
        None when the segment has nothing at or after `offset`."""
        located = self.translate_offset(offset)
        if located is None:
            return None
        pos, base, last, size = located
        if last >= max_offset or (size > max_bytes and not min_one):
            return EMPTY_SLICE
        data = os.pread(self._fd, min(max(max_bytes, size), self.size - pos), pos)
        end, last_included = size, last
        while end + _PREFIX.size <= len(data):
            b_base, b_length, _, _, _, _, b_delta, _, _ = _PREFIX.unpack_from(data, end)
            b_size = b_length + RECORD_BATCH_OVERHEAD
            if end + b_size > len(data) or b_base + b_delta >= max_offset:
                break
            end, last_included = end + b_size, b_base + b_delta
        return FileSlice(data if end == len(data) else data[:end], base, last_included, pos)

    def read_batch(self, position: int, size: int) -> bytes:
        """The bytes of one batch."""
        return os.pread(self._fd, size, position)

    def iter_headers(self, start_position: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        """(position, header) of each batch from `start_position`."""
        for pos, buf, rel in self._scan(start_position):
            yield pos, parse_header(buf, rel)

    def iter_batches(self, start_position: int = 0) -> Iterator[tuple[int, BatchHeader, bytes]]:
        """(position, header, bytes) of each batch (cleaner, dump tool)."""
        for pos, header, buf, rel in self._iter_full_batches(start_position, self.size):
            yield pos, header, bytes(buf[rel : rel + header.size])

    def find_offset_by_timestamp(
        self, timestamp: int, starting_offset: int
    ) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record at or after `starting_offset` whose
        timestamp is >= `timestamp`; decodes only the batch that holds it (as Kafka)."""
        _, indexed_offset = self.time_index.lookup_before(timestamp)
        _, start = self.offset_index.lookup(max(indexed_offset, starting_offset))
        for pos, buf, rel in self._scan(start):
            base, length, _, _, _, _, delta, _, max_ts = _PREFIX.unpack_from(buf, rel)
            if max_ts < timestamp or base + delta < starting_offset:
                continue
            batch = self.read_batch(pos, length + RECORD_BATCH_OVERHEAD)
            for record in decode_records(batch, 0, parse_header(batch)):
                if record.timestamp >= timestamp and record.offset >= starting_offset:
                    return record.offset, record.timestamp
        return None

    def record_with_timestamp(self, timestamp: int) -> int | None:
        """Offset of the first record carrying exactly `timestamp` (ListOffsets MAX_TIMESTAMP)."""
        found = self.find_offset_by_timestamp(timestamp, self.base_offset)
        return found[0] if found is not None and found[1] == timestamp else None

    # --- recovery ------------------------------------------------------------------------------

    def _iter_full_batches(
        self, start: int, end: int
    ) -> Iterator[tuple[int, BatchHeader, bytes, int]]:
        """(position, header, chunk, offset in chunk) with the whole batch inside the chunk.

        Raises CorruptRecordError (protocol's) at a torn or malformed batch."""
        chunk, chunk_start, pos = b"", start, start
        while pos < end:
            rel = pos - chunk_start
            if rel + BATCH_HEADER_SIZE > len(chunk):
                chunk, chunk_start, rel = (
                    os.pread(self._fd, min(_RECOVERY_CHUNK, end - pos), pos),
                    pos,
                    0,
                )
            header = parse_header(chunk, rel)
            if rel + header.size > len(chunk):
                if pos + header.size > end:
                    raise protocol_errors.CorruptRecordError(
                        f"batch at {pos} needs {header.size} bytes, {end - pos} left"
                    )
                chunk, chunk_start, rel = os.pread(self._fd, header.size, pos), pos, 0
            yield pos, header, chunk, rel
            pos += header.size

    def recover(
        self, on_batch: Callable[[BatchHeader, bytes, int], None] | None = None
    ) -> tuple[int, str]:
        """Validate every batch, rebuild the indexes, truncate at the first bad batch.

        `on_batch(header, chunk, offset in chunk)` sees each valid batch in order (producer state,
        leader epochs). Returns (bytes truncated, why) — (0, "") for a clean segment.
        """
        file_size = os.fstat(self._fd).st_size
        self.size = file_size
        self._reset_state()
        valid, reason = 0, ""
        try:
            for pos, header, chunk, rel in self._iter_full_batches(0, file_size):
                reason = self._check_recovered_batch(header, chunk, rel, pos)
                if reason:
                    break
                self._index_batch(
                    pos, header.base_offset, header.last_offset, header.max_timestamp, header.size
                )
                self.next_offset = header.last_offset + 1
                if on_batch is not None:
                    on_batch(header, chunk, rel)
                valid = pos + header.size
        except protocol_errors.CorruptRecordError as exc:
            reason = f"{exc}"
        truncated = file_size - valid
        if truncated:
            os.ftruncate(self._fd, valid)
        self.size = valid
        self.offset_index.rewrite()
        self.time_index.rewrite()
        self.index_error = None
        return truncated, reason if truncated else ""

    def _check_recovered_batch(self, header: BatchHeader, chunk: bytes, rel: int, pos: int) -> str:
        if not crc_ok(chunk, rel, header):
            return f"CRC mismatch in batch at position {pos}"
        if header.base_offset < self.next_offset or header.last_offset_delta < 0:
            return f"batch at position {pos} has offset {header.base_offset} out of order"
        if header.last_offset - self.base_offset > _INT32_MAX:
            return f"batch at position {pos} has offset {header.last_offset} out of range"
        return ""

    def _reset_state(self) -> None:
        self.offset_index.reset()
        self.time_index.reset()
        self.txn_index.reset()
        self.next_offset = self.base_offset
        self.max_timestamp, self.offset_of_max_timestamp = NO_TIMESTAMP, self.base_offset
        self.first_batch_timestamp = None
        self._bytes_since_index = 0

    # --- truncation, flushing, files -----------------------------------------------------------

    def truncate_to(self, offset: int, now_ms: int) -> int:
        """Remove the batch holding `offset` and every later one; returns bytes removed."""
        located = self.translate_offset(offset)
        if located is None:
            return 0
        position, base = located[0], located[1]
        self.offset_index.truncate_to(base)
        self.time_index.truncate_to(base)
        self.txn_index.truncate_to(base)
        removed = self.size - position
        os.ftruncate(self._fd, position)
        self.size, self.next_offset = position, (base if position else self.base_offset)
        self._recompute_max_timestamp()
        self._bytes_since_index = 0
        if position == 0:
            self.first_batch_timestamp, self.created_ms = None, now_ms
        return removed

    def on_become_inactive(self) -> None:
        """Called on roll: a final time index entry for the max timestamp (as Kafka)."""
        self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
        self.offset_index.write_pending()
        self.time_index.write_pending()

    def write_pending_indexes(self) -> None:
        """Push buffered index entries to their files (no fsync)."""
        self.offset_index.write_pending()
        self.time_index.write_pending()

    def dup_log_fd(self) -> int:
        """A duplicate of the log's descriptor, for an fsync on another thread (caller closes)."""
        return os.dup(self._fd)

    def flush(self) -> None:
        """fsync the log, its indexes and transaction index."""
        os.fsync(self._fd)
        self.offset_index.fsync()
        self.time_index.fsync()
        self.txn_index.fsync()

    def change_suffix(self, old_suffix: str, new_suffix: str) -> None:
        """Rename every file from `old_suffix` to `new_suffix` (cleaning, swapping, deleting)."""
        if self.suffix != old_suffix:
            raise ValueError(f"{self.log_path} does not have suffix {old_suffix!r}")
        self.suffix = new_suffix
        new_log = self._path(LOG_SUFFIX)
        os.replace(self.log_path, new_log)
        self.log_path = new_log
        self.offset_index.rename(self._path(INDEX_SUFFIX))
        self.time_index.rename(self._path(TIME_INDEX_SUFFIX))
        self.txn_index.rename(self._path(TXN_INDEX_SUFFIX))

    def close(self) -> None:
        """Write pending index entries and close the log file."""
        if self._fd < 0:
            return
        self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
        self.write_pending_indexes()
        os.close(self._fd)
        self._fd = -1

    def delete(self) -> None:
        """Close and remove every file of the segment."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        for path in (self.log_path, self.offset_index.path, self.time_index.path):
            path.unlink(missing_ok=True)
        self.txn_index.delete()

    def __repr__(self) -> str:
        return f"LogSegment({self.log_path.name}, size={self.size}, next={self.next_offset})"


def _write_fully(fd: int, rest: memoryview) -> None:
    """Write all of `rest` after a short write; OSError when the file takes no more."""
    while rest:
        n = os.write(fd, rest)
        if n <= 0:
            raise OSError("short write")
        rest = rest[n:]


def _iter_headers(data: Buffer) -> Iterator[tuple[int, BatchHeader]]:
    pos = 0
    while pos < len(data):
        header = parse_header(data, pos)
        yield pos, header
        pos += header.size
