"""What compiled queries add to a riverlog.streams topology besides the DSL's operators.

- `InternalSerde`: rows, keys and aggregate states in stores, changelogs and repartition topics
  (JSON with tags for DECIMAL, BYTES and tuples; not a user-visible format).
- `add_processor`: attach a processor that sees the record context (ROWTIME, ROWPARTITION,
  ROWOFFSET, headers) to a KStream, through the topology's public node API.
- `RowSource`: turns a source's (key, value) into the row tuple queries evaluate over:
  key columns, value columns, headers, then the pseudo columns.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from riverlog.sql.formats import BAD_RECORD, ProcessingLog
from riverlog.streams import KStream
from riverlog.streams.processors.base import Processor
from riverlog.streams.records import Record, Windowed
from riverlog.streams.serdes import Serde
from riverlog.streams.topology import ProcessorSpec


def _default(v: Any) -> Any:
    if isinstance(v, Decimal):
        return {"$d": str(v)}
    if isinstance(v, (bytes, bytearray)):
        return {"$b": base64.b64encode(bytes(v)).decode()}
    raise TypeError(f"cannot encode {type(v).__name__}")


def _hook(d: dict[str, Any]) -> Any:
    if len(d) == 1:
        if "$d" in d:
            return Decimal(d["$d"])
        if "$b" in d:
            return base64.b64decode(d["$b"])
    return d


_encode = json.JSONEncoder(separators=(",", ":"), default=_default).encode
_decode = json.JSONDecoder(object_hook=_hook).decode


class InternalSerde(Serde[Any]):
    """JSON for internal topics and stores (C-speed), DECIMAL and BYTES tagged; a top-level
    array comes back as a tuple (keys and rows are tuples), nested ones as lists."""

    def serialize(self, topic: str, data: Any) -> bytes | None:
        if data is None:
            return None
        return _encode(data).encode()

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        v = _decode(data.decode())
        return tuple(v) if isinstance(v, list) else v


class _FnProcessor(Processor):
    def __init__(self, fn: Callable[[Processor, Record], None]) -> None:
        self.fn = fn

    def process(self, record: Record) -> None:
        self.fn(self, record)


def add_processor(
    stream: KStream,
    name: str,
    fn: Callable[[Processor, Record], None],
    key_serde: Serde[Any] | None = None,
    value_serde: Serde[Any] | None = None,
    key_changing: bool = False,
    stores: list[str] | None = None,
) -> KStream:
    """A processor node after `stream`; `fn(processor, record)` forwards with `processor.context`."""
    builder = stream.builder
    node = (
        builder.name_or(name, "KSTREAM-TRANSFORMVALUES-")
        if name
        else builder.new_processor_name("KSTREAM-TRANSFORMVALUES-")
    )
    builder.topology.add_processor(
        ProcessorSpec(node, lambda: _FnProcessor(fn), [stream.name], list(stores or []))
    )
    return KStream(
        builder,
        node,
        key_serde if key_serde is not None else stream.key_serde,
        value_serde,
        key_changing or stream.repartition_required,
    )


class RowSource:
    """Builds the row tuple: key columns, value columns, header columns, ROWTIME, ROWPARTITION,
    ROWOFFSET and, for windowed sources, WINDOWSTART and WINDOWEND."""

    def __init__(
        self,
        n_key: int,
        n_value: int,
        header_columns: list[str | None],
        windowed: bool,
        keep_tombstones: bool,
        plog: ProcessingLog,
    ) -> None:
        self.n_key = n_key
        self.n_value = n_value
        self.header_columns = header_columns  # None = all headers (HEADERS), else one key
        self.windowed = windowed
        self.keep_tombstones = keep_tombstones
        self.plog = plog

    def row_of(self, proc: Processor, record: Record) -> tuple[Any, ...] | None:
        """The row of a record with a value (None for tombstones and unreadable records)."""
        key, value = record.key, record.value
        if value is None or value is BAD_RECORD or key is BAD_RECORD:
            return None
        ctx = proc.context.record_context
        if not self.header_columns and not self.windowed:
            if key is None:
                key = (None,) * self.n_key
            return (*key, *value, record.timestamp, ctx.partition, ctx.offset)
        row: list[Any] = []
        inner = key.key if isinstance(key, Windowed) else key
        row.extend(inner if inner is not None else (None,) * self.n_key)
        row.extend(value)
        for h in self.header_columns:
            row.append(_headers(record.headers, h))
        row.append(record.timestamp)
        row.append(ctx.partition)
        row.append(ctx.offset)
        if self.windowed:
            w = key.window if isinstance(key, Windowed) else None
            row.append(None if w is None else w.start)
            row.append(None if w is None else w.end)
        return tuple(row)

    def __call__(self, proc: Processor, record: Record) -> None:
        key, value = record.key, record.value
        if key is BAD_RECORD or value is BAD_RECORD:
            return
        ctx = proc.context.record_context
        if value is None:
            if self.keep_tombstones:
                proc.context.forward(Record(self._key(key), None, record.timestamp, record.headers))
            return
        row: list[Any] = []
        inner = key.key if isinstance(key, Windowed) else key
        row.extend(inner if inner is not None else (None,) * self.n_key)
        row.extend(value)
        for h in self.header_columns:
            row.append(_headers(record.headers, h))
        row.append(record.timestamp)
        row.append(ctx.partition)
        row.append(ctx.offset)
        if self.windowed:
            w = key.window if isinstance(key, Windowed) else None
            row.append(None if w is None else w.start)
            row.append(None if w is None else w.end)
        proc.context.forward(Record(self._key(key), tuple(row), record.timestamp, record.headers))

    @staticmethod
    def _key(key: Any) -> Any:
        return key


def _headers(headers: list[tuple[str, bytes | None]], name: str | None) -> Any:
    if name is None:
        return [{"KEY": k, "VALUE": v} for k, v in headers]
    found = [v for k, v in headers if k == name]
    return found[-1] if found else None
