"""Restoration: a thread's restore consumer replays changelogs into its tasks' stores.

Invariants:
- A task is restoring from its creation until each of its changelog partitions has been read from the
  offset the task asked for (its `.checkpoint`, else 0) to the end; then `complete_restoration()` runs
  and the task may process. A stateless task completes at once.
- The end is where the restore consumer reaches end-of-partition: under exactly_once_v2 it reads
  read_committed, so aborted writes are skipped and the end is the last stable offset, as in Kafka
  Streams (a dead producer's open transaction is aborted by the broker after transaction.timeout.ms).
- The restore consumer is assigned (never subscribed: no group) exactly the changelog partitions of
  tasks still restoring; `step` reads one batch so the thread keeps polling its main consumer.
- A `StateRestoreListener` (Kafka Streams' interface, set with
  `KafkaStreams.set_global_state_restore_listener`) hears, per changelog partition, the start (with
  the offset read from and the end offset: the high watermark, looked up once), each batch restored,
  and the end with the total. Its calls run on the stream thread; an exception from it is logged and
  does not stop restoration.
"""

from __future__ import annotations

import logging
from typing import cast

from confluent_kafka import Consumer, KafkaError
from confluent_kafka import TopicPartition as KafkaTopicPartition

from riverlog.streams.records import InputRecord, TaskId, TopicPartition
from riverlog.streams.runtime.messages import to_input_record
from riverlog.streams.task import StreamTask

log = logging.getLogger(__name__)


class StateRestoreListener:
    """Kafka Streams' StateRestoreListener: progress of restoring stores from their changelogs.
    Override what you need; every method does nothing by default."""

    def on_restore_start(
        self,
        topic_partition: TopicPartition,
        store_name: str,
        starting_offset: int,
        ending_offset: int,
    ) -> None:
        """Restoration of `store_name` from `topic_partition` begins at `starting_offset`; the
        changelog ends (for now) at `ending_offset` (exclusive)."""

    def on_batch_restored(
        self,
        topic_partition: TopicPartition,
        store_name: str,
        batch_end_offset: int,
        num_restored: int,
    ) -> None:
        """A batch of `num_restored` records up to `batch_end_offset` went into the store."""

    def on_restore_end(
        self, topic_partition: TopicPartition, store_name: str, total_restored: int
    ) -> None:
        """The store has caught up with its changelog partition."""


class ChangelogReader:
    """Restores tasks' stores from their changelogs, a batch at a time."""

    def __init__(self, consumer: Consumer, batch_size: int = 1000) -> None:
        self.consumer = consumer
        self.batch_size = batch_size
        self._pending: dict[TopicPartition, TaskId] = {}  # changelog tp -> restoring task
        self._tasks: dict[TaskId, StreamTask] = {}
        self.restored_records = 0
        # Set by KafkaStreams: the restore listener and the prefix that names changelog topics.
        self.listener: StateRestoreListener | None = None
        self.application_id = ""
        self._restored: dict[TopicPartition, int] = {}  # per changelog tp, for the listener

    @property
    def restoring(self) -> bool:
        return bool(self._tasks)

    def is_restoring(self, task_id: TaskId) -> bool:
        return task_id in self._tasks

    def add(self, task_id: TaskId, task: StreamTask) -> None:
        """Start restoring `task`; a task with nothing to restore is ready at once."""
        starts = task.changelog_offsets_to_restore()
        if not starts:
            task.complete_restoration()
            return
        self._tasks[task_id] = task
        for tp in starts:
            self._pending[tp] = task_id
        self.consumer.incremental_assign(
            [KafkaTopicPartition(tp.topic, tp.partition, offset) for tp, offset in starts.items()]
        )
        if self.listener is not None:
            for tp, offset in starts.items():
                self._restored[tp] = 0
                self._notify("on_restore_start", tp, offset, self._end_offset(tp, offset))
        log.info(
            "task %s restoring %s", task_id, sorted(f"{t.topic}-{t.partition}" for t in starts)
        )

    def remove(self, task_id: TaskId) -> None:
        """Stop restoring a task that is being closed."""
        if self._tasks.pop(task_id, None) is None:
            return
        gone = [tp for tp, owner in self._pending.items() if owner == task_id]
        for tp in gone:
            del self._pending[tp]
        if gone:
            self.consumer.incremental_unassign(
                [KafkaTopicPartition(t.topic, t.partition) for t in gone]
            )

    def step(self, timeout_s: float) -> list[TaskId]:
        """Read one batch into the restoring stores; returns the tasks that finished restoring."""
        if not self._tasks:
            return []
        messages = self.consumer.consume(num_messages=self.batch_size, timeout=timeout_s)
        batches: dict[TopicPartition, list[InputRecord]] = {}
        finished_tps: list[TopicPartition] = []
        for message in messages:
            error = message.error()
            tp = TopicPartition(cast(str, message.topic()), cast(int, message.partition()))
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    finished_tps.append(tp)
                    continue
                raise RuntimeError(f"restore consumer error on {tp}: {error.str()}")
            batches.setdefault(tp, []).append(to_input_record(message))
        for tp, records in batches.items():
            owner = self._pending.get(tp)
            if owner is not None:
                self._tasks[owner].restore(tp, records)
                self.restored_records += len(records)
                if self.listener is not None:
                    self._restored[tp] = self._restored.get(tp, 0) + len(records)
                    self._notify("on_batch_restored", tp, records[-1].offset, len(records))
        return self._finish(finished_tps)

    def _finish(self, finished_tps: list[TopicPartition]) -> list[TaskId]:
        done_tps = [tp for tp in finished_tps if tp in self._pending]
        if not done_tps:
            return []
        owners = {self._pending.pop(tp) for tp in done_tps}
        if self.listener is not None:
            for tp in done_tps:
                self._notify("on_restore_end", tp, self._restored.pop(tp, 0))
        self.consumer.incremental_unassign(
            [KafkaTopicPartition(t.topic, t.partition) for t in done_tps]
        )
        finished = []
        for task_id in owners:
            if task_id in self._pending.values():
                continue  # another of its changelogs is still being read
            task = self._tasks.pop(task_id)
            task.complete_restoration()
            finished.append(task_id)
            log.info("task %s restored", task_id)
        return finished

    def store_name(self, tp: TopicPartition) -> str:
        """The store a changelog topic belongs to (`<application.id>-<store>-changelog`)."""
        name = tp.topic.removesuffix("-changelog")
        prefix = f"{self.application_id}-"
        return name[len(prefix) :] if self.application_id and name.startswith(prefix) else name

    def _end_offset(self, tp: TopicPartition, start: int) -> int:
        try:
            _low, high = self.consumer.get_watermark_offsets(
                KafkaTopicPartition(tp.topic, tp.partition), timeout=5.0
            )
        except Exception:  # the listener learns the start either way
            return start
        return int(high) if high is not None and high >= 0 else start

    def _notify(self, method: str, tp: TopicPartition, *values: int) -> None:
        listener = self.listener
        if listener is None:
            return
        try:
            getattr(listener, method)(tp, self.store_name(tp), *values)
        except Exception:
            log.exception("state restore listener failed in %s", method)
