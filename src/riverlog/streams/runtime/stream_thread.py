"""StreamThread: one consumer, one producer, a TaskManager, and the poll/process/punctuate/commit loop.

Invariants:
- Everything here runs on the thread itself, rebalance callbacks included (librdkafka calls them from
  inside `consume`), so tasks, stores and the producer are never touched by two threads.
- A task processes only after its restoration completed; input offsets are committed only for records
  processed, and only after their effects were flushed (at_least_once) or inside the same transaction
  (exactly_once_v2) — see `eos.py`.
- Before a partition is revoked, every task is committed; a lost partition's task is closed dirty.
  Under exactly_once_v2 an aborted transaction wipes and restores every task and re-reads input from the
  committed offsets (the aborted writes are in the local stores too); a fenced producer is replaced
  first. Whenever a task is rebuilt, its partitions are sought back to their committed offsets (the
  records it had buffered went with the old task).
- States are Kafka's StreamThread states: CREATED -> STARTING -> PARTITIONS_ASSIGNED -> RUNNING,
  (RUNNING|PARTITIONS_ASSIGNED) <-> PARTITIONS_REVOKED, any -> PENDING_SHUTDOWN -> DEAD.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
)
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient

from riverlog.streams.config import StreamsConfig
from riverlog.streams.errors import StreamsException, TaskCorruptedException, TaskMigratedException
from riverlog.streams.records import InputRecord, TaskId, TopicPartition
from riverlog.streams.runtime.eos import AtLeastOnceCommitter, ExactlyOnceCommitter
from riverlog.streams.runtime.record_collector import RecordCollector
from riverlog.streams.runtime.restore import ChangelogReader
from riverlog.streams.runtime.task_manager import TaskManager
from riverlog.streams.topology import Topology

log = logging.getLogger(__name__)

BATCH = 1000  # records per consume(); also the most a task processes before the loop moves on
PUSH_WAIT_S = 0.005  # how long a caught-up thread lets its producer send before polling again


class ThreadState(enum.Enum):
    CREATED = "CREATED"
    STARTING = "STARTING"
    PARTITIONS_REVOKED = "PARTITIONS_REVOKED"
    PARTITIONS_ASSIGNED = "PARTITIONS_ASSIGNED"
    RUNNING = "RUNNING"
    PENDING_SHUTDOWN = "PENDING_SHUTDOWN"
    DEAD = "DEAD"


StateCallback = Callable[["StreamThread", ThreadState, ThreadState], None]
FailureCallback = Callable[["StreamThread", BaseException], None]


class StreamThread(threading.Thread):
    """Runs a share of the topology's tasks; see the module docstring for the rules."""

    def __init__(
        self,
        index: int,
        topology: Topology,
        config: StreamsConfig,
        source_topics: dict[int, frozenset[str]],
        changelog_topics: frozenset[str],
        on_state: StateCallback,
        on_failure: FailureCallback,
        partition_counts: dict[str, int] | None = None,
        latest_topics: frozenset[str] = frozenset(),
    ) -> None:
        name = f"{config.client_id_prefix()}-StreamThread-{index}"
        super().__init__(name=name, daemon=True)
        self.index = index
        self.config = config
        self.topics = sorted({t for topics in source_topics.values() for t in topics})
        self.state = ThreadState.CREATED
        self._on_state = on_state
        self._on_failure = on_failure
        self._stopping = threading.Event()
        self.consumer = Consumer(config.main_consumer_configs(f"{name}-consumer"))
        self.restore_consumer = Consumer(
            config.restore_consumer_configs(f"{name}-restore-consumer")
        )
        self.producer = Producer(config.producer_configs(f"{name}-producer", index))
        self.admin = AdminClient(config.admin_configs(f"{name}-admin"))  # changelog end offsets
        self.collector = RecordCollector(self.producer, changelog_topics.__contains__)
        committer_type = ExactlyOnceCommitter if config.eos else AtLeastOnceCommitter
        self.committer = committer_type(self.producer, self.consumer, self.collector)
        self.reader = ChangelogReader(self.restore_consumer)
        self.tasks = TaskManager(
            topology,
            dict(config.values),
            config.application_id,
            Path(config["state.dir"]),
            source_topics,
            partition_counts or {},
        )
        self.commit_interval_s = int(config["commit.interval.ms"]) / 1000.0
        self.poll_s = int(config["poll.ms"]) / 1000.0
        self._last_commit = time.monotonic()
        self.processed = 0
        self.commits = 0
        self.max_buffered = int(config["buffered.records.per.partition"])
        self.latest_topics = latest_topics
        self._paused: set[TaskId] = set()

    # Lifecycle --------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Ask the loop to stop (returns at once; join() to wait)."""
        self._stopping.set()

    def run(self) -> None:
        failure: BaseException | None = None
        try:
            self._set_state(ThreadState.STARTING)
            self.committer.init(30.0)
            self.consumer.subscribe(
                self.topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            while not self._stopping.is_set():
                self.run_once()
            self._set_state(ThreadState.PENDING_SHUTDOWN)
            self._commit_all(exact=True)
            self.tasks.close_all(clean=True)
        except BaseException as exc:
            failure = exc
            log.error("stream thread %s failed: %s", self.name, exc, exc_info=exc)
            self._set_state(ThreadState.PENDING_SHUTDOWN)
            self._close_dirty()
        finally:
            self._close_clients()
            self._set_state(ThreadState.DEAD)
        if failure is not None:
            self._on_failure(self, failure)

    def _close_dirty(self) -> None:
        try:
            self.committer.abort()
        except Exception as exc:  # a fenced producer cannot abort: the broker aborts for it
            log.warning("%s: abort on thread failure failed: %s", self.name, exc)
        for task_id in list(self.tasks.tasks):
            self.reader.remove(task_id)
        self.tasks.close_all(clean=False)

    def _close_clients(self) -> None:
        for close in (self.consumer.close, self.restore_consumer.close):
            try:
                close()
            except Exception:
                log.debug("closing a consumer failed", exc_info=True)
        try:
            self.producer.flush(10)
            self.producer.close()  # aborts a transaction left open by a failure
        except Exception:
            log.debug("closing the producer failed", exc_info=True)
        # librdkafka handles go when their last reference does; a logged traceback of this thread's
        # failure can outlive it (log handlers keep records), so the thread lets go of its clients.
        del self.producer, self.collector.producer, self.committer.producer, self.admin

    def _set_state(self, new: ThreadState) -> None:
        old, self.state = self.state, new
        if old is not new:
            self._on_state(self, old, new)

    # The loop ------------------------------------------------------------------------------------

    def run_once(self) -> None:
        """One round: poll, restore, process, punctuate, maybe commit."""
        messages = self._poll(busy=self.reader.restoring or self._has_ready_work)
        self._add_to_tasks(messages)
        try:
            if self.reader.restoring:
                self.reader.step(0.0 if messages else 0.01)
            if self.state is ThreadState.PARTITIONS_ASSIGNED and not self.reader.restoring:
                self._set_state(ThreadState.RUNNING)
            now_ms = int(time.time() * 1000)
            self._process(now_ms)
            self._punctuate(now_ms)
            self._maybe_pause_or_resume()
            if time.monotonic() - self._last_commit >= self.commit_interval_s:
                self._commit_all()
            elif len(messages) < BATCH:
                # caught up with the input: what was produced has no batch left to wait for
                self.collector.push(PUSH_WAIT_S)
        except TaskCorruptedException as exc:
            log.warning("%s: aborting and restoring every task: %s", self.name, exc)
            self._revive_all()
        except TaskMigratedException as exc:
            log.warning(
                "%s: tasks migrated, rebuilding them from committed state: %s", self.name, exc
            )
            if self.committer.eos:
                # The transactional producer is fenced for good: as Kafka Streams, start a new one
                # (init_transactions takes the id over again) and redo uncommitted work.
                self._reset_producer()
            self._revive_all()

    def _poll(self, busy: bool) -> list[Any]:
        """Up to BATCH records: what is fetched already; when idle, wait (poll.ms) for the first one.

        librdkafka's `consume(n, timeout)` waits for n messages or the whole timeout, so asking for a
        batch with a timeout would hold the first record back for up to poll.ms: wait for one, then
        take what else is there without waiting.
        """
        consume = self.consumer.consume
        messages = consume(num_messages=BATCH, timeout=0)
        if messages or busy:
            return messages
        messages = consume(num_messages=1, timeout=self.poll_s)
        if messages:
            messages.extend(consume(num_messages=BATCH - 1, timeout=0))
        return messages

    @property
    def _has_ready_work(self) -> bool:
        return self._last_round_processed > 0

    _last_round_processed = 0

    def _add_to_tasks(self, messages: list[Any]) -> None:
        # The hot path: one InputRecord per message, grouped per partition, nothing else allocated.
        batches: dict[tuple[str, int], list[InputRecord]] = {}
        for message in messages:
            if message.error() is not None:
                self._consumer_error(message.error())
                continue
            topic, partition = message.topic(), message.partition()
            batch = batches.get((topic, partition))
            if batch is None:
                batch = batches[(topic, partition)] = []
            headers = message.headers()
            batch.append(
                InputRecord(
                    topic,
                    partition,
                    message.offset(),
                    message.timestamp()[1],
                    message.key(),
                    message.value(),
                    list(headers) if headers else [],
                )
            )
        owner_of, tasks = self.tasks.owner_of, self.tasks.tasks
        for (topic, partition), records in batches.items():
            tp = TopicPartition(topic, partition)
            task_id = owner_of.get(tp)
            if task_id is not None:
                tasks[task_id].add_records(tp, records)

    def _consumer_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise StreamsException(f"consumer failed: {error.str()}")
        log.warning("%s: consumer error: %s", self.name, error.str())

    def _process(self, now_ms: int) -> None:
        processed = 0
        for task_id, task in self.tasks.tasks.items():
            if self.reader.is_restoring(task_id):
                continue
            processed += task.process_batch(now_ms, BATCH)
            self._send(task.drain_outputs())
        self.processed += processed
        self._last_round_processed = processed

    def _maybe_pause_or_resume(self) -> None:
        """Stop fetching for a task holding more than buffered.records.per.partition; resume at half.

        Only single-partition tasks pause: a task over several partitions may be waiting for data on
        an empty one (max.task.idle.ms), and pausing that one too would starve it.
        """
        paused = self._paused
        for task_id in list(paused):
            task = self.tasks.tasks.get(task_id)
            if task is None:
                paused.discard(
                    task_id
                )  # closed: its partitions were unassigned or will be re-paused
            elif task.buffered() <= self.max_buffered * len(self.tasks.partitions[task_id]) // 2:
                self.consumer.resume(self._kafka_partitions(task_id))
                paused.discard(task_id)
        for task_id, task in self.tasks.tasks.items():
            if (
                task_id not in paused
                and len(self.tasks.partitions[task_id]) == 1
                and task.buffered() > self.max_buffered
            ):
                self.consumer.pause(self._kafka_partitions(task_id))
                paused.add(task_id)

    def _kafka_partitions(self, task_id: TaskId) -> list[KafkaTopicPartition]:
        return [
            KafkaTopicPartition(tp.topic, tp.partition) for tp in self.tasks.partitions[task_id]
        ]

    def _punctuate(self, now_ms: int) -> None:
        for task_id, task in self.tasks.tasks.items():
            if not self.reader.is_restoring(task_id) and task.maybe_punctuate(now_ms):
                self._send(task.drain_outputs())

    def _send(self, outputs: list[Any]) -> None:
        if outputs:
            self.committer.before_send()
            self.collector.send_all(outputs)

    def _commit_all(self, exact: bool = False) -> None:
        """Commit every processing task (Kafka's `TaskManager.commit`); `exact` before tasks close
        (their last checkpoints then name the changelog ends of this commit)."""
        offsets: dict[TopicPartition, int] = {}
        ready = [
            (tid, t) for tid, t in self.tasks.tasks.items() if not self.reader.is_restoring(tid)
        ]
        for _, task in ready:
            offsets.update(task.prepare_commit())
            self._send(task.drain_outputs())
        self.committer.commit(offsets, 60.0, self.tasks.owner_of.__contains__)
        # changelog ends: the answers to the last request now, this commit's by the next one
        # (or at once when tasks close after this commit and checkpoint for good)
        self.collector.collect_changelog_offsets(None)
        self.collector.request_changelog_offsets(self.admin, self.committer.eos)
        if exact:
            self.collector.collect_changelog_offsets(30.0)
        for _, task in ready:
            task.post_commit(dict(self.collector.changelog_offsets))
        self._last_commit = time.monotonic()
        self.commits += 1

    # Recovery ------------------------------------------------------------------------------------

    def _abort_or_reset(self) -> None:
        """Abort the open transaction; a producer fenced meanwhile is replaced instead."""
        try:
            self.committer.abort()
        except TaskMigratedException as exc:
            log.warning("%s: %s", self.name, exc)
            self._reset_producer()

    def _reset_producer(self) -> None:
        """Replace a fenced producer with a new one under the same transactional id."""
        old = self.producer
        try:
            old.close()
        except Exception as exc:
            log.debug("closing the fenced producer failed: %s", exc)
        self.producer = Producer(self.config.producer_configs(f"{self.name}-producer", self.index))
        self.collector.reset(self.producer)
        self.committer.reset(self.producer)
        self.committer.init(30.0)

    def _revive_all(self) -> None:
        """Abort, wipe every task's state, restore it, and re-read input from committed offsets."""
        self._abort_or_reset()
        partitions = dict(self.tasks.partitions)
        for task_id in partitions:
            self.reader.remove(task_id)
        self.tasks.close_all(clean=False)
        for task_id, tps in partitions.items():
            self.reader.add(task_id, self.tasks.create(task_id, tps))
        self._seek_to_committed({tp for tps in partitions.values() for tp in tps})

    def _seek_to_committed(self, tps: set[TopicPartition]) -> None:
        if not tps:
            return
        committed = self.consumer.committed(
            [KafkaTopicPartition(t.topic, t.partition) for t in tps], 30
        )
        for ktp in committed:
            offset = ktp.offset if ktp.offset >= 0 else OFFSET_BEGINNING
            try:
                self.consumer.seek(KafkaTopicPartition(ktp.topic, ktp.partition, offset))
            except KafkaException as exc:
                log.warning("seek %s-%d failed: %s", ktp.topic, ktp.partition, exc)

    # Rebalance callbacks (run inside consume) ----------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        self._set_state(ThreadState.PARTITIONS_ASSIGNED)
        added = [TopicPartition(p.topic, p.partition) for p in partitions]
        grown = self.tasks.add_partitions(added)
        regrown = [tid for tid in grown if tid in self.tasks.tasks]
        kept: set[TopicPartition] = set()
        if regrown:
            # A task gains a partition: commit, close, and build it again over the larger set;
            # its old partitions go back to their committed offsets (its buffer went with it).
            self._commit_all(exact=True)
            for task_id in regrown:
                kept |= self.tasks.partitions[task_id]
                self.reader.remove(task_id)
                self.tasks.close(task_id, clean=True)
        for task_id, tps in grown.items():
            self.reader.add(task_id, self.tasks.create(task_id, tps))
        self._seek_to_committed(kept)
        self._maybe_start_at_end(consumer, partitions)
        log.info(
            "%s assigned %d partitions; %d tasks", self.name, len(added), len(self.tasks.tasks)
        )

    def _maybe_start_at_end(
        self, consumer: Consumer, partitions: list[KafkaTopicPartition]
    ) -> None:
        """Sources with the `latest` reset policy start at the end when nothing is committed."""
        late = [p for p in partitions if p.topic in self.latest_topics]
        if not late:
            return
        committed = consumer.committed(
            [KafkaTopicPartition(p.topic, p.partition) for p in late], 30
        )
        fresh = {(c.topic, c.partition) for c in committed if c.offset < 0}
        if fresh:
            for p in partitions:
                if (p.topic, p.partition) in fresh:
                    p.offset = OFFSET_END
            consumer.incremental_assign(partitions)  # the binding then skips its own assign

    def _on_revoke(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        revoked = [TopicPartition(p.topic, p.partition) for p in partitions]
        shrunk = self.tasks.remove_partitions(revoked)
        if not shrunk:
            return
        self._set_state(ThreadState.PARTITIONS_REVOKED)
        try:
            self._commit_all(exact=True)
        except (TaskCorruptedException, TaskMigratedException) as exc:
            log.warning("%s: commit before revocation failed: %s", self.name, exc)
            if isinstance(exc, TaskMigratedException) and self.committer.eos:
                self._reset_producer()
            self._revive_after_failed_revocation(shrunk)
            return
        for task_id, remaining in shrunk.items():
            self.reader.remove(task_id)
            self.tasks.close(task_id, clean=True)
            if remaining:
                self.reader.add(task_id, self.tasks.create(task_id, remaining))
                self._seek_to_committed(remaining)

    def _revive_after_failed_revocation(self, shrunk: dict[TaskId, set[TopicPartition]]) -> None:
        self._abort_or_reset()
        for task_id in list(self.tasks.tasks):
            self.reader.remove(task_id)
        keep = {tid: tps for tid, tps in self.tasks.partitions.items() if tid not in shrunk}
        keep.update({tid: tps for tid, tps in shrunk.items() if tps})
        self.tasks.close_all(clean=False)
        for task_id, tps in keep.items():
            self.reader.add(task_id, self.tasks.create(task_id, tps))
        self._seek_to_committed({tp for tps in keep.values() for tp in tps})

    def _on_lost(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        lost = [TopicPartition(p.topic, p.partition) for p in partitions]
        shrunk = self.tasks.remove_partitions(lost)
        log.warning("%s lost %d partitions", self.name, len(lost))
        self._set_state(ThreadState.PARTITIONS_REVOKED)
        if self.committer.eos:
            # The open transaction holds writes of the lost tasks and the kept ones alike.
            self._revive_after_failed_revocation(shrunk)
            return
        for task_id, remaining in shrunk.items():
            self.reader.remove(task_id)
            self.tasks.close(task_id, clean=False)
            if remaining:
                self.reader.add(task_id, self.tasks.create(task_id, remaining))
                self._seek_to_committed(remaining)

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {
            "process-total": float(self.processed),
            "commit-total": float(self.commits),
            "restore-total": float(self.reader.restored_records),
            "zero-timestamp-records": float(self.collector.zero_timestamp_records),
            "record-send-total": float(self.collector.sent),
        }
        own = set(out)
        for task in self.tasks.tasks.values():
            for name, value in task.metrics.items():
                if name not in own:  # the thread counts processing itself (tasks come and go)
                    out[name] = out.get(name, 0.0) + value
        return out
