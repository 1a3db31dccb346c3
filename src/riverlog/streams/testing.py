"""TopologyTestDriver: run a topology without a broker, deterministically, through the same
`StreamTask` code the runtime uses (one task per sub-topology, partition 0).

Invariants: each piped record is processed to completion before `pipe_input` returns; records written
to repartition topics are fed back to the consuming task; among tasks with buffered records the one
whose head record has the lowest timestamp runs next (as Kafka's driver, which holds every
sub-topology in one task); after each record the task commits (caches flush, so with the default
`statestore.cache.max.bytes=0` every update is emitted). Input topics without an explicit timestamp
use the driver's wall-clock time at creation, not the real clock.
"""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from riverlog.streams.records import (
    InputRecord,
    KeyValue,
    OutputRecord,
    TaskId,
    TopicPartition,
    ValueAndTimestamp,
)
from riverlog.streams.serdes import Serde, resolve_serde
from riverlog.streams.state.global_store import apply as apply_global
from riverlog.streams.state.global_store import make_global_store
from riverlog.streams.state.stores import TimestampedKeyValueStore, to_epoch_ms
from riverlog.streams.task import StreamTask
from riverlog.streams.topology import Topology
from riverlog.streams.windows import to_ms

DEFAULTS: dict[str, Any] = {
    "application.id": "topology-test-driver",
    "bootstrap.servers": "dummy-kafka-bootstrap:1234",
    "statestore.cache.max.bytes": 0,
    "processing.guarantee": "at_least_once",
    "default.dsl.store": "in_memory",
}


@dataclass
class TestRecord:
    """A record read from (or piped to) the driver."""

    key: Any
    value: Any
    timestamp: int | None = None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)

    __test__ = False  # not a pytest class


def _serde_or_default(serde: Serde[Any] | None, config: Mapping[str, Any], key: str) -> Serde[Any]:
    out = serde or resolve_serde(config.get(key), key)
    if out is None:
        raise ValueError(f"a global table needs serdes: set them in Consumed or {key}")
    return out


