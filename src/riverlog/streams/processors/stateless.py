"""Stateless KStream processors: filter, map, flat-map, peek, foreach, branch, print, pass-through,
and the source and sink nodes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TextIO

from riverlog.streams.processors.base import Processor
from riverlog.streams.records import KeyValue, Record


class PassThrough(Processor):
    def process(self, record: Record) -> None:
        self.context.forward(record)


class SourceProcessor(PassThrough):
    """A source node: records arrive deserialized from the task."""


class RepartitionFilter(PassThrough):
    """The filter Kafka Streams puts before a repartition sink (its predicate passes everything)."""


class Filter(Processor):
    def __init__(self, predicate: Callable[[Any, Any], bool], negate: bool) -> None:
        self.predicate = predicate
        self.negate = negate

    def process(self, record: Record) -> None:
        if bool(self.predicate(record.key, record.value)) != self.negate:
            self.context.forward(record)


def _pair(kv: Any) -> tuple[Any, Any]:
    if isinstance(kv, KeyValue):
        return kv.key, kv.value
    k, v = kv
    return k, v


class Map(Processor):
    """`map` and `select_key`: the mapper returns a `KeyValue` or a `(key, value)` tuple."""

    def __init__(self, mapper: Callable[[Any, Any], Any]) -> None:
        self.mapper = mapper

    def process(self, record: Record) -> None:
        k, v = _pair(self.mapper(record.key, record.value))
        self.context.forward(Record(k, v, record.timestamp, record.headers))


class SelectKey(Processor):
    def __init__(self, selector: Callable[[Any, Any], Any]) -> None:
        self.selector = selector

    def process(self, record: Record) -> None:
        self.context.forward(
            Record(
                self.selector(record.key, record.value),
                record.value,
                record.timestamp,
                record.headers,
            )
        )


class MapValues(Processor):
    def __init__(self, mapper: Callable[[Any, Any], Any]) -> None:
        self.mapper = mapper

    def process(self, record: Record) -> None:
        self.context.forward(
            Record(
                record.key, self.mapper(record.key, record.value), record.timestamp, record.headers
            )
        )


class FlatMap(Processor):
    def __init__(self, mapper: Callable[[Any, Any], Iterable[Any]]) -> None:
        self.mapper = mapper

    def process(self, record: Record) -> None:
        for kv in self.mapper(record.key, record.value):
            k, v = _pair(kv)
            self.context.forward(Record(k, v, record.timestamp, record.headers))


class FlatMapValues(Processor):
    def __init__(self, mapper: Callable[[Any, Any], Iterable[Any]]) -> None:
        self.mapper = mapper

    def process(self, record: Record) -> None:
        for v in self.mapper(record.key, record.value):
            self.context.forward(Record(record.key, v, record.timestamp, record.headers))


class Peek(Processor):
    def __init__(self, action: Callable[[Any, Any], None]) -> None:
        self.action = action

    def process(self, record: Record) -> None:
        self.action(record.key, record.value)
        self.context.forward(record)


class Foreach(Processor):
    def __init__(self, action: Callable[[Any, Any], None]) -> None:
        self.action = action

    def process(self, record: Record) -> None:
        self.action(record.key, record.value)


class Branch(Processor):
    """`split()`: forward to the first branch whose predicate matches, else to the default branch."""

    def __init__(self, predicates: list[Callable[[Any, Any], bool]], children: list[str]) -> None:
        self.predicates = predicates
        self.child_names = children

    def process(self, record: Record) -> None:
        for i, p in enumerate(self.predicates):
            if p(record.key, record.value):
                self.context.forward(record, self.child_names[i])
                return
        if len(self.child_names) > len(self.predicates):
            self.context.forward(record, self.child_names[len(self.predicates)])


class Print(Processor):
    """`print(Printed)`: writes `[label]: key, value` lines as Kafka's `PrintForeachAction`."""

    def __init__(
        self,
        out: TextIO | None,
        path: str | None,
        label: str,
        mapper: Callable[[Any, Any], str] | None,
    ) -> None:
        self.out = out
        self.path = path
        self.label = label
        self.mapper = mapper or (lambda k, v: f"{_java_str(k)}, {_java_str(v)}")

    def init(self, context: Any) -> None:
        super().init(context)
        if self.path is not None:
            self.out = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def process(self, record: Record) -> None:
        assert self.out is not None
        self.out.write(f"[{self.label}]: {self.mapper(record.key, record.value)}\n")
        self.out.flush()

    def close(self) -> None:
        if self.path is not None and self.out is not None:
            self.out.close()


def _java_str(x: Any) -> str:
    return "null" if x is None else str(x)
