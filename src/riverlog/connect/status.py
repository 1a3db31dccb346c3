"""Connector and task states and the status records the REST API reports (Kafka's `AbstractStatus`).

States move UNASSIGNED → RUNNING ⇄ PAUSED, → STOPPED, → FAILED (with `trace`), → RESTARTING → RUNNING;
`attempts` counts riverlog's automatic restarts (an extension; absent from Kafka's answers unless set).
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from typing import Any


class State(enum.Enum):
    UNASSIGNED = "UNASSIGNED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    RESTARTING = "RESTARTING"
    DESTROYED = "DESTROYED"


class TargetState(enum.Enum):
    STARTED = "STARTED"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"


@dataclass(frozen=True, order=True)
class TaskId:
    connector: str
    task: int

    def as_json(self) -> dict[str, Any]:
        return {"connector": self.connector, "task": self.task}

    def __str__(self) -> str:
        return f"{self.connector}-{self.task}"


@dataclass
class Status:
    state: State
    worker_id: str
    trace: str | None = None
    generation: int = 0
    attempts: int = 0

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state.value, "worker_id": self.worker_id}
        if self.trace is not None:
            out["trace"] = self.trace
        if self.attempts:
            out["restart_attempts"] = self.attempts
        return out


@dataclass
class StatusStore:
    """Latest status per connector and per task (in memory; the distributed herder mirrors a topic)."""

    connectors: dict[str, Status] = field(default_factory=dict)
    tasks: dict[TaskId, Status] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put_connector(self, name: str, status: Status) -> None:
        with self.lock:
            self.connectors[name] = status

    def put_task(self, task: TaskId, status: Status) -> None:
        with self.lock:
            self.tasks[task] = status

    def connector(self, name: str) -> Status | None:
        with self.lock:
            return self.connectors.get(name)

    def task(self, task: TaskId) -> Status | None:
        with self.lock:
            return self.tasks.get(task)

    def tasks_of(self, name: str) -> list[tuple[TaskId, Status]]:
        with self.lock:
            return sorted((t, s) for t, s in self.tasks.items() if t.connector == name)

    def forget(self, name: str) -> None:
        with self.lock:
            self.connectors.pop(name, None)
            for t in [t for t in self.tasks if t.connector == name]:
                del self.tasks[t]
