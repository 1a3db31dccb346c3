"""Value types shared by the task core and the runtime (the agreed seam, see the streams contract).

`InputRecord`/`OutputRecord` carry raw bytes between the runtime (confluent-kafka) and the sans-I/O
`StreamTask`; `KeyValue`, `Window`, `Windowed` and `Change` are the values user code and processors see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

Headers = list[tuple[str, bytes | None]]


@dataclass(frozen=True, slots=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True, slots=True, order=True)
class TaskId:
    """A task: one sub-topology on one partition number; `str()` is Kafka's `0_3`."""

    subtopology: int
    partition: int

    def __str__(self) -> str:
        return f"{self.subtopology}_{self.partition}"

    @classmethod
    def parse(cls, text: str) -> TaskId:
        sub, _, part = text.partition("_")
        return cls(int(sub), int(part))


@dataclass(slots=True)
class InputRecord:
    """A consumed record as the runtime hands it to a task (raw bytes)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)


@dataclass(slots=True)
class OutputRecord:
    """A record the task asks the runtime to produce; `partition=None` = murmur2 of the key."""

    topic: str
    partition: int | None
    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class KeyValue(Generic[K, V]):
    """Kafka's `KeyValue`: a pair with `.key` and `.value`."""

    key: K
    value: V

    @staticmethod
    def pair(key: K, value: V) -> KeyValue[K, V]:
        return KeyValue(key, value)


@dataclass(frozen=True, slots=True)
class Window:
    """A window `[start, end)` in epoch milliseconds (sessions are `[start, end]`)."""

    start: int
    end: int

    def start_time(self) -> int:
        return self.start

    def end_time(self) -> int:
        return self.end

    def overlap(self, other: Window) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class Windowed(Generic[K]):
    """A windowed key: the record key and its window; hashable."""

    key: K
    window: Window

    def __str__(self) -> str:
        return f"[{self.key}@{self.window.start}/{self.window.end}]"


@dataclass(frozen=True, slots=True)
class Change(Generic[V]):
    """A table update: the new value and (when the table sends old values) the old one."""

    new_value: V | None
    old_value: V | None


@dataclass(slots=True)
class ValueAndTimestamp(Generic[V]):
    value: V
    timestamp: int


@dataclass(slots=True)
class Record:
    """A record inside the processor graph (deserialized)."""

    key: Any
    value: Any
    timestamp: int
    headers: Headers = field(default_factory=list)

    def with_key(self, key: Any) -> Record:
        return Record(key, self.value, self.timestamp, self.headers)

    def with_value(self, value: Any) -> Record:
        return Record(self.key, value, self.timestamp, self.headers)

    def with_timestamp(self, timestamp: int) -> Record:
        return Record(self.key, self.value, timestamp, self.headers)


@dataclass(slots=True)
class RecordContext:
    """Where the record being processed came from (a cached store entry keeps its own copy)."""

    timestamp: int
    headers: Headers
    topic: str | None
    partition: int
    offset: int
