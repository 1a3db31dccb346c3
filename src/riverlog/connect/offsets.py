"""Source offsets: the backing stores and the per-task writer, after Kafka's `OffsetBackingStore`,
`OffsetStorageWriter` and `OffsetStorageReaderImpl`.

Keys and values are Kafka Connect's: the key is the JSON array `["<connector>", {<source partition>}]`,
the value the JSON offset map (or null once reset), both written compactly as Kafka's JsonConverter
(schemas disabled) writes them — so the offset topic of a distributed cluster holds exactly what Kafka
Connect's holds.

`FileOffsetStore` (standalone) keeps them in `offset.storage.file.filename`. Kafka writes that file as a
Java-serialized HashMap, which Python cannot sensibly write; riverlog writes a JSON document instead:
`{"format": "riverlog-connect-offsets", "version": 1, "offsets": [[<key JSON>, <value JSON>], …]}`
(write-temp, fsync, rename: a crash leaves the previous or the new file, never a torn one).

Invariant: a writer's offsets become visible to readers only after `flush` stored them; a flush stores
exactly the offsets snapshotted by `begin_flush`, so offsets of records still in flight are never stored
ahead of the records (the caller snapshots after the producer has delivered everything polled so far).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from riverlog.connect.api import JsonMap, OffsetStorageReader, partition_key
from riverlog.connect.json_format import dumps

OffsetKey = tuple[str, Any]  # (connector, frozen partition)


def key_bytes(connector: str, partition: Mapping[str, Any]) -> bytes:
    return dumps([connector, dict(partition)]).encode()


def value_bytes(offset: Mapping[str, Any] | None) -> bytes | None:
    return None if offset is None else dumps(dict(offset)).encode()


class OffsetStore:
    """Kafka's `OffsetBackingStore`: (connector, partition) -> offset map."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[OffsetKey, tuple[JsonMap, JsonMap | None]] = {}

    def get(
        self, connector: str, partitions: Sequence[Mapping[str, Any]]
    ) -> dict[Any, JsonMap | None]:
        with self._lock:
            out: dict[Any, JsonMap | None] = {}
            for p in partitions:
                entry = self._data.get((connector, partition_key(p)))
                out[partition_key(p)] = entry[1] if entry else None
            return out

    def connector_offsets(self, connector: str) -> list[tuple[JsonMap, JsonMap | None]]:
        with self._lock:
            return [v for (c, _), v in self._data.items() if c == connector and v[1] is not None]

    def put(self, connector: str, offsets: Mapping[Any, tuple[JsonMap, JsonMap | None]]) -> None:
        """Store (partition, offset) pairs keyed by frozen partition; None offsets erase."""
        with self._lock:
            for frozen, (partition, offset) in offsets.items():
                if offset is None:
                    self._data.pop((connector, frozen), None)
                else:
                    self._data[(connector, frozen)] = (dict(partition), dict(offset))
            self._persist()

    def apply_record(self, key: bytes, value: bytes | None) -> None:
        """Replay one record of Kafka's offset format (used by the file and topic stores)."""
        try:
            parsed = json.loads(key)
            connector, partition = parsed[0], parsed[1]
        except (ValueError, IndexError, TypeError, KeyError):
            return  # not an offset key we understand: Kafka's store logs and skips it too
        if not isinstance(connector, str) or not isinstance(partition, dict):
            return
        frozen = partition_key(partition)
        with self._lock:
            if value is None:
                self._data.pop((connector, frozen), None)
            else:
                self._data[(connector, frozen)] = (partition, json.loads(value))

    def _persist(self) -> None:
        """Hook for durable stores (called with the lock held)."""

    def close(self) -> None:
        pass


class MemoryOffsetStore(OffsetStore):
    pass


class FileOffsetStore(OffsetStore):
    """Standalone offsets in one JSON file (see the module docstring for the format)."""

    FORMAT = "riverlog-connect-offsets"

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._load()

    def _load(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        try:
            doc = json.loads(self.path.read_text())
        except ValueError:
            raise ValueError(
                f"{self.path}: not a riverlog offsets file (Kafka's Java-serialized offset files are not readable)"
            ) from None
        if not isinstance(doc, dict) or doc.get("format") != self.FORMAT:
            raise ValueError(f"{self.path}: not a riverlog offsets file")
        for key, value in doc.get("offsets", []):
            self.apply_record(dumps(key).encode(), None if value is None else dumps(value).encode())

    def _persist(self) -> None:
        entries = [[[c, p], o] for (c, _), (p, o) in self._data.items()]
        text = json.dumps(
            {"format": self.FORMAT, "version": 1, "offsets": entries}, separators=(",", ":")
        )
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


class TaskOffsetReader(OffsetStorageReader):
    """The view a source task gets: offsets of its own connector."""

    def __init__(self, store: OffsetStore, connector: str) -> None:
        self.store = store
        self.connector = connector

    def offsets(self, partitions: Sequence[Mapping[str, Any]]) -> dict[Any, JsonMap | None]:
        return self.store.get(self.connector, partitions)


class OffsetWriter:
    """Kafka's `OffsetStorageWriter`: offsets noted per record, stored in snapshots by `flush`."""

    def __init__(self, store: OffsetStore, connector: str) -> None:
        self.store = store
        self.connector = connector
        self._pending: dict[Any, tuple[JsonMap, JsonMap | None]] = {}
        self._lock = threading.Lock()
        self._last_partition: Mapping[str, Any] | None = None
        self._last_key: Any = None

    def offset(self, partition: Mapping[str, Any] | None, offset: Mapping[str, Any] | None) -> None:
        if partition is None:
            return
        # Tasks usually pass the same partition map for a whole poll: its frozen key is kept.
        if partition is self._last_partition:
            key = self._last_key
        else:
            key = partition_key(partition)
            self._last_partition, self._last_key = partition, key
        with self._lock:
            self._pending[key] = (partition, offset)  # type: ignore[assignment]

    def begin_flush(self) -> dict[Any, tuple[JsonMap, JsonMap | None]]:
        with self._lock:
            snapshot, self._pending = self._pending, {}
            return snapshot

    def flush(self, snapshot: Mapping[Any, tuple[JsonMap, JsonMap | None]]) -> None:
        if snapshot:
            self.store.put(self.connector, snapshot)
