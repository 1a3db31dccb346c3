"""The byte layer every store shares: a record cache over a changelog-logging sorted map.

Invariants:
- Without caching, `put` writes through: inner map, then one changelog record (key/value/timestamp as
  Kafka Streams writes them, via the store's `to_changelog`), in call order.
- With caching, `put` only updates the cache (dirty, LRU by write); `flush()` and eviction write each
  dirty entry to the inner map and the changelog and call the flush listener with (key, new, old,
  record context) so the owning processor forwards one update per key per commit; entries of a
  segment being dropped are flushed the same way just before it goes (never discarded).
- Reads see the cache first (a cached `None` is a delete).
- `restore(key, value)` applies a changelog record to the inner map only (no logging, no cache).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from riverlog.streams.records import RecordContext
from riverlog.streams.state.bytes_map import BytesMap

# (store name, changelog key, changelog value, timestamp[, headers])
ChangelogSink = Callable[..., None]
# (store key, new value, old value, record context)
FlushListener = Callable[[bytes, bytes | None, bytes | None, RecordContext], None]
# store (key, value, context) -> changelog (key, value, timestamp)
ToChangelog = Callable[[bytes, bytes | None, RecordContext], tuple[bytes, bytes | None, int]]

_ENTRY_OVERHEAD = 64


@dataclass(slots=True)
class _Entry:
    value: bytes | None
    context: RecordContext


class LayeredBytesStore:
    def __init__(
        self,
        name: str,
        inner: BytesMap,
        to_changelog: ToChangelog,
        changelog: ChangelogSink | None,
        cache_max_bytes: int,
    ) -> None:
        self.name = name
        self.inner = inner
        self._to_changelog = to_changelog
        self.changelog = changelog
        self.cache_max_bytes = cache_max_bytes
        self.caching = cache_max_bytes > 0
        self._cache: OrderedDict[bytes, _Entry] = OrderedDict()
        self._cache_bytes = 0
        self.flush_listener: FlushListener | None = None
        self.needs_old_values = True

    # -- writes ------------------------------------------------------------------------------
    def put(self, key: bytes, value: bytes | None, ctx: RecordContext) -> None:
        if not self.caching:
            self._write(key, value, ctx)
            return
        old = self._cache.pop(key, None)
        if old is not None:
            self._cache_bytes -= _size(key, old.value)
        self._cache[key] = _Entry(value, ctx)
        self._cache_bytes += _size(key, value)
        self._maybe_evict()

    def _write(self, key: bytes, value: bytes | None, ctx: RecordContext) -> None:
        self.inner.put(key, value)
        if self.changelog is not None:
            ck, cv, ts = self._to_changelog(key, value, ctx)
            self.changelog(self.name, ck, cv, ts)

    def _maybe_evict(self) -> None:
        while self._cache_bytes > self.cache_max_bytes and self._cache:
            key, entry = self._cache.popitem(last=False)
            self._flush_entry(key, entry)

    def _flush_entry(self, key: bytes, entry: _Entry) -> None:
        self._cache_bytes -= _size(key, entry.value)
        # Kafka's caching stores read the old value only when it is forwarded or the entry is a
        # delete (a delete of a key that never reached the store is not forwarded)
        listener = self.flush_listener
        old = None
        if listener is not None and (entry.value is None or self.needs_old_values):
            old = self.inner.get(key)
        self._write(key, entry.value, entry.context)
        if listener is not None and (entry.value is not None or old is not None):
            listener(key, entry.value, old, entry.context)

    def flush_cache(self) -> None:
        """Write every dirty cached entry (in write order) and forward it."""
        while self._cache:
            key, entry = self._cache.popitem(last=False)
            self._flush_entry(key, entry)

    def delete_range_inner(self, lo: bytes, hi: bytes) -> None:
        """Drop expired segments (no changelog: retention on the topic expires them there).

        Dirty cached entries in the range are flushed first, in write order (written, logged and
        forwarded), as Kafka's caching stores do: an update is never lost because its segment
        expired before the next commit."""
        if self._cache:
            for k in [k for k in self._cache if lo <= k < hi]:
                self._flush_entry(k, self._cache.pop(k))
        self.inner.delete_range(lo, hi)

    def restore(self, key: bytes, value: bytes | None) -> None:
        self.inner.put(key, value)

    # -- reads -------------------------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        if self._cache:
            e = self._cache.get(key)
            if e is not None:
                return e.value
        return self.inner.get(key)

    def range(
        self, lo: bytes | None, hi: bytes | None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """`[lo, hi)` in byte order, cache merged over the inner map."""
        if not self._cache:
            yield from self.inner.range(lo, hi, reverse)
            return
        merged: dict[bytes, bytes | None] = dict(self.inner.range(lo, hi))
        for k, e in self._cache.items():
            if (lo is None or k >= lo) and (hi is None or k < hi):
                merged[k] = e.value
        for k in sorted(merged, reverse=reverse):
            v = merged[k]
            if v is not None:
                yield k, v

    def approximate_num_entries(self) -> int:
        return self.inner.count() + len(self._cache)

    def flush(self) -> None:
        self.flush_cache()
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()


def _size(key: bytes, value: bytes | None) -> int:
    return len(key) + (len(value) if value is not None else 0) + _ENTRY_OVERHEAD
