"""TaskManager: a thread's tasks, created and closed as its consumer's assignment changes.

Invariants:
- A task is keyed by TaskId(subtopology, partition number) and owns the assigned input partitions of
  that sub-topology with that number; `owner_of` maps each assigned input partition to its task.
- Assignments arrive incrementally (cooperative-sticky). When a partition joins a task that exists (a
  sub-topology with several source topics), the task is committed, closed cleanly and re-created with
  the larger partition set; a revoked partition does the same the other way round.
- A revoked task is committed before it is closed (the thread commits, then calls `close_tasks`); a
  lost task is closed unclean with nothing committed (under EOS its checkpoint is deleted so its state
  is restored from the changelog next time).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from riverlog.streams.records import TaskId, TopicPartition
from riverlog.streams.runtime import standby
from riverlog.streams.task import StreamTask
from riverlog.streams.topology import Topology

log = logging.getLogger(__name__)


class TaskManager:
    """Creates, finds and closes a thread's StreamTasks."""

    def __init__(
        self,
        topology: Topology,
        task_config: dict[str, Any],
        application_id: str,
        state_dir: Path | None,
        source_topics: dict[int, frozenset[str]],
        partition_counts: dict[str, int] | None = None,
    ) -> None:
        self.topology = topology
        self.task_config = task_config
        self.application_id = application_id
        self.state_dir = state_dir
        self._subtopology_of: dict[str, int] = {
            topic: sub_id for sub_id, topics in source_topics.items() for topic in topics
        }
        self.partition_counts = partition_counts if partition_counts is not None else {}
        self.tasks: dict[TaskId, StreamTask] = {}
        self.partitions: dict[TaskId, set[TopicPartition]] = {}
        self.owner_of: dict[TopicPartition, TaskId] = {}

    def task_id_of(self, tp: TopicPartition) -> TaskId:
        return TaskId(self._subtopology_of[tp.topic], tp.partition)

    def affected(self, tps: Iterable[TopicPartition]) -> set[TaskId]:
        """The tasks that exist now and own (or would own) one of these partitions."""
        return {tid for tid in (self.task_id_of(tp) for tp in tps) if tid in self.tasks}

    def add_partitions(self, tps: Iterable[TopicPartition]) -> dict[TaskId, set[TopicPartition]]:
        """The new partition sets of the tasks these partitions create or grow (tasks not built yet)."""
        grown: dict[TaskId, set[TopicPartition]] = {}
        for tp in tps:
            if tp.topic not in self._subtopology_of:
                log.warning(
                    "assigned partition %s-%d is no source of this topology", tp.topic, tp.partition
                )
                continue
            tid = self.task_id_of(tp)
            grown.setdefault(tid, set(self.partitions.get(tid, ()))).add(tp)
        return grown

    def remove_partitions(self, tps: Iterable[TopicPartition]) -> dict[TaskId, set[TopicPartition]]:
        """The remaining partition sets of the tasks these partitions leave (empty: task goes)."""
        shrunk: dict[TaskId, set[TopicPartition]] = {}
        for tp in tps:
            if tp not in self.owner_of:
                continue
            tid = self.owner_of[tp]
            shrunk.setdefault(tid, set(self.partitions[tid])).discard(tp)
        return shrunk

    def create(self, task_id: TaskId, partitions: set[TopicPartition]) -> StreamTask:
        """Build a task over `partitions` (its old incarnation must be closed already)."""
        assert task_id not in self.tasks, f"task {task_id} exists"
        standby.release(self.state_dir, self.application_id, task_id)  # a standby copy hands over
        task = StreamTask(
            task_id,
            self.topology,
            set(partitions),
            self.task_config,
            self.application_id,
            self.state_dir,
        )
        task.partition_counts.update(self.partition_counts)
        self.tasks[task_id] = task
        self.partitions[task_id] = set(partitions)
        for tp in partitions:
            self.owner_of[tp] = task_id
        log.info(
            "created task %s over %s",
            task_id,
            sorted(f"{t.topic}-{t.partition}" for t in partitions),
        )
        return task

    def close(self, task_id: TaskId, clean: bool) -> None:
        """Close a task and forget it; clean writes its checkpoint, unclean removes it (EOS)."""
        task = self.tasks.pop(task_id, None)
        if task is None:
            return
        for tp in self.partitions.pop(task_id, set()):
            self.owner_of.pop(tp, None)
        try:
            task.close(clean)
        except Exception:
            log.exception("closing task %s failed", task_id)
            if clean:
                raise
        log.info("closed task %s (%s)", task_id, "clean" if clean else "dirty")

    def close_all(self, clean: bool) -> None:
        for task_id in list(self.tasks):
            self.close(task_id, clean)
