"""ProcessorStateManager: builds a task's stores, restores them from their changelogs and keeps the
`.checkpoint` file.

Files: `state_dir/<application.id>/<task id>/.checkpoint` in Kafka's text format (line 1 version `0`,
line 2 the number of entries, then `topic partition offset` lines; the offset is the next one to read),
written to a temp file and renamed; RocksDB stores in `…/<task id>/rocksdb/<store>/`.
Invariants: only persistent stores are checkpointed (in-memory stores restore from offset 0);
under exactly-once the checkpoint is deleted once processing starts, so a crash leaves none, and a
persistent store found without a checkpoint under exactly-once is wiped and restored from scratch.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from riverlog.streams.records import InputRecord, RecordContext, TaskId, TopicPartition
from riverlog.streams.serdes import Serde
from riverlog.streams.state.bytes_map import BytesMap, InMemoryBytesMap, RocksBytesMap
from riverlog.streams.state.layered import ChangelogSink, LayeredBytesStore
from riverlog.streams.state.stores import (
    SessionStore,
    TimestampedKeyValueStore,
    TimestampedWindowStore,
    _TypedStore,
)
from riverlog.streams.state.suppress_buffer import SuppressionBuffer
from riverlog.streams.topology import StoreSpec

log = logging.getLogger("riverlog.streams")
CHECKPOINT = ".checkpoint"


def read_checkpoint(path: Path) -> dict[TopicPartition, int]:
    if not path.exists():
        return {}
    lines = path.read_text().split("\n")
    if lines[0].strip() != "0":
        raise ValueError(f"{path}: unknown checkpoint version {lines[0]!r}")
    count = int(lines[1])
    out: dict[TopicPartition, int] = {}
    for line in lines[2 : 2 + count]:
        topic, part, off = line.rsplit(" ", 2)
        out[TopicPartition(topic, int(part))] = int(off)
    return out


def write_checkpoint(path: Path, offsets: dict[TopicPartition, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    body = [
        "0",
        str(len(offsets)),
        *(
            f"{tp.topic} {tp.partition} {off}"
            for tp, off in sorted(offsets.items(), key=lambda kv: (kv[0].topic, kv[0].partition))
        ),
    ]
    with open(tmp, "w") as f:
        f.write("\n".join(body) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ProcessorStateManager:
    def __init__(
        self,
        task_id: TaskId,
        application_id: str,
        state_dir: Path | None,
        eos: bool,
        default_store_persistent: bool,
        changelog_sink: ChangelogSink,
        cache_max_bytes: int,
        context: Callable[[], RecordContext],
    ) -> None:
        self.task_id = task_id
        self.application_id = application_id
        self.eos = eos
        self.task_dir = (
            None if state_dir is None else Path(state_dir) / application_id / str(task_id)
        )
        self.default_persistent = default_store_persistent and state_dir is not None
        self.changelog_sink = changelog_sink
        self.cache_max_bytes = cache_max_bytes
        self.context = context
        self.stores: dict[str, Any] = {}  # typed stores and suppression buffers
        self._rocks: list[RocksBytesMap] = []  # persisted before every checkpoint
        self.by_changelog: dict[TopicPartition, Any] = {}
        self.offsets: dict[TopicPartition, int] = {}  # changelog tp -> next offset
        self.checkpointed: dict[TopicPartition, int] = (
            read_checkpoint(self.task_dir / CHECKPOINT) if self.task_dir is not None else {}
        )

    def changelog_tp(self, store: str) -> TopicPartition:
        return TopicPartition(f"{self.application_id}-{store}-changelog", self.task_id.partition)

    def register(
        self, spec: StoreSpec, key_serde: Serde[Any], value_serde: Serde[Any], caching: bool
    ) -> Any:
        if spec.kind == "buffer":
            return self._register_buffer(spec, key_serde, value_serde)
        persistent = (
            self.default_persistent
            if spec.persistent is None
            else (spec.persistent and self.task_dir is not None)
        )
        tp = self.changelog_tp(spec.name)
        inner: BytesMap
        if persistent:
            assert self.task_dir is not None
            path = self.task_dir / "rocksdb" / spec.name
            if self.eos and path.exists() and tp not in self.checkpointed:
                log.info(
                    "task %s: no checkpoint for %s under exactly-once: wiping it",
                    self.task_id,
                    spec.name,
                )
                shutil.rmtree(path, ignore_errors=True)
            inner = RocksBytesMap(path)
            self._rocks.append(inner)
        else:
            inner = InMemoryBytesMap()
        to_changelog = {
            "kv": TimestampedKeyValueStore.to_changelog,
            "window": TimestampedWindowStore.to_changelog,
            "session": SessionStore.to_changelog,
        }[spec.kind]
        layer = LayeredBytesStore(
            spec.name,
            inner,
            to_changelog,
            self.changelog_sink if spec.logging else None,
            self.cache_max_bytes if caching else 0,
        )
        store: _TypedStore
        if spec.kind == "window":
            store = TimestampedWindowStore(
                spec.name,
                layer,
                key_serde,
                value_serde,
                tp.topic,
                self.context,
                spec.retention_ms,
                window_size_ms=spec.window_size_ms,
                retain_duplicates=spec.retain_duplicates,
            )
        elif spec.kind == "session":
            store = SessionStore(
                spec.name, layer, key_serde, value_serde, tp.topic, self.context, spec.retention_ms
            )
        else:
            store = TimestampedKeyValueStore(
                spec.name, layer, key_serde, value_serde, tp.topic, self.context
            )
        self.stores[spec.name] = store
        if spec.logging:
            self.by_changelog[tp] = store
            if persistent and tp in self.checkpointed:
                self.offsets[tp] = self.checkpointed[tp]
        return store

    def _register_buffer(
        self, spec: StoreSpec, key_serde: Serde[Any], value_serde: Serde[Any]
    ) -> Any:
        tp = self.changelog_tp(spec.name)
        buffer = SuppressionBuffer(
            spec.name,
            key_serde,
            value_serde,
            tp.topic,
            self.changelog_sink if spec.logging else None,
            lambda: self.context().timestamp,
        )
        self.stores[spec.name] = buffer
        if spec.logging:
            self.by_changelog[tp] = buffer
        return buffer

    def changelog_offsets_to_restore(self) -> dict[TopicPartition, int]:
        return {tp: self.offsets.get(tp, 0) for tp in self.by_changelog}

    def restore(self, tp: TopicPartition, records: list[InputRecord]) -> None:
        store = self.by_changelog[tp]
        for r in records:
            if r.key is not None:
                store.restore(r.key, r.value, r.timestamp)
            self.offsets[tp] = r.offset + 1

    def update_changelog_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, off in offsets.items():
            if tp in self.by_changelog:
                self.offsets[tp] = off

    def flush(self) -> None:
        for s in self.stores.values():
            s.flush()

    def checkpoint(self) -> None:
        if self.task_dir is None:
            return
        persistent = {
            tp: off for tp, off in self.offsets.items() if self.by_changelog[tp].persistent()
        }
        for db in self._rocks:  # the checkpoint vouches for what is on disk
            db.persist()
        if persistent or (self.task_dir / CHECKPOINT).exists():
            write_checkpoint(self.task_dir / CHECKPOINT, persistent)

    def delete_checkpoint(self) -> None:
        if self.task_dir is not None:
            (self.task_dir / CHECKPOINT).unlink(missing_ok=True)

    def close(self) -> None:
        for s in self.stores.values():
            s.close()