class TopologyTestDriver:
    __test__ = False

    def __init__(
        self,
        topology: Topology,
        config: Mapping[str, Any] | None = None,
        initial_wall_clock_time_ms: int | datetime = 0,
    ) -> None:
        self.config = {**DEFAULTS, **dict(config or {})}
        if "state.dir" in (config or {}):
            self.config.setdefault("default.dsl.store", "rocksDB")
            if "default.dsl.store" not in (config or {}):
                self.config["default.dsl.store"] = "rocksDB"
        self.application_id = str(self.config["application.id"])
        self.topology = topology
        self.wall_clock_ms = to_epoch_ms(initial_wall_clock_time_ms)
        self._tmp: str | None = None
        state_dir = self.config.get("state.dir")
        self.state_dir = None if state_dir is None else Path(str(state_dir))
        self.tasks: list[StreamTask] = []
        self._by_topic: dict[str, StreamTask] = {}
        self._offsets: dict[str, int] = {}
        self.outputs: dict[str, deque[OutputRecord]] = {}
        self._produced: dict[TopicPartition, int] = {}  # next offset per output partition
        self._global_by_topic: dict[str, Any] = {}
        topology.global_state.clear()
        for gname, gspec in topology.global_store_specs.items():
            gstore = make_global_store(
                gspec,
                _serde_or_default(gspec.key_serde, self.config, "default.key.serde"),
                _serde_or_default(gspec.value_serde, self.config, "default.value.serde"),
            )
            topology.global_state[gname] = gstore
            self._global_by_topic[gspec.topic] = gstore
        for sid, info in topology.subtopologies().items():
            real = {
                f"{self.application_id}-{t}" if topology.is_internal(t) else t
                for t in info.source_topics
            }
            task = StreamTask(
                TaskId(sid, 0),
                topology,
                {TopicPartition(t, 0) for t in real},
                self.config,
                self.application_id,
                self.state_dir,
            )
            # every topic of the driver has one partition (as in Kafka's driver)
            task.partition_counts.update(
                {f"{self.application_id}-{t}": 1 for t in topology.repartition_topics}
            )
            task.complete_restoration()
            task.maybe_punctuate(self.wall_clock_ms)
            self.tasks.append(task)
            for t in real:
                self._by_topic[t] = task

    # -- input -------------------------------------------------------------------------------
    def create_input_topic(
        self,
        name: str,
        key_serde: Serde[Any],
        value_serde: Serde[Any],
        start_timestamp: int | datetime | None = None,
        auto_advance: timedelta | None = None,
    ) -> TestInputTopic:
        if name not in self._by_topic and name not in self._global_by_topic:
            raise ValueError(f"Unknown topic: {name}")
        start = self.wall_clock_ms if start_timestamp is None else to_epoch_ms(start_timestamp)
        return TestInputTopic(
            self,
            name,
            key_serde,
            value_serde,
            start,
            0 if auto_advance is None else to_ms(auto_advance),
        )

    def pipe_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp: int,
        headers: list[tuple[str, bytes | None]] | None = None,
    ) -> None:
        gstore = self._global_by_topic.get(topic)
        if gstore is not None:  # a global table's topic: straight into its store
            apply_global(gstore, key, value, timestamp)
            return
        task = self._by_topic.get(topic)
        if task is None:
            raise ValueError(f"Unknown topic: {topic}")
        offset = self._offsets.get(topic, 0)
        self._offsets[topic] = offset + 1
        task.add_records(
            TopicPartition(topic, 0),
            [InputRecord(topic, 0, offset, timestamp, key, value, list(headers or []))],
        )
        self._complete_all_work()

    def _complete_all_work(self) -> None:
        while True:
            ready = [
                (ts, i, t)
                for i, t in enumerate(self.tasks)
                if (ts := t.head_timestamp()) is not None
            ]
            # the task holding the lowest timestamp goes first; one waiting for an empty partition
            # (max.task.idle.ms) lets the others run
            task = next(
                (
                    t
                    for _, _, t in sorted(ready, key=lambda x: (x[0], x[1]))
                    if t.process(self.wall_clock_ms)
                ),
                None,
            )
            if task is None:
                return
            task.maybe_punctuate(self.wall_clock_ms)
            task.prepare_commit()
            task.post_commit(self._capture(task))

    def _capture(self, task: StreamTask) -> dict[TopicPartition, int]:
        """Move a task's outputs to the topics; the changelog end offsets it wrote."""
        changelog_ends: dict[TopicPartition, int] = {}
        for rec in task.drain_outputs():
            self.outputs.setdefault(rec.topic, deque()).append(rec)
            tp = TopicPartition(rec.topic, rec.partition or 0)
            end = self._produced.get(tp, 0) + 1
            self._produced[tp] = end
            if rec.topic.endswith("-changelog"):
                changelog_ends[tp] = end
            if rec.topic in self._by_topic:  # repartition topic: loop back
                offset = self._offsets.get(rec.topic, 0)
                self._offsets[rec.topic] = offset + 1
                self._by_topic[rec.topic].add_records(
                    TopicPartition(rec.topic, 0),
                    [
                        InputRecord(
                            rec.topic, 0, offset, rec.timestamp, rec.key, rec.value, rec.headers
                        )
                    ],
                )
        return changelog_ends

    def advance_wall_clock_time(self, advance: timedelta | int) -> None:
        self.wall_clock_ms += to_ms(advance, "advance")
        for task in self.tasks:
            task.maybe_punctuate(self.wall_clock_ms)
            task.prepare_commit()
            task.post_commit(self._capture(task))
        self._complete_all_work()

    # -- output ------------------------------------------------------------------------------
    def create_output_topic(
        self, name: str, key_serde: Serde[Any], value_serde: Serde[Any]
    ) -> TestOutputTopic:
        return TestOutputTopic(self, name, key_serde, value_serde)

    def produced_topic_names(self) -> set[str]:
        return set(self.outputs)

    # -- stores ------------------------------------------------------------------------------
    def get_state_store(self, name: str) -> Any:
        for task in self.tasks:
            if name in task.state.stores:
                return task.state.stores[name]
        return self.topology.global_state.get(name)

    def _typed(self, name: str, kind: str) -> Any:
        store = self.get_state_store(name)
        if store is None:
            return None
        if store.kind != kind:
            raise ValueError(f"Store {name} is a {store.kind} store, not a {kind} store")
        return store

    def get_key_value_store(self, name: str) -> Any:
        return self._typed(name, "kv")

    def get_timestamped_key_value_store(self, name: str) -> Any:
        """The store with values as `ValueAndTimestamp` (Kafka's `getTimestampedKeyValueStore`)."""
        store = self._typed(name, "kv")
        return None if store is None else TimestampedKeyValueView(store)

    def get_window_store(self, name: str) -> Any:
        return self._typed(name, "window")

    get_timestamped_window_store = get_window_store

    def get_session_store(self, name: str) -> Any:
        return self._typed(name, "session")

    def get_all_state_stores(self) -> dict[str, Any]:
        return {n: s for t in self.tasks for n, s in t.state.stores.items()}

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for t in self.tasks:
            for k, v in t.metrics.items():
                out[k] = out.get(k, 0.0) + v
        return out

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        for t in self.tasks:
            t.prepare_commit()
            t.post_commit(self._capture(t))
            t.close(clean=True)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> TopologyTestDriver:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class TimestampedKeyValueView:
    """A key-value store read as `ValueAndTimestamp` values."""

    def __init__(self, store: TimestampedKeyValueStore) -> None:
        self.store = store

    def get(self, key: Any) -> ValueAndTimestamp[Any] | None:
        return self.store.get_with_timestamp(key)

    def all(self) -> list[KeyValue[Any, ValueAndTimestamp[Any]]]:
        out = []
        for kv in self.store.all():
            vt = self.store.get_with_timestamp(kv.key)
            assert vt is not None
            out.append(KeyValue(kv.key, vt))
        return out

    def approximate_num_entries(self) -> int:
        return self.store.approximate_num_entries()


