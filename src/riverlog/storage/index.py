"""Sparse segment indexes: OffsetIndex (`.index`) and TimeIndex (`.timeindex`), Kafka's formats.

OffsetIndex file: 8-byte big-endian entries (relative offset int32, position int32), relative
offsets strictly increasing, positions non-decreasing. An entry (o, p) says: the batch at byte
`p` of the segment's `.log` has base offset `base + o`. Lookup of offset t gives the greatest
entry with offset <= t, from which a forward scan of batch headers finds the batch holding t.

TimeIndex file: 12-byte big-endian entries (timestamp int64, relative offset int32), both
non-decreasing. An entry (ts, o) says: every batch up to the one ending at `base + o` has a
max timestamp <= ts, and the batch ending at `base + o` reaches ts.

Both indexes live in memory (compact `array`s) and are the authority while the segment is open;
new entries are buffered and written to the file by `write_pending()` (on flush, roll and close),
so the hot path never issues a syscall for the index. The files are never preallocated.

Crash behaviour: an index may lose its unwritten tail (harmless: the index is sparse) or hold
garbage after a power loss. `load()` checks every entry (sizes, ordering, positions inside the
log) and raises CorruptIndexError; the segment then rebuilds the index from the log, as Kafka does.
"""

from __future__ import annotations

import os
import struct
from array import array
from bisect import bisect_left, bisect_right
from pathlib import Path

from riverlog.storage.errors import StorageError

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")


class CorruptIndexError(StorageError):
    """An index file failed its sanity check; rebuild it from the log."""


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CorruptIndexError(f"Index file {path} is missing") from None


