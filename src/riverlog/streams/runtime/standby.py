"""Standby replicas (`num.standby.replicas`, at-least-once): copies of other instances' stateful
tasks kept by following their changelogs, so a failed-over task restores only the tail.

Placement (no Kafka assignor under librdkafka): from the instances' published metadata
(`iq_metadata`, so `application.server` must be set), the standbys of a partition's task live on the
next `num.standby.replicas` instances after its active owner in sorted host order. Each standby is a
`StreamTask` over this instance's state directory that only restores (never processes) and writes its
`.checkpoint` every second; when a stream thread here is about to create the same task as active,
`release()` closes the standby cleanly first (checkpoint written, RocksDB closed), so the active
restores from that checkpoint.

Invariants: a task is never open as standby and active at once on one instance (the handover holds
the lock); a released task is not re-created as standby for 10 s (the active registers meanwhile).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from riverlog.streams.records import InputRecord, TaskId, TopicPartition
from riverlog.streams.task import StreamTask

if TYPE_CHECKING:
    from riverlog.streams.runtime.iq_metadata import MetadataExchange
    from riverlog.streams.runtime.kafka_streams import KafkaStreams

log = logging.getLogger("riverlog.streams")
_REGISTRY: dict[tuple[str, str], StandbyUpdater] = {}
_REGISTRY_LOCK = threading.Lock()


def release(state_dir: Path | None, application_id: str, task_id: TaskId) -> None:
    """Called before a task becomes active here: close its standby copy, if any."""
    with _REGISTRY_LOCK:
        updater = _REGISTRY.get((str(state_dir), application_id))
    if updater is not None:
        updater.release(task_id)


class StandbyUpdater:
    def __init__(self, app: KafkaStreams, metadata: MetadataExchange, replicas: int) -> None:
        self.app = app
        self.metadata = metadata
        self.replicas = replicas
        self.state_dir = Path(str(app.config["state.dir"]))
        self.application_id = app.config.application_id
        self.tasks: dict[TaskId, StreamTask] = {}
        self.changelogs: dict[TopicPartition, TaskId] = {}
        self._blocked: dict[TaskId, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.consumer: Consumer | None = None

    def start(self) -> None:
        conf = self.app.config.restore_consumer_configs(
            f"{self.app.config.client_id_prefix()}-standby-consumer"
        )
        conf["group.id"] = f"{self.application_id}-standby"
        self.consumer = Consumer(conf)
        with _REGISTRY_LOCK:
            _REGISTRY[(str(self.state_dir), self.application_id)] = self
        self._thread = threading.Thread(target=self._run, name="standby-updater", daemon=True)
        self._thread.start()

    # -- placement --------------------------------------------------------------------------
    def _active_here(self) -> set[TaskId]:
        with self.app._lock:
            threads = list(self.app._threads)
        return {tid for t in threads for tid in list(t.tasks.tasks)}

    def desired(self) -> dict[TaskId, set[TopicPartition]]:
        me = self.metadata.host
        clients = self.metadata.all_hosts()
        hosts = sorted({c.host_info for c in clients}, key=str)
        if me not in hosts or len(hosts) < 2:
            return {}
        topo = self.app.topology
        app = self.application_id
        stateful = {
            sid: {f"{app}-{t}" if topo.is_internal(t) else t for t in info.source_topics}
            for sid, info in topo.subtopologies().items()
            if info.stores
        }
        out: dict[TaskId, set[TopicPartition]] = {}
        for client in clients:
            i = hosts.index(client.host_info)
            standbys = {hosts[(i + k) % len(hosts)] for k in range(1, self.replicas + 1)}
            if me not in standbys or client.host_info == me:
                continue
            for topic, p in client.topic_partitions:
                for sid, topics in stateful.items():
                    if topic in topics:
                        out.setdefault(TaskId(sid, p), set()).update(
                            TopicPartition(t, p) for t in topics
                        )
        return out

    # -- the loop ---------------------------------------------------------------------------
    def _run(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        next_sync = next_checkpoint = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_sync:
                    next_sync = now + 0.5
                    self._sync()
                batch: dict[TopicPartition, list[InputRecord]] = {}
                for m in consumer.consume(1000, 0.1):
                    if m.error() is not None:
                        continue
                    tp = TopicPartition(m.topic() or "", m.partition() or 0)
                    batch.setdefault(tp, []).append(
                        InputRecord(
                            tp.topic,
                            tp.partition,
                            m.offset() or 0,
                            m.timestamp()[1],
                            m.key(),
                            m.value(),
                            [],
                        )
                    )
                with self._lock:
                    for tp, records in batch.items():
                        tid = self.changelogs.get(tp)
                        if tid is not None and tid in self.tasks:
                            self.tasks[tid].restore(tp, records)
                    if now >= next_checkpoint:
                        next_checkpoint = now + 1.0
                        for task in self.tasks.values():
                            task.post_commit({})
            except Exception:
                log.exception("standby updater")
                self._stop.wait(1.0)

    def _sync(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        desired = self.desired()
        active = self._active_here()
        now = time.monotonic()
        with self._lock:
            for tid in list(self.tasks):
                if tid not in desired or tid in active:
                    self._drop(tid)
            for tid, partitions in desired.items():
                if tid in self.tasks or tid in active or self._blocked.get(tid, 0) > now:
                    continue
                task = StreamTask(
                    tid,
                    self.app.topology,
                    partitions,
                    dict(self.app.config.values),
                    self.application_id,
                    self.state_dir,
                )
                starts = task.changelog_offsets_to_restore()
                if not starts:
                    task.close(clean=True)
                    continue
                self.tasks[tid] = task
                for tp in starts:
                    self.changelogs[tp] = tid
                consumer.incremental_assign(
                    [KafkaTopicPartition(tp.topic, tp.partition, off) for tp, off in starts.items()]
                )
                log.info("standby task %s follows %s", tid, sorted(starts, key=str))

    def _drop(self, tid: TaskId) -> None:
        task = self.tasks.pop(tid)
        task.post_commit({})
        task.close(clean=True)
        tps = [tp for tp, owner in self.changelogs.items() if owner == tid]
        for tp in tps:
            del self.changelogs[tp]
        if tps and self.consumer is not None:
            self.consumer.incremental_unassign(
                [KafkaTopicPartition(tp.topic, tp.partition) for tp in tps]
            )

    def release(self, tid: TaskId) -> None:
        with self._lock:
            self._blocked[tid] = time.monotonic() + 10
            if tid in self.tasks:
                log.info("standby task %s becomes active here", tid)
                self._drop(tid)

    def standby_tasks(self) -> set[TaskId]:
        with self._lock:
            return set(self.tasks)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            for tid in list(self.tasks):
                self._drop(tid)
        with _REGISTRY_LOCK:
            _REGISTRY.pop((str(self.state_dir), self.application_id), None)
        if self.consumer is not None:
            self.consumer.close()