class TestInputTopic:
    __test__ = False

    def __init__(
        self,
        driver: TopologyTestDriver,
        name: str,
        key_serde: Serde[Any],
        value_serde: Serde[Any],
        start_ms: int,
        advance_ms: int,
    ) -> None:
        self.driver = driver
        self.name = name
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.current_time_ms = start_ms
        self.advance_ms = advance_ms

    def advance_time(self, advance: timedelta | int) -> None:
        self.current_time_ms += to_ms(advance, "advance")

    def _ts(self, timestamp: int | datetime | None) -> int:
        if timestamp is not None:
            return to_epoch_ms(timestamp)
        ts = self.current_time_ms
        self.current_time_ms += self.advance_ms
        return ts

    def pipe_input(
        self,
        key: Any = None,
        value: Any = None,
        timestamp: int | datetime | None = None,
        headers: list[tuple[str, bytes | None]] | None = None,
    ) -> None:
        kb = self.key_serde.serialize(self.name, key)
        vb = self.value_serde.serialize(self.name, value)
        self.driver.pipe_raw(self.name, kb, vb, self._ts(timestamp), headers)

    def pipe_record(self, record: TestRecord) -> None:
        self.pipe_input(record.key, record.value, record.timestamp, record.headers)

    def pipe_value_list(self, values: Iterable[Any]) -> None:
        for v in values:
            self.pipe_input(None, v)

    def pipe_key_value_list(
        self,
        pairs: Iterable[KeyValue[Any, Any] | tuple[Any, Any]],
        start: int | datetime | None = None,
        advance: timedelta | int | None = None,
    ) -> None:
        ts = None if start is None else to_epoch_ms(start)
        step = 0 if advance is None else to_ms(advance)
        for kv in pairs:
            k, v = (kv.key, kv.value) if isinstance(kv, KeyValue) else kv
            self.pipe_input(k, v, ts)
            if ts is not None:
                ts += step

    def pipe_record_list(self, records: Iterable[TestRecord]) -> None:
        for r in records:
            self.pipe_record(r)


class TestOutputTopic:
    __test__ = False

    def __init__(
        self, driver: TopologyTestDriver, name: str, key_serde: Serde[Any], value_serde: Serde[Any]
    ) -> None:
        self.driver = driver
        self.name = name
        self.key_serde = key_serde
        self.value_serde = value_serde

    def _queue(self) -> deque[OutputRecord]:
        return self.driver.outputs.setdefault(self.name, deque())

    def read_record(self) -> TestRecord:
        q = self._queue()
        if not q:
            raise LookupError(f"Empty topic: {self.name}")
        r = q.popleft()
        return TestRecord(
            self.key_serde.deserialize(self.name, r.key),
            self.value_serde.deserialize(self.name, r.value),
            r.timestamp,
            list(r.headers),
        )

    def read_value(self) -> Any:
        return self.read_record().value

    def read_key_value(self) -> KeyValue[Any, Any]:
        r = self.read_record()
        return KeyValue(r.key, r.value)

    def read_records_to_list(self) -> list[TestRecord]:
        out = []
        while not self.is_empty():
            out.append(self.read_record())
        return out

    def read_values_to_list(self) -> list[Any]:
        return [r.value for r in self.read_records_to_list()]

    def read_key_values_to_list(self) -> list[KeyValue[Any, Any]]:
        return [KeyValue(r.key, r.value) for r in self.read_records_to_list()]

    def read_key_values_to_map(self) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for r in self.read_records_to_list():
            if r.key is None:
                raise ValueError("read_key_values_to_map cannot hold a null key")
            if r.value is None:
                out.pop(r.key, None)
            else:
                out[r.key] = r.value
        return out

    def get_queue_size(self) -> int:
        return len(self._queue())

    def is_empty(self) -> bool:
        return not self._queue()