class _IndexFile:
    """The shared file handling: buffered appends, truncation, rename, delete."""

    entry_size: int

    def __init__(self, path: Path, base_offset: int, max_index_size: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self.max_entries = max(1, max_index_size // self.entry_size)
        self._written = 0  # entries already in the file

    def __len__(self) -> int:
        raise NotImplementedError

    def _pack(self, i: int) -> bytes:
        raise NotImplementedError

    @property
    def is_full(self) -> bool:
        """No room for another entry (segment.index.bytes): the segment must roll."""
        return len(self) >= self.max_entries

    def write_pending(self) -> None:
        """Append the buffered entries to the file (no fsync)."""
        count = len(self)
        if self._written == count:
            return
        pending = b"".join(self._pack(i) for i in range(self._written, count))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, pending, self._written * self.entry_size)
        finally:
            os.close(fd)
        self._written = count

    def fsync(self) -> None:
        """Write pending entries and make the file durable."""
        self.write_pending()
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _truncate_file(self, count: int) -> None:
        if count < self._written:
            os.truncate(self.path, count * self.entry_size)
            self._written = count

    def rewrite(self) -> None:
        """Replace the file with exactly the in-memory entries (after a rebuild)."""
        self.path.write_bytes(b"".join(self._pack(i) for i in range(len(self))))
        self._written = len(self)

    def rename(self, path: Path) -> None:
        """Rename the file (pending entries are written first)."""
        self.write_pending()
        os.replace(self.path, path)
        self.path = path

    def delete(self) -> None:
        """Remove the file; the in-memory entries are dropped too."""
        self.path.unlink(missing_ok=True)


class OffsetIndex(_IndexFile):
    """Maps offsets to byte positions in a segment's log (sparse)."""

    entry_size = 8

    def __init__(self, path: Path, base_offset: int, max_index_size: int) -> None:
        super().__init__(path, base_offset, max_index_size)
        self._offsets = array("q")  # absolute offsets, for bisect
        self._positions = array("q")

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def is_full(self) -> bool:
        return len(self._offsets) >= self.max_entries

    def _pack(self, i: int) -> bytes:
        return _OFFSET_ENTRY.pack(self._offsets[i] - self.base_offset, self._positions[i])

    @classmethod
    def load(cls, path: Path, base_offset: int, max_index_size: int, log_size: int) -> OffsetIndex:
        """Read and sanity-check an index file; raises CorruptIndexError."""
        data = _read_file(path)
        if len(data) % cls.entry_size:
            raise CorruptIndexError(f"Index file {path} has a partial entry ({len(data)} bytes)")
        index = cls(path, base_offset, max_index_size)
        last_rel, last_pos = -1, 0
        for rel, pos in _OFFSET_ENTRY.iter_unpack(data):
            if rel <= last_rel or pos < last_pos or pos >= log_size:
                raise CorruptIndexError(
                    f"Index file {path} has an out-of-order entry ({rel}, {pos})"
                )
            index._offsets.append(base_offset + rel)
            index._positions.append(pos)
            last_rel, last_pos = rel, pos
        index._written = len(index)
        return index

    @property
    def last_offset(self) -> int:
        """Offset of the last entry, or the base offset when empty."""
        return self._offsets[-1] if self._offsets else self.base_offset

    @property
    def last_position(self) -> int:
        """Position of the last entry, or 0 when empty."""
        return self._positions[-1] if self._positions else 0

    def append(self, offset: int, position: int) -> None:
        """Add an entry; offsets must increase (Kafka's InvalidOffsetException otherwise)."""
        if self._offsets and offset <= self._offsets[-1]:
            raise ValueError(f"Index entry for offset {offset} is not after {self._offsets[-1]}")
        self._offsets.append(offset)
        self._positions.append(position)

    def lookup(self, offset: int) -> tuple[int, int]:
        """The greatest (offset, position) entry with offset <= `offset`; (base, 0) if none."""
        i = bisect_right(self._offsets, offset)
        if i == 0:
            return self.base_offset, 0
        return self._offsets[i - 1], self._positions[i - 1]

    def truncate_to(self, offset: int) -> None:
        """Remove every entry with offset >= `offset`."""
        keep = bisect_left(self._offsets, offset)
        del self._offsets[keep:]
        del self._positions[keep:]
        self._truncate_file(keep)

    def reset(self) -> None:
        """Drop every entry (before a rebuild)."""
        self.truncate_to(self.base_offset)

    def entries(self) -> list[tuple[int, int]]:
        """All (offset, position) entries (tests and tools)."""
        return list(zip(self._offsets, self._positions, strict=True))


class TimeIndex(_IndexFile):
    """Maps timestamps to offsets in a segment (sparse, monotonic)."""

    entry_size = 12

    def __init__(self, path: Path, base_offset: int, max_index_size: int) -> None:
        super().__init__(path, base_offset, max_index_size)
        self._timestamps = array("q")
        self._offsets = array("q")

    def __len__(self) -> int:
        return len(self._timestamps)

    @property
    def is_full(self) -> bool:
        return len(self._timestamps) >= self.max_entries

    def _pack(self, i: int) -> bytes:
        return _TIME_ENTRY.pack(self._timestamps[i], self._offsets[i] - self.base_offset)

    @classmethod
    def load(cls, path: Path, base_offset: int, max_index_size: int, next_offset: int) -> TimeIndex:
        """Read and sanity-check a time index file; raises CorruptIndexError."""
        data = _read_file(path)
        if len(data) % cls.entry_size:
            raise CorruptIndexError(f"Time index {path} has a partial entry ({len(data)} bytes)")
        index = cls(path, base_offset, max_index_size)
        last_ts, last_off = -1, base_offset
        for ts, rel in _TIME_ENTRY.iter_unpack(data):
            offset = base_offset + rel
            if ts < last_ts or offset < last_off or offset >= next_offset:
                raise CorruptIndexError(
                    f"Time index {path} has an out-of-order entry ({ts}, {rel})"
                )
            index._timestamps.append(ts)
            index._offsets.append(offset)
            last_ts, last_off = ts, offset
        index._written = len(index)
        return index

    @property
    def last_entry(self) -> tuple[int, int]:
        """(timestamp, offset) of the last entry, or (-1, base offset) when empty."""
        if not self._timestamps:
            return -1, self.base_offset
        return self._timestamps[-1], self._offsets[-1]

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Add an entry when `timestamp` is greater than the last one."""
        if self._timestamps and timestamp <= self._timestamps[-1]:
            return
        if timestamp < 0:
            return
        if self._offsets and offset < self._offsets[-1]:
            raise ValueError(f"Time index offset {offset} is before {self._offsets[-1]}")
        self._timestamps.append(timestamp)
        self._offsets.append(offset)

    def lookup_before(self, timestamp: int) -> tuple[int, int]:
        """The last entry with a timestamp strictly below `timestamp`; (-1, base) if none.

        Every batch up to and including that entry's offset is older than `timestamp`, so a
        search for `timestamp` may start at the entry's offset. (Kafka uses <=, which can skip
        an earlier record carrying the same timestamp; strictly-below never does.)
        """
        i = bisect_left(self._timestamps, timestamp)
        if i == 0:
            return -1, self.base_offset
        return self._timestamps[i - 1], self._offsets[i - 1]

    def truncate_to(self, offset: int) -> None:
        """Remove every entry with offset >= `offset`."""
        keep = bisect_left(self._offsets, offset)
        del self._timestamps[keep:]
        del self._offsets[keep:]
        self._truncate_file(keep)

    def reset(self) -> None:
        """Drop every entry (before a rebuild)."""
        self.truncate_to(self.base_offset)

    def entries(self) -> list[tuple[int, int]]:
        """All (timestamp, offset) entries (tests and tools)."""
        return list(zip(self._timestamps, self._offsets, strict=True))
