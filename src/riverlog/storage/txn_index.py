"""TransactionIndex (`.txnindex`): the aborted transactions whose ABORT marker is in a segment.

File format, Kafka's: 34-byte big-endian entries
    version int16 (0) | producer id int64 | first offset int64 | last offset int64 |
    last stable offset int64
`first offset` is the transaction's first data offset, `last offset` the offset of its ABORT
marker, `last stable offset` the partition's LSO right after the marker. Entries are in marker
order (last offsets increasing). The file exists only once a segment has an aborted transaction.

read_committed fetches ask `collect_aborted(fetch_offset, upper_offset)`: every transaction that
overlaps [fetch_offset, upper_offset). Walking stops early once an entry's last stable offset
reaches `upper_offset` (later segments can then only hold transactions that start after it).

Crash behaviour: entries are appended to the file as they happen (aborts are rare) and fsynced by
the segment's flush. A file with a partial or out-of-order entry raises CorruptIndexError; the
segment is then recovered, which rebuilds this index by replaying producer state.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from riverlog.storage.index import CorruptIndexError

_ENTRY = struct.Struct(">hqqqq")
ENTRY_SIZE = _ENTRY.size
_VERSION = 0


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    """One aborted transaction (Kafka's AbortedTxn)."""

    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int


class TransactionIndex:
    """In-memory list of a segment's aborted transactions, mirrored to its `.txnindex` file."""

    def __init__(self, path: Path, base_offset: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self._entries: list[AbortedTxn] = []
        self._dirty = False

    @classmethod
    def load(cls, path: Path, base_offset: int) -> TransactionIndex:
        """Read the file if present; raises CorruptIndexError on a bad file."""
        index = cls(path, base_offset)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return index
        if len(data) % ENTRY_SIZE:
            raise CorruptIndexError(f"Transaction index {path} has a partial entry")
        last = -1
        for version, pid, first, last_offset, lso in _ENTRY.iter_unpack(data):
            if version != _VERSION or last_offset < last or last_offset < base_offset:
                raise CorruptIndexError(
                    f"Transaction index {path} has a bad entry at {last_offset}"
                )
            index._entries.append(AbortedTxn(pid, first, last_offset, lso))
            last = last_offset
        return index

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> list[AbortedTxn]:
        """Every aborted transaction, in marker order."""
        return list(self._entries)

    def append(self, txn: AbortedTxn) -> None:
        """Record an aborted transaction (marker offsets must increase)."""
        if self._entries and txn.last_offset < self._entries[-1].last_offset:
            raise ValueError(f"Aborted txn at {txn.last_offset} is before the last one")
        self._entries.append(txn)
        record = _ENTRY.pack(
            _VERSION, txn.producer_id, txn.first_offset, txn.last_offset, txn.last_stable_offset
        )
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, record)
        finally:
            os.close(fd)
        self._dirty = True

    def collect_aborted(
        self, fetch_offset: int, upper_offset: int
    ) -> tuple[list[AbortedTxn], bool]:
        """Aborted txns overlapping [fetch_offset, upper_offset) and whether the search is done."""
        found = []
        for txn in self._entries:
            if txn.last_offset >= fetch_offset and txn.first_offset < upper_offset:
                found.append(txn)
            if txn.last_stable_offset >= upper_offset:
                return found, True
        return found, False

    def truncate_to(self, offset: int) -> None:
        """Drop the entries whose marker is at or after `offset`."""
        keep = [txn for txn in self._entries if txn.last_offset < offset]
        if len(keep) != len(self._entries):
            self._entries = keep
            self._rewrite()

    def reset(self) -> None:
        """Drop every entry and the file (before a rebuild)."""
        self._entries = []
        self.path.unlink(missing_ok=True)
        self._dirty = False

    def _rewrite(self) -> None:
        data = b"".join(
            _ENTRY.pack(
                _VERSION, t.producer_id, t.first_offset, t.last_offset, t.last_stable_offset
            )
            for t in self._entries
        )
        self.path.write_bytes(data)
        self._dirty = True

    def take_dirty(self) -> bool:
        """Whether entries were written since the last call (the caller will fsync)."""
        dirty, self._dirty = self._dirty, False
        return dirty and self.path.exists()

    def fsync(self) -> None:
        """Make appended entries durable (no-op when nothing changed)."""
        if not self._dirty:
            return
        if self.path.exists():
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._dirty = False

    def rename(self, path: Path) -> None:
        """Rename the file (if it exists)."""
        if self.path.exists():
            os.replace(self.path, path)
        self.path = path

    def delete(self) -> None:
        """Remove the file."""
        self.path.unlink(missing_ok=True)
