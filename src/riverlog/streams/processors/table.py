"""KTable processors: source, filter, map_values, to_stream, group_by (repartition map), the table
aggregations (adder/subtractor), and suppress. Values inside a table's processors are `Change`s.

Suppress invariants (Kafka's `KTableSuppressProcessorSupplier`): records are buffered per key (a newer
update replaces an older one, keeping the first old value); the buffer time is the window end
(`until_window_closes`) or the record timestamp (`until_time_limit`); entries whose buffer time is
<= stream time - suppress duration are emitted in (time, key) order with their own timestamp and
headers; final results drop tombstones; a bounded buffer emits early or fails when full.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from riverlog.streams.errors import StreamsException
from riverlog.streams.processors.aggregate import _skip_null_key
from riverlog.streams.processors.base import Processor, ProcessorContext
from riverlog.streams.processors.stateless import _pair
from riverlog.streams.records import Change, Record, RecordContext
from riverlog.streams.state.stores import NO_TIMESTAMP, TimestampedKeyValueStore
from riverlog.streams.state.suppress_buffer import SuppressionBuffer

_Q = struct.Struct(">q")


class TableSupplier:
    """Builds one table processor per task; carries `send_old_values` and the optional store name."""

    def __init__(
        self, make: Callable[[TableSupplier], Processor], store_name: str | None = None
    ) -> None:
        self.make = make
        self.store_name = store_name
        self.send_old_values = False

    def __call__(self) -> Processor:
        return self.make(self)


class _StoreBacked(Processor):
    """A table processor that may write its result to a store (forwarding on cache flush)."""

    def __init__(self, supplier: TableSupplier) -> None:
        self.supplier = supplier
        self.store: TimestampedKeyValueStore | None = None
        self.caching = False

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.node = context.current_node_name()
        if self.supplier.store_name is not None:
            self.store = context.get_state_store(self.supplier.store_name)
            self.caching = self.store.layer.caching
            if self.caching:
                self.store.layer.flush_listener = self._on_flush
                self.store.layer.needs_old_values = self.supplier.send_old_values

    def _on_flush(
        self, key: bytes, new: bytes | None, old: bytes | None, rc: RecordContext
    ) -> None:
        assert self.store is not None
        nv = None if new is None else self.store._dv(new[8:])
        ov = None if old is None or not self.supplier.send_old_values else self.store._dv(old[8:])
        ts = rc.timestamp if new is None else _Q.unpack_from(new)[0]
        self.context.forward_from(
            self.node, Record(self.store._dk(key), Change(nv, ov), ts, rc.headers), rc
        )

    def _emit(self, record: Record, new: Any, old: Any) -> None:
        if self.store is not None:
            self.store.put(record.key, new, record.timestamp)
            if self.caching:
                return
        ov = old if self.supplier.send_old_values else None
        self.context.forward(Record(record.key, Change(new, ov), record.timestamp, record.headers))


class KTableSource(_StoreBacked):
    """`builder.table()`: upserts (tombstone = delete) and forwards `Change(new, old)`."""

    def process(self, record: Record) -> None:
        if record.key is None:
            _skip_null_key(self.context)
            return
        old = None
        if self.store is not None:
            vt = self.store.get_with_timestamp(record.key)
            old = None if vt is None else vt.value
        self._emit(record, record.value, old)


class KTableFilter(_StoreBacked):
    def __init__(
        self, supplier: TableSupplier, predicate: Callable[[Any, Any], bool], negate: bool
    ) -> None:
        super().__init__(supplier)
        self.predicate = predicate
        self.negate = negate

    def _compute(self, key: Any, value: Any) -> Any:
        if value is None:
            return None
        return value if bool(self.predicate(key, value)) != self.negate else None

    def process(self, record: Record) -> None:
        change: Change[Any] = record.value
        new = self._compute(record.key, change.new_value)
        old = self._compute(record.key, change.old_value) if self.supplier.send_old_values else None
        if self.supplier.send_old_values and new is None and old is None:
            return
        self._emit(record, new, old)


class KTableMapValues(_StoreBacked):
    def __init__(self, supplier: TableSupplier, mapper: Callable[[Any, Any], Any]) -> None:
        super().__init__(supplier)
        self.mapper = mapper

    def process(self, record: Record) -> None:
        change: Change[Any] = record.value
        new = None if change.new_value is None else self.mapper(record.key, change.new_value)
        old = None
        if self.supplier.send_old_values and change.old_value is not None:
            old = self.mapper(record.key, change.old_value)
        self._emit(record, new, old)


class KTableToStream(Processor):
    def process(self, record: Record) -> None:
        self.context.forward(
            Record(record.key, record.value.new_value, record.timestamp, record.headers)
        )


class KTableRepartitionMap(Processor):
    """`KTable.group_by`: re-keys the old value (subtract) and the new value (add)."""

    def __init__(self, selector: Callable[[Any, Any], Any]) -> None:
        self.selector = selector

    def process(self, record: Record) -> None:
        if record.key is None:
            raise StreamsException("Record key for the grouping KTable should not be null.")
        change: Change[Any] = record.value
        new = (
            None if change.new_value is None else _pair(self.selector(record.key, change.new_value))
        )
        old = (
            None if change.old_value is None else _pair(self.selector(record.key, change.old_value))
        )
        old_ok = old is not None and old[0] is not None and old[1] is not None
        new_ok = new is not None and new[0] is not None and new[1] is not None
        ts, h = record.timestamp, record.headers
        if old_ok and new_ok and old[0] == new[0]:  # type: ignore[index]
            self.context.forward(Record(old[0], Change(new[1], old[1]), ts, h))  # type: ignore[index]
            return
        if old_ok:
            self.context.forward(Record(old[0], Change(None, old[1]), ts, h))  # type: ignore[index]
        if new_ok:
            self.context.forward(Record(new[0], Change(new[1], None), ts, h))  # type: ignore[index]


class KTableAggregate(_StoreBacked):
    """`KGroupedTable.aggregate/count` (`reduce_mode=False`) and `reduce` (adder/subtractor reducers)."""

    def __init__(
        self,
        supplier: TableSupplier,
        initializer: Callable[[], Any] | None,
        adder: Callable[..., Any],
        subtractor: Callable[..., Any],
        reduce_mode: bool,
    ) -> None:
        super().__init__(supplier)
        self.initializer = initializer
        self.adder = adder
        self.subtractor = subtractor
        self.reduce_mode = reduce_mode

    def process(self, record: Record) -> None:
        if record.key is None:
            raise StreamsException(
                f"Record key for KTable aggregate operator with state {self.supplier.store_name} should not be null."
            )
        assert self.store is not None
        change: Change[Any] = record.value
        old_vt = self.store.get_with_timestamp(record.key)
        old_agg = None if old_vt is None else old_vt.value
        ts = record.timestamp
        if change.old_value is not None and old_agg is not None:
            if self.reduce_mode:
                inter = self.subtractor(old_agg, change.old_value)
            else:
                inter = self.subtractor(record.key, change.old_value, old_agg)
            ts = max(ts, old_vt.timestamp)  # type: ignore[union-attr]
        else:
            inter = old_agg
        if change.new_value is not None:
            if self.reduce_mode:
                new_agg = change.new_value if inter is None else self.adder(inter, change.new_value)
                if inter is not None and old_vt is not None:
                    ts = max(record.timestamp, old_vt.timestamp)
            else:
                assert self.initializer is not None
                base = self.initializer() if inter is None else inter
                new_agg = self.adder(record.key, change.new_value, base)
                if old_vt is not None:
                    ts = max(record.timestamp, old_vt.timestamp)
        else:
            new_agg = inter
        self.store.put(record.key, new_agg, ts)
        if not self.caching:
            ov = old_agg if self.supplier.send_old_values else None
            self.context.forward(Record(record.key, Change(new_agg, ov), ts, record.headers))


class KTableSuppress(Processor):
    """`suppress(...)`: buffers updates and emits them once their time has passed."""

    def __init__(
        self,
        store_name: str,
        duration_ms: int,
        window_end_time: bool,
        safe_to_drop_tombstones: bool,
        max_records: int | None,
        max_bytes: int | None,
        shut_down_when_full: bool,
    ) -> None:
        self.store_name = store_name
        self.duration_ms = duration_ms
        self.window_end_time = window_end_time
        self.safe_to_drop_tombstones = safe_to_drop_tombstones
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.shut_down_when_full = shut_down_when_full
        self.observed_stream_time = NO_TIMESTAMP

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.buffer: SuppressionBuffer = context.get_state_store(self.store_name)
        self.node = context.current_node_name()

    def process(self, record: Record) -> None:
        self.observed_stream_time = max(self.observed_stream_time, record.timestamp)
        t = record.key.window.end if self.window_end_time else record.timestamp
        rc = self.context.record_context
        ctx = RecordContext(record.timestamp, record.headers, rc.topic, rc.partition, rc.offset)
        change: Change[Any] = record.value
        self.buffer.put(t, record.key, change.new_value, change.old_value, ctx)
        self._enforce()

    def _over(self) -> bool:
        return (self.max_records is not None and len(self.buffer) > self.max_records) or (
            self.max_bytes is not None and self.buffer.size_bytes > self.max_bytes
        )

    def _due(self) -> bool:
        t = self.buffer.min_time()
        return t is not None and t <= self.observed_stream_time - self.duration_ms

    def _enforce(self) -> None:
        self.buffer.evict_while(self._due, self._emit)
        if self._over():
            if self.shut_down_when_full:
                raise StreamsException(
                    f"{self.node} buffer exceeded its max capacity. Currently "
                    f"[{len(self.buffer)}/{self.max_records}] records and "
                    f"[{self.buffer.size_bytes}/{self.max_bytes}] bytes.",
                    self.node,
                )
            self.buffer.evict_while(self._over, self._emit)

    def _emit(self, key: Any, new: Any, old: Any, ctx: RecordContext) -> None:
        if new is None and self.safe_to_drop_tombstones:
            return
        self.context.forward_from(
            self.node, Record(key, Change(new, old), ctx.timestamp, ctx.headers), ctx
        )
