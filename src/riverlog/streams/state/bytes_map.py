"""Sorted byte-keyed maps that back every store: in memory (`SortedDict`) or RocksDB (`rocksdict`).

Invariants: keys iterate in unsigned lexicographic byte order (RocksDB's default comparator); a
RocksDB map lives in one directory that it owns; `flush()` hands buffered writes to the map, and a RocksDB
map's `persist()` makes them durable (RocksDB WAL is off: the changelog is the source of truth, and a
store without a checkpoint is restored from it), which the state manager does before each checkpoint.
A RocksDB map keeps the writes since its last flush in `_pending` (newest value per key, None = delete)
and hands them to RocksDB as one write batch at `flush()` (every commit), when `PENDING_MAX` keys are
waiting, or before any range operation; `get` reads `_pending` first, so reads always see every write.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from sortedcontainers import SortedDict  # type: ignore[import-untyped]


class BytesMap(Protocol):
    persistent: bool

    def get(self, key: bytes) -> bytes | None: ...
    def put(self, key: bytes, value: bytes | None) -> None: ...
    def range(
        self, lo: bytes | None, hi: bytes | None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]: ...
    def delete_range(self, lo: bytes, hi: bytes) -> None: ...
    def count(self) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def wipe(self) -> None: ...


class InMemoryBytesMap:
    """A sorted in-memory map; `range(lo, hi)` is `[lo, hi)` (None = unbounded)."""

    persistent = False

    def __init__(self) -> None:
        self._data: SortedDict = SortedDict()

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)  # type: ignore[no-any-return]

    def put(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = value

    def range(
        self, lo: bytes | None, hi: bytes | None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        keys = list(self._data.irange(lo, hi, inclusive=(True, False), reverse=reverse))
        data = self._data
        for k in keys:
            v = data.get(k)
            if v is not None:
                yield k, v

    def delete_range(self, lo: bytes, hi: bytes) -> None:
        for k in list(self._data.irange(lo, hi, inclusive=(True, False))):
            del self._data[k]

    def count(self) -> int:
        return len(self._data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def wipe(self) -> None:
        self._data.clear()


PENDING_MAX = 20_000  # keys a RocksDB map buffers before writing them as one batch
_MISSING = object()


class RocksBytesMap:
    """A RocksDB database in `path` (created if missing), written in batches (see the module doc)."""

    persistent = True

    def __init__(self, path: Path) -> None:
        from rocksdict import Options, Rdict, WriteOptions

        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        self._db = Rdict(str(path), opts)
        wo = WriteOptions()
        wo.disable_wal = True  # type: ignore[method-assign,assignment]  # a property at runtime
        self._db.set_write_options(wo)
        self._pending: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        value = self._pending.get(key, _MISSING)
        if value is _MISSING:
            return self._db.get(key)  # type: ignore[no-any-return]
        return value  # type: ignore[return-value]

    def put(self, key: bytes, value: bytes | None) -> None:
        pending = self._pending
        pending[key] = value
        if len(pending) >= PENDING_MAX:
            self._write_pending()

    def _write_pending(self) -> None:
        from rocksdict import WriteBatch

        if not self._pending:
            return
        batch = WriteBatch(raw_mode=True)
        for key, value in self._pending.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        self._db.write(batch)
        self._pending = {}

    def range(
        self, lo: bytes | None, hi: bytes | None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        self._write_pending()
        it = self._db.iter()
        if not reverse:
            if lo is None:
                it.seek_to_first()
            else:
                it.seek(lo)
            while it.valid():
                k = it.key()
                if hi is not None and k >= hi:
                    break
                yield k, it.value()
                it.next()
        else:
            if hi is None:
                it.seek_to_last()
            else:
                it.seek_for_prev(hi)
                if it.valid() and it.key() >= hi:
                    it.prev()
            while it.valid():
                k = it.key()
                if lo is not None and k < lo:
                    break
                yield k, it.value()
                it.prev()

    def delete_range(self, lo: bytes, hi: bytes) -> None:
        self._write_pending()
        self._db.delete_range(lo, hi)

    def count(self) -> int:
        self._write_pending()
        est = self._db.property_int_value("rocksdb.estimate-num-keys")
        return int(est or 0)

    def flush(self) -> None:
        self._write_pending()

    def persist(self) -> None:
        """Write RocksDB's memtables to disk (the WAL is off): before a checkpoint names this state."""
        self._write_pending()
        self._db.flush()

    def close(self) -> None:
        self._write_pending()
        self._db.close()

    def wipe(self) -> None:
        self._pending = {}
        self._db.close()
        shutil.rmtree(self.path, ignore_errors=True)
        self._db = RocksBytesMap(self.path)._db
