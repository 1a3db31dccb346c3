"""The processor API the DSL's processors are written against (Kafka's `Processor`/`ProcessorContext`).

A `ProcessorNode` holds one processor and its children; the task's `ProcessorContext` knows the node
being run, the record context and stream time, and `forward` runs the children depth-first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from riverlog.streams.records import Record, RecordContext

if TYPE_CHECKING:
    from riverlog.streams.punctuation import Cancellable, PunctuationType
    from riverlog.streams.records import TaskId

log = logging.getLogger("riverlog.streams")


class ProcessorContext(Protocol):
    application_id: str
    task_id: TaskId
    record_context: RecordContext

    @property
    def stream_time(self) -> int: ...
    def forward(self, record: Record, child: str | None = None) -> None: ...
    def get_state_store(self, name: str) -> Any: ...
    def record_dropped(self, node: str, reason: str) -> None: ...
    def current_node_name(self) -> str: ...
    def forward_from(self, node_name: str, record: Record, ctx: RecordContext) -> None: ...
    def schedule(
        self, interval: Any, punctuation_type: PunctuationType, callback: Callable[[int], None]
    ) -> Cancellable: ...


class Processor:
    """Base processor: override `process`; `init` keeps the context."""

    context: ProcessorContext

    def init(self, context: ProcessorContext) -> None:
        self.context = context

    def process(self, record: Record) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


ProcessorSupplier = Callable[[], Processor]


class ProcessorNode:
    __slots__ = ("children", "children_by_name", "name", "process", "processor")

    def __init__(self, name: str, processor: Processor) -> None:
        self.name = name
        self.processor = processor
        self.process = processor.process  # bound once: the hot path calls it per record
        self.children: list[ProcessorNode] = []
        self.children_by_name: dict[str, ProcessorNode] = {}

    def add_child(self, child: ProcessorNode) -> None:
        self.children.append(child)
        self.children_by_name[child.name] = child
