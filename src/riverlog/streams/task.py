"""StreamTask: one sub-topology on one partition group, sans-I/O (no Kafka, sockets, threads, clocks).

The runtime (or `TopologyTestDriver`) hands it raw records per partition and the wall-clock time; the
task deserializes them on arrival, picks the buffered record with the lowest timestamp across its
partitions (waiting up to `max.task.idle.ms` while a partition is empty), runs it through the
processor graph depth-first, and collects sink, repartition and changelog records for the runtime to
produce. Invariants: stream time = the max timestamp of the records processed; committed offsets are
(last processed offset + 1) per input partition; `prepare_commit` flushes caches (their forwards and
changelog writes land in `drain_outputs`) before the offsets are handed out.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riverlog.streams.errors import StreamsException
from riverlog.streams.processors.base import Processor, ProcessorNode
from riverlog.streams.processors.stateless import SourceProcessor
from riverlog.streams.punctuation import (
    Cancellable,
    PunctuationQueue,
    PunctuationSchedule,
    PunctuationType,
    Punctuator,
)
from riverlog.streams.records import (
    InputRecord,
    OutputRecord,
    Record,
    RecordContext,
    TaskId,
    TopicPartition,
)
from riverlog.streams.serdes import (
    ChangedSerde,
    Serde,
    SessionWindowedSerde,
    TimeWindowedSerde,
    resolve_serde,
)
from riverlog.streams.state_manager import ProcessorStateManager
from riverlog.streams.timestamps import (
    FailOnInvalidTimestamp,
    LogAndSkipOnInvalidTimestamp,
    resolve_extractor,
)
from riverlog.streams.topology import ProcessorSpec, SinkSpec, SourceSpec, Topology

log = logging.getLogger("riverlog.streams")
NO_TIMESTAMP = -1


class _Partition:
    """One input partition: its buffered (timestamp, raw, key, value) tuples and commit position."""

    __slots__ = ("consumed", "node", "partition_time", "queue", "tp")

    def __init__(self, tp: TopicPartition) -> None:
        self.tp = tp
        self.queue: deque[tuple[int, InputRecord, Any, Any]] = deque()
        self.consumed = -1  # next offset to commit; -1 = nothing processed
        self.partition_time = -1  # max timestamp seen in this partition
        self.node: ProcessorNode | None = None


@dataclass(slots=True)
class ConsumedRecord:
    """What a timestamp extractor sees (Kafka's `ConsumerRecord`, deserialized)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: Any
    value: Any
    headers: list[tuple[str, bytes | None]]
    wall_clock_ms: int = 0


class SinkProcessor(Processor):
    def __init__(
        self, task: StreamTask, spec: SinkSpec, key_serde: Serde[Any], value_serde: Serde[Any]
    ) -> None:
        self.task = task
        self.spec = spec
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.topic = None if spec.topic is None else task.real_topic(spec.topic)
        self._warned = False
        self._serialize_key = key_serde.serialize
        self._serialize_value = value_serde.serialize

    def process(self, record: Record) -> None:
        topic = self.topic
        if topic is None:
            assert self.spec.extractor is not None
            topic = self.spec.extractor(record.key, record.value, self.task.record_context)
        kb = self._serialize_key(topic, record.key)
        vb = self._serialize_value(topic, record.value)
        partition = None
        if self.spec.partitioner is not None:
            n = self.task.partition_count(topic)
            if n is not None:
                partition = self.spec.partitioner(topic, record.key, record.value, n)
            elif not self._warned:
                self._warned = True
                log.warning(
                    "sink %s: partition count of %s unknown (task.partition_counts): the "
                    "stream partitioner is not applied, records are partitioned by key",
                    self.spec.name,
                    topic,
                )
        if record.timestamp < 0:
            raise StreamsException(
                f"Invalid (negative) timestamp of {record.timestamp} for output record",
                self.spec.name,
            )
        self.task.outputs.append(
            OutputRecord(topic, partition, kb, vb, record.timestamp, record.headers)
        )


class StreamTask:
    def __init__(
        self,
        task_id: TaskId,
        topology: Topology,
        input_partitions: set[TopicPartition],
        config: Mapping[str, Any],
        application_id: str,
        state_dir: Path | None,
    ) -> None:
        self.id = task_id
        self.topology = topology
        self.application_id = application_id
        self.config = config
        self.eos = str(config.get("processing.guarantee", "at_least_once")).startswith(
            "exactly_once"
        )
        self.max_idle_ms = int(config.get("max.task.idle.ms", 0))
        self.default_key_serde = resolve_serde(config.get("default.key.serde"), "default.key.serde")
        self.default_value_serde = resolve_serde(
            config.get("default.value.serde"), "default.value.serde"
        )
        self.timestamp_extractor = resolve_extractor(config.get("default.timestamp.extractor"))
        self._wall_clock_ms = 0
        self._wall_known = False
        self._stream_punctuations = PunctuationQueue()
        self._wall_punctuations = PunctuationQueue()
        handler = str(
            config.get("default.deserialization.exception.handler", "log-and-fail")
        ).lower()
        self.skip_bad_records = "continue" in handler
        self.outputs: list[OutputRecord] = []
        self._dropped = 0
        self._processed = 0
        self.stream_time = NO_TIMESTAMP
        self._rc: RecordContext | None = RecordContext(NO_TIMESTAMP, [], None, -1, -1)
        self._cur: tuple[int, InputRecord] | None = None
        self.partition_counts: dict[str, int] = {}
        self._partitions: dict[TopicPartition, _Partition] = {
            tp: _Partition(tp) for tp in input_partitions
        }
        self._sources: dict[str, SourceSpec] = {}
        self._idle_since: int | None = None
        self._current: ProcessorNode | None = None
        self._closed = False
        cache = int(
            config.get("statestore.cache.max.bytes", config.get("cache.max.bytes.buffering", 0))
            or 0
        )
        info = topology.subtopologies()[task_id.subtopology]
        self.state = ProcessorStateManager(
            task_id,
            application_id,
            state_dir,
            self.eos,
            str(config.get("default.dsl.store", "rocksDB")).lower() != "in_memory",
            self._log_change,
            cache // max(1, len(info.stores)) if cache > 0 else 0,
            lambda: self.record_context,
        )
        self._build(info.nodes)

    # -- building ----------------------------------------------------------------------------
    def real_topic(self, topic: str) -> str:
        return f"{self.application_id}-{topic}" if self.topology.is_internal(topic) else topic

    def _serde(self, serde: Serde[Any] | None, is_key: bool) -> Serde[Any]:
        if isinstance(serde, ChangedSerde) and serde.inner is None:
            return ChangedSerde(self._serde(None, False))
        if isinstance(serde, TimeWindowedSerde) and serde.inner is None:
            return TimeWindowedSerde(self._serde(None, True), serde.window_size_ms)
        if isinstance(serde, SessionWindowedSerde) and serde.inner is None:
            return SessionWindowedSerde(self._serde(None, True))
        if serde is not None:
            return serde
        default = self.default_key_serde if is_key else self.default_value_serde
        if default is None:
            which = "key" if is_key else "value"
            raise StreamsException(
                f"Please specify a {which} serde for {self._building or 'this topology'} or set one "
                f"through default.{which}.serde"
            )
        return default

    def _build(self, names: tuple[str, ...]) -> None:
        topo = self.topology
        self._building: str | None = None
        self._source_serdes: dict[str, tuple[Serde[Any], Serde[Any]]] = {}
        store_names: list[str] = []
        for n in names:
            pspec = topo.nodes[n]
            if isinstance(pspec, ProcessorSpec):
                store_names.extend(s for s in pspec.stores if s not in store_names)
        for store in store_names:
            sspec = topo.stores[store]
            self._building = f"store {store}"
            self.state.register(
                sspec,
                self._serde(sspec.key_serde, True),
                self._serde(sspec.value_serde, False),
                sspec.caching,
            )
        self.nodes: dict[str, ProcessorNode] = {}
        self.source_nodes: dict[str, ProcessorNode] = {}
        for n in names:
            spec = topo.nodes[n]
            proc: Processor
            self._building = f"node {n}"
            if isinstance(spec, SourceSpec):
                proc = SourceProcessor()
                serdes = (self._serde(spec.key_serde, True), self._serde(spec.value_serde, False))
                for t in spec.topics:
                    self._sources[self.real_topic(t)] = spec
                    self._source_serdes[self.real_topic(t)] = serdes
            elif isinstance(spec, SinkSpec):
                proc = SinkProcessor(
                    self,
                    spec,
                    self._serde(spec.key_serde, True),
                    self._serde(spec.value_serde, False),
                )
            else:
                proc = spec.supplier()
            node = ProcessorNode(n, proc)
            if isinstance(spec, SourceSpec):
                for t in spec.topics:
                    self.source_nodes[self.real_topic(t)] = node
            self.nodes[n] = node
        for n in names:
            for p in getattr(topo.nodes[n], "parents", []):
                self.nodes[p].add_child(self.nodes[n])
        for node in self.nodes.values():
            self._current = node
            node.processor.init(self)  # type: ignore[arg-type]
        self._current = None

    # -- the processor context ---------------------------------------------------------------
    @property
    def record_context(self) -> RecordContext:
        """The current record's context (topic, partition, offset, timestamp, headers)."""
        rc = self._rc
        if rc is None:
            assert self._cur is not None
            ts, raw = self._cur
            rc = self._rc = RecordContext(ts, raw.headers, raw.topic, raw.partition, raw.offset)
        return rc

    @record_context.setter
    def record_context(self, rc: RecordContext) -> None:
        self._rc = rc

    @property
    def task_id(self) -> TaskId:
        return self.id

    def current_node_name(self) -> str:
        return self._current.name if self._current is not None else ""

    def get_state_store(self, name: str) -> Any:
        store = self.state.stores.get(name)
        if store is None:
            store = self.topology.global_state.get(name)
        if store is None:
            raise StreamsException(
                f"Processor {self.current_node_name()} has no access to StateStore {name}"
            )
        return store

    def schedule(
        self, interval: Any, punctuation_type: PunctuationType, callback: Punctuator
    ) -> Cancellable:
        """Kafka's `context.schedule`: call `callback(time)` every `interval` of stream or wall-clock
        time (see `riverlog.streams.punctuation` for the firing rules)."""
        from riverlog.streams.windows import to_ms

        ms = to_ms(interval, "interval")
        if ms < 1:
            raise ValueError("The minimum supported scheduling interval is 1 millisecond.")
        node = self.current_node_name()
        if punctuation_type is PunctuationType.STREAM_TIME:
            sched = self._stream_punctuations.schedule(node, 0, ms, callback)
        elif punctuation_type is PunctuationType.WALL_CLOCK_TIME:
            start = self._wall_clock_ms + ms if self._wall_known else -1
            sched = self._wall_punctuations.schedule(node, start, ms, callback)
        else:
            raise ValueError(f"unknown punctuation type {punctuation_type!r}")
        return Cancellable(sched)

    def _set_wall_clock(self, wall_clock_ms: int) -> None:
        self._wall_clock_ms = wall_clock_ms
        if not self._wall_known:
            self._wall_known = True
            self._wall_punctuations.rebase_pending(wall_clock_ms)

    def _punctuate(self, sched: PunctuationSchedule, now: int) -> None:
        prev_node, prev_rc = self._current, self._rc
        self._current = self.nodes.get(sched.node)
        self._rc = RecordContext(now, [], None, -1, -1)
        try:
            sched.punctuator(now)
        except StreamsException:
            raise
        except Exception as e:
            raise StreamsException(
                f"Exception caught while punctuating processor '{sched.node}': {e!r}", sched.node
            ) from e
        finally:
            self._current, self._rc = prev_node, prev_rc

    def record_dropped(self, node: str, reason: str) -> None:
        self._dropped += 1

    @property
    def dropped_records(self) -> int:
        return self._dropped

    def partition_count(self, topic: str) -> int | None:
        return self.partition_counts.get(topic)

    def forward(self, record: Record, child: str | None = None) -> None:
        node = self._current
        assert node is not None
        targets = node.children if child is None else (node.children_by_name[child],)
        for c in targets:
            self._current = c
            try:
                c.process(record)
            except StreamsException:
                raise
            except Exception as e:
                rc = self.record_context
                raise StreamsException(
                    f"Exception caught in process. taskId={self.id}, processor={c.name}, topic={rc.topic}, "
                    f"partition={rc.partition}, offset={rc.offset}, error={e!r}",
                    c.name,
                ) from e
        self._current = node

    def forward_from(self, node_name: str, record: Record, ctx: RecordContext) -> None:
        """Forward as `node_name` with `ctx` as the record context (cache flushes, suppress)."""
        prev_node, prev_ctx = self._current, self.record_context
        self._current, self.record_context = self.nodes[node_name], ctx
        try:
            self.forward(record)
        finally:
            self._current, self.record_context = prev_node, prev_ctx

    def _log_change(
        self,
        store: str,
        key: bytes,
        value: bytes | None,
        timestamp: int,
        headers: list[tuple[str, bytes | None]] | None = None,
    ) -> None:
        topic = f"{self.application_id}-{store}-changelog"
        self.outputs.append(
            OutputRecord(topic, self.id.partition, key, value, timestamp, list(headers or []))
        )

    # -- restoration -------------------------------------------------------------------------
    def changelog_offsets_to_restore(self) -> dict[TopicPartition, int]:
        return self.state.changelog_offsets_to_restore()

    def restore(self, tp: TopicPartition, records: list[InputRecord]) -> None:
        self.state.restore(tp, records)

    def complete_restoration(self) -> None:
        if self.eos:
            self.state.delete_checkpoint()

    # -- processing --------------------------------------------------------------------------
    def add_records(self, tp: TopicPartition, records: list[InputRecord]) -> None:
        part = self._partitions.get(tp)
        if part is None:
            part = self._partitions[tp] = _Partition(tp)
        source = self._sources.get(tp.topic)
        if source is None:
            raise StreamsException(f"task {self.id} has no source for topic {tp.topic}")
        part.node = self.source_nodes[tp.topic]
        q = part.queue
        ks, vs = self._source_serdes[tp.topic]
        extractor = source.timestamp_extractor or self.timestamp_extractor
        # the default extractor returns valid record timestamps unchanged: skip the call for those
        fast = isinstance(extractor, FailOnInvalidTimestamp | LogAndSkipOnInvalidTimestamp)
        for r in records:
            try:
                key = ks.deserialize(r.topic, r.key)
                value = vs.deserialize(r.topic, r.value)
            except Exception as e:
                if not self.skip_bad_records:
                    raise StreamsException(
                        f"Deserialization exception handler is set to fail upon a deserialization error. "
                        f"topic={r.topic} partition={r.partition} offset={r.offset}: {e}",
                        source.name,
                    ) from e
                log.warning(
                    "Skipping record due to deserialization error. topic=[%s] partition=[%s] offset=[%s]: %s",
                    r.topic,
                    r.partition,
                    r.offset,
                    e,
                )
                self._dropped += 1
                part.consumed = r.offset + 1
                continue
            ts = r.timestamp
            if ts < 0 or not fast:
                consumed = ConsumedRecord(
                    r.topic,
                    r.partition,
                    r.offset,
                    r.timestamp,
                    key,
                    value,
                    r.headers,
                    self._wall_clock_ms,
                )
                ts = extractor(consumed, part.partition_time)
            if ts < 0:
                log.warning(
                    "Skipping record with invalid (negative) timestamp %s. topic=[%s] partition=[%s] "
                    "offset=[%s]",
                    ts,
                    r.topic,
                    r.partition,
                    r.offset,
                )
                self._dropped += 1
                part.consumed = r.offset + 1
                continue
            if ts > part.partition_time:
                part.partition_time = ts
            q.append((ts, r, key, value))

    def head_timestamp(self) -> int | None:
        """The lowest timestamp among the buffered head records (None when nothing is buffered)."""
        heads = [p.queue[0][0] for p in self._partitions.values() if p.queue]
        return min(heads) if heads else None

    def buffered(self) -> int:
        return sum(len(p.queue) for p in self._partitions.values())

    def _next_partition(self, wall_clock_ms: int) -> _Partition | None:
        parts = self._partitions
        if len(parts) == 1:
            for only in parts.values():
                return only if only.queue else None
        best: _Partition | None = None
        best_ts = 0
        empty = False
        for p in parts.values():
            q = p.queue
            if not q:
                empty = True
            elif best is None or q[0][0] < best_ts:
                best, best_ts = p, q[0][0]
        if best is None:
            return None
        if empty and self.max_idle_ms > 0:
            if self._idle_since is None:
                self._idle_since = wall_clock_ms
            if wall_clock_ms - self._idle_since < self.max_idle_ms:
                return None
        else:
            self._idle_since = None
        return best

    def process(self, wall_clock_ms: int) -> bool:
        self._set_wall_clock(wall_clock_ms)
        part = self._next_partition(wall_clock_ms)
        if part is None:
            return False
        ts, raw, key, value = part.queue.popleft()
        if ts > self.stream_time:
            self.stream_time = ts
        self._rc, self._cur = None, (ts, raw)  # the record context is built when first asked for
        node = part.node
        assert node is not None
        self._current = node
        try:
            node.processor.process(Record(key, value, ts, raw.headers))
        finally:
            self._current = None
        part.consumed = raw.offset + 1
        self._processed += 1
        return True

    def process_batch(self, wall_clock_ms: int, limit: int) -> int:
        """Process up to `limit` records, as that many `process` calls would; returns how many.

        A task over one partition takes its records in order without choosing a partition each time.
        """
        parts = self._partitions
        if len(parts) != 1:
            done = 0
            while done < limit and self.process(wall_clock_ms):
                done += 1
            return done
        self._wall_clock_ms = wall_clock_ms
        for part in parts.values():
            q, node = part.queue, part.node
        todo = min(limit, len(q))
        if todo == 0:
            return 0
        assert node is not None
        process, popleft = node.processor.process, q.popleft
        done = 0
        try:
            while done < todo:
                ts, raw, key, value = popleft()
                if ts > self.stream_time:
                    self.stream_time = ts
                self._rc, self._cur = None, (ts, raw)
                self._current = node
                process(Record(key, value, ts, raw.headers))
                part.consumed = raw.offset + 1
                done += 1
        finally:
            self._current = None
            self._processed += done
        return done

    @property
    def metrics(self) -> dict[str, float]:
        """Task metrics (Kafka's names): `dropped-records-total`, `process-total`."""
        return {
            "dropped-records-total": float(self._dropped),
            "process-total": float(self._processed),
        }

    def maybe_punctuate(self, wall_clock_ms: int) -> bool:
        """Fire due stream-time punctuators (once the task has stream time), then wall-clock ones."""
        self._set_wall_clock(wall_clock_ms)
        fired = False
        if len(self._stream_punctuations) and self.stream_time != NO_TIMESTAMP:
            fired = self._stream_punctuations.may_punctuate(self.stream_time, self._punctuate)
        if len(self._wall_punctuations):
            fired = self._wall_punctuations.may_punctuate(wall_clock_ms, self._punctuate) or fired
        return fired

    def drain_outputs(self) -> list[OutputRecord]:
        out, self.outputs = self.outputs, []
        return out

    def prepare_commit(self) -> dict[TopicPartition, int]:
        self.state.flush()
        return {tp: p.consumed for tp, p in self._partitions.items() if p.consumed >= 0}

    def post_commit(self, changelog_end_offsets: dict[TopicPartition, int]) -> None:
        self.state.update_changelog_offsets(changelog_end_offsets)
        if not self.eos:
            self.state.checkpoint()

    def close(self, clean: bool) -> None:
        if self._closed:
            return
        self._closed = True
        for node in self.nodes.values():
            try:
                node.processor.close()
            except Exception:
                log.exception("task %s: closing %s failed", self.id, node.name)
        if clean:
            self.state.flush()
            self.state.checkpoint()
        elif self.eos:
            self.state.delete_checkpoint()
        self.state.close()
