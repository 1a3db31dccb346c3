"""Global stores (`builder.global_table`): one table per instance, filled from every partition of
its source topic (which is its changelog: no extra topic), shared by all tasks.

Files (the runtime, persistent stores — the default, as `default.dsl.store=rocksDB`):
`state.dir/<application.id>/global/rocksdb/<store>/` and `…/global/.checkpoint` (Kafka's format: the
next source-topic offset per partition reflected in the stores), as Kafka's `GlobalStateManagerImpl`.
A restart reads each partition from its checkpointed offset; a persistent store found without a
checkpoint, or a checkpoint outside the topic's offsets, is wiped and reloaded from the beginning.
In-memory stores (and the test driver's) reload from the beginning on every start.

Invariants: a global store is written only by its updater (the runtime's global thread or the test
driver) while stream threads and queries read it: every access to its map holds the map's lock
(ranges are copied out under it); a record with a null key is skipped; a null value deletes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riverlog.streams.records import RecordContext
from riverlog.streams.serdes import Serde
from riverlog.streams.state.bytes_map import BytesMap, InMemoryBytesMap, RocksBytesMap
from riverlog.streams.state.layered import LayeredBytesStore
from riverlog.streams.state.stores import TimestampedKeyValueStore


@dataclass
class GlobalStoreSpec:
    name: str
    topic: str
    key_serde: Serde[Any] | None
    value_serde: Serde[Any] | None
    persistent: bool | None = None  # None: `default.dsl.store`


class LockedBytesMap:
    """A bytes map shared by one writer thread and reader threads."""

    def __init__(self, inner: BytesMap) -> None:
        self.inner = inner
        self.persistent = inner.persistent
        self.lock = threading.RLock()

    def get(self, key: bytes) -> bytes | None:
        with self.lock:
            return self.inner.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        with self.lock:
            self.inner.put(key, value)

    def range(
        self, lo: bytes | None, hi: bytes | None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        with self.lock:
            rows = list(self.inner.range(lo, hi, reverse))
        return iter(rows)

    def delete_range(self, lo: bytes, hi: bytes) -> None:
        with self.lock:
            self.inner.delete_range(lo, hi)

    def count(self) -> int:
        with self.lock:
            return self.inner.count()

    def flush(self) -> None:
        with self.lock:
            self.inner.flush()

    def persist(self) -> None:
        with self.lock:
            if isinstance(self.inner, RocksBytesMap):
                self.inner.persist()
            else:
                self.inner.flush()

    def close(self) -> None:
        with self.lock:
            self.inner.close()

    def wipe(self) -> None:
        with self.lock:
            self.inner.wipe()


def make_global_store(
    spec: GlobalStoreSpec,
    key_serde: Serde[Any],
    value_serde: Serde[Any],
    directory: Path | None = None,
) -> TimestampedKeyValueStore:
    """A global store: RocksDB under `directory/rocksdb/<name>` when given and persistent."""
    inner: BytesMap
    if directory is not None and spec.persistent is not False:
        inner = RocksBytesMap(directory / "rocksdb" / spec.name)
    else:
        inner = InMemoryBytesMap()
    layer = LayeredBytesStore(
        spec.name, LockedBytesMap(inner), TimestampedKeyValueStore.to_changelog, None, 0
    )
    ctx = RecordContext(-1, [], spec.topic, -1, -1)
    return TimestampedKeyValueStore(
        spec.name, layer, key_serde, value_serde, spec.topic, lambda: ctx
    )


def locked_map(store: TimestampedKeyValueStore) -> LockedBytesMap:
    inner = store.layer.inner
    assert isinstance(inner, LockedBytesMap)
    return inner


def apply(store: TimestampedKeyValueStore, key: bytes | None, value: bytes | None, ts: int) -> None:
    """Apply one source-topic record to a global store."""
    if key is not None:
        store.restore(key, value, ts)
