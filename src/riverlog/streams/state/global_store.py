"""Global stores (`builder.global_table`): one in-memory table per instance, filled from every
partition of its source topic (which is its changelog: no extra topic), shared by all tasks.

Invariants: a global store is written only by its updater (the runtime's global thread or the test
driver) and read by tasks and queries; a record with a null key is skipped; a null value deletes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from riverlog.streams.records import RecordContext
from riverlog.streams.serdes import Serde
from riverlog.streams.state.bytes_map import InMemoryBytesMap
from riverlog.streams.state.layered import LayeredBytesStore
from riverlog.streams.state.stores import TimestampedKeyValueStore


@dataclass
class GlobalStoreSpec:
    name: str
    topic: str
    key_serde: Serde[Any] | None
    value_serde: Serde[Any] | None


def make_global_store(
    spec: GlobalStoreSpec, key_serde: Serde[Any], value_serde: Serde[Any]
) -> TimestampedKeyValueStore:
    layer = LayeredBytesStore(
        spec.name, InMemoryBytesMap(), TimestampedKeyValueStore.to_changelog, None, 0
    )
    ctx = RecordContext(-1, [], spec.topic, -1, -1)
    return TimestampedKeyValueStore(
        spec.name, layer, key_serde, value_serde, spec.topic, lambda: ctx
    )


def apply(store: TimestampedKeyValueStore, key: bytes | None, value: bytes | None, ts: int) -> None:
    """Apply one source-topic record to a global store."""
    if key is not None:
        store.restore(key, value, ts)
