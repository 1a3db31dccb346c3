"""Stream aggregations: count/reduce/aggregate, and their time-, sliding- and session-windowed forms,
with Kafka Streams' semantics (see `KStreamAggregate`, `KStreamWindowAggregate`,
`KStreamSlidingWindowAggregate`, `KStreamSessionWindowAggregate`).

Each forwards `Change(new, old)` (old only when a downstream table asks for old values); with a caching
store the update is forwarded when the cache flushes (one per key per commit) instead.
Time: a window accepts a record while `window end > stream time - grace` (sliding: `end >=`; session:
`end >= stream time - grace - gap`), else the record is dropped and counted in `dropped-records`.
Output timestamps: the max record timestamp in the window (sessions: the session end).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any

from riverlog.streams.processors.base import Processor, ProcessorContext
from riverlog.streams.records import (
    Change,
    Record,
    RecordContext,
    ValueAndTimestamp,
    Window,
    Windowed,
)
from riverlog.streams.state.stores import (
    NO_TIMESTAMP,
    SessionStore,
    TimestampedKeyValueStore,
    TimestampedWindowStore,
)
from riverlog.streams.windows import SessionWindows, SlidingWindows, TimeWindows

log = logging.getLogger("riverlog.streams")
_Q = struct.Struct(">q")

Initializer = Callable[[], Any]
Aggregator = Callable[[Any, Any, Any], Any]  # (key, value, aggregate) -> aggregate
Reducer = Callable[[Any, Any], Any]  # (aggregate, value) -> aggregate
Merger = Callable[[Any, Any, Any], Any]  # (key, agg1, agg2) -> agg


class AggregateSupplier:
    """Builds one processor per task; `send_old_values` is set when a downstream table needs it."""

    def __init__(self, store_name: str, make: Callable[[AggregateSupplier], Processor]) -> None:
        self.store_name = store_name
        self.send_old_values = False
        self._make = make

    def __call__(self) -> Processor:
        return self._make(self)


def _skip_null_key(ctx: ProcessorContext, what: str = "null key") -> None:
    rc = ctx.record_context
    log.warning(
        "Skipping record due to %s. topic=[%s] partition=[%s] offset=[%s]",
        what,
        rc.topic,
        rc.partition,
        rc.offset,
    )
    ctx.record_dropped(ctx.current_node_name(), what)


class KStreamAggregate(Processor):
    """count / aggregate (`reducer=None`) and reduce (`reducer` set) on a timestamped KV store."""

    def __init__(
        self,
        supplier: AggregateSupplier,
        initializer: Initializer | None,
        aggregator: Aggregator | None,
        reducer: Reducer | None = None,
    ) -> None:
        self.supplier = supplier
        self.initializer = initializer
        self.aggregator = aggregator
        self.reducer = reducer

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.store: TimestampedKeyValueStore = context.get_state_store(self.supplier.store_name)
        self.node = context.current_node_name()
        self.caching = self.store.layer.caching
        if self.caching:
            self.store.layer.flush_listener = self._on_flush
            self.store.layer.needs_old_values = self.supplier.send_old_values

    def _on_flush(
        self, key: bytes, new: bytes | None, old: bytes | None, rc: RecordContext
    ) -> None:
        nv = None if new is None else self.store._dv(new[8:])
        ov = None if old is None or not self.supplier.send_old_values else self.store._dv(old[8:])
        ts = rc.timestamp if new is None else _Q.unpack_from(new)[0]
        self.context.forward_from(
            self.node, Record(self.store._dk(key), Change(nv, ov), ts, rc.headers), rc
        )

    def process(self, record: Record) -> None:
        if record.key is None or record.value is None:
            _skip_null_key(self.context, "null key or value")
            return
        store = self.store
        kb = store._k(record.key)  # serialized once for the read and the write
        raw = store.layer.get(kb)
        old_agg = None if raw is None else store._dv(raw[8:])
        if old_agg is None:
            if self.reducer is not None:
                new_agg = record.value
            else:
                assert self.initializer is not None and self.aggregator is not None
                new_agg = self.aggregator(record.key, record.value, self.initializer())
            ts = record.timestamp
        else:
            if self.reducer is not None:
                new_agg = self.reducer(old_agg, record.value)
            else:
                assert self.aggregator is not None
                new_agg = self.aggregator(record.key, record.value, old_agg)
            ts = max(record.timestamp, _Q.unpack_from(raw)[0])  # type: ignore[arg-type]
        store.put_raw(kb, new_agg, ts)
        if not self.caching:
            ov = old_agg if self.supplier.send_old_values else None
            self.context.forward(Record(record.key, Change(new_agg, ov), ts, record.headers))


class _WindowedBase(Processor):
    def __init__(
        self, supplier: AggregateSupplier, initializer: Initializer, aggregator: Aggregator
    ) -> None:
        self.supplier = supplier
        self.initializer = initializer
        self.aggregator = aggregator
        self.observed_stream_time = NO_TIMESTAMP
        self.node = ""

    def _dropped_expired(self, record: Record, close_time: int, window: str) -> None:
        rc = self.context.record_context
        log.warning(
            "Skipping record for expired window. topic=[%s] partition=[%s] offset=[%s] timestamp=[%s] "
            "window=%s expiration=[%s] streamTime=[%s]",
            rc.topic,
            rc.partition,
            rc.offset,
            record.timestamp,
            window,
            close_time,
            self.observed_stream_time,
        )
        self.context.record_dropped(self.node, "expired window")


class KStreamWindowAggregate(_WindowedBase):
    """Tumbling and hopping window aggregation (`TimeWindows`)."""

    def __init__(
        self,
        supplier: AggregateSupplier,
        windows: TimeWindows,
        initializer: Initializer,
        aggregator: Aggregator,
    ) -> None:
        super().__init__(supplier, initializer, aggregator)
        self.windows = windows

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.store: TimestampedWindowStore = context.get_state_store(self.supplier.store_name)
        self.node = context.current_node_name()
        self.caching = self.store.layer.caching
        if self.caching:
            self.store.layer.flush_listener = self._on_flush
            self.store.layer.needs_old_values = self.supplier.send_old_values

    def _on_flush(
        self, key: bytes, new: bytes | None, old: bytes | None, rc: RecordContext
    ) -> None:
        kb, start = self.store._split(key)
        wkey = Windowed(self.store._dk(kb), self.store._window(start))
        nv = None if new is None else self.store._dv(new[8:])
        ov = None if old is None or not self.supplier.send_old_values else self.store._dv(old[8:])
        ts = rc.timestamp if new is None else _Q.unpack_from(new)[0]
        self.context.forward_from(self.node, Record(wkey, Change(nv, ov), ts, rc.headers), rc)

    def process(self, record: Record) -> None:
        if record.key is None:
            _skip_null_key(self.context)
            return
        ts = record.timestamp
        self.observed_stream_time = max(self.observed_stream_time, ts)
        close_time = self.observed_stream_time - self.windows.grace_ms
        for start, window in self.windows.windows_for(ts).items():
            if window.end > close_time:
                old = self.store.fetch_with_timestamp(record.key, start)
                if old is None or old.value is None:
                    old_agg = self.initializer()
                    new_ts = ts
                else:
                    old_agg = old.value
                    new_ts = max(ts, old.timestamp)
                new_agg = self.aggregator(record.key, record.value, old_agg)
                self.store.put(record.key, new_agg, start, new_ts)
                if not self.caching:
                    ov = old_agg if self.supplier.send_old_values else None
                    self.context.forward(
                        Record(
                            Windowed(record.key, window),
                            Change(new_agg, ov),
                            new_ts,
                            record.headers,
                        )
                    )
            else:
                self._dropped_expired(record, close_time, f"[{start},{window.end})")


class KStreamSlidingWindowAggregate(KStreamWindowAggregate):
    """Sliding windows: one window `[t - d, t]` per record and right windows `[t + 1, t + 1 + d]`,
    following Kafka Streams' reverse-iteration algorithm."""

    def __init__(
        self,
        supplier: AggregateSupplier,
        windows: SlidingWindows,  # type: ignore[override]
        initializer: Initializer,
        aggregator: Aggregator,
    ) -> None:
        _WindowedBase.__init__(self, supplier, initializer, aggregator)
        self.sliding = windows
        self.d = windows.time_difference_ms

    def process(self, record: Record) -> None:
        if record.key is None or record.value is None:
            _skip_null_key(self.context, "null key or value")
            return
        ts = record.timestamp
        self.observed_stream_time = max(self.observed_stream_time, ts)
        close_time = self.observed_stream_time - self.sliding.grace_ms
        if ts + self.d < close_time:
            self._dropped_expired(record, close_time, f"[{ts},{ts + self.d}]")
            return
        if ts < self.d:
            self._process_early(record, close_time)
        else:
            self._process_reverse(record, close_time)

    def _window(self, start: int) -> Window:
        return Window(start, start + self.d)

    def _update(
        self, window: Window, vt: ValueAndTimestamp[Any] | None, record: Record, close: int
    ) -> None:
        if window.end >= close:
            old_agg = None if vt is None else vt.value
            new_agg = self.aggregator(record.key, record.value, old_agg)
            new_ts = (
                record.timestamp
                if old_agg is None or vt is None
                else max(record.timestamp, vt.timestamp)
            )
            self.store.put(record.key, new_agg, window.start, new_ts)
            self._forward(record, window, old_agg, new_agg, new_ts)
        else:
            self._dropped_expired(record, close, f"[{window.start},{window.end}]")

    def _forward(self, record: Record, window: Window, old: Any, new: Any, ts: int) -> None:
        if not self.caching:
            ov = old if self.supplier.send_old_values else None
            self.context.forward(
                Record(Windowed(record.key, window), Change(new, ov), ts, record.headers)
            )

    def _create_right(self, ts: int, right: ValueAndTimestamp[Any], record: Record) -> None:
        window = Window(ts + 1, ts + 1 + self.d)
        self.store.put(record.key, right.value, window.start, right.timestamp)
        self._forward(record, window, None, right.value, right.timestamp)

    def _create_previous_right(self, start: int, record: Record, close: int) -> None:
        self._update(
            self._window(start),
            ValueAndTimestamp(self.initializer(), record.timestamp),
            record,
            close,
        )

    def _process_reverse(self, record: Record, close: int) -> None:
        ts = record.timestamp
        starts: set[int] = set()
        left_agg: ValueAndTimestamp[Any] | None = None
        right_agg: ValueAndTimestamp[Any] | None = None
        left_created = right_created = False
        prev_ts: int | None = None
        found = list(
            self.store.fetch_range_with_timestamp(
                record.key, max(0, ts - 2 * self.d), ts + 1, reverse=True
            )
        )
        for start, vt in found:
            starts.add(start)
            end = start + self.d
            if start == ts + 1:
                right_created = True
            elif end > ts:
                if right_agg is None:
                    right_agg = vt
                self._update(self._window(start), vt, record, close)
            elif end == ts:
                left_created = True
                self._update(self._window(start), vt, record, close)
                if vt.timestamp < ts:
                    prev_ts = vt.timestamp
                else:
                    return
            else:
                left_agg = vt
                prev_ts = vt.timestamp
                break
        self._create_windows(
            record, close, starts, right_agg, left_agg, left_created, right_created, prev_ts
        )

    def _create_windows(
        self,
        record: Record,
        close: int,
        starts: set[int],
        right_agg: ValueAndTimestamp[Any] | None,
        left_agg: ValueAndTimestamp[Any] | None,
        left_created: bool,
        right_created: bool,
        prev_ts: int | None,
    ) -> None:
        ts = record.timestamp
        if prev_ts is not None:
            prev_right = prev_ts + 1
            if prev_right not in starts and prev_right + self.d >= ts:
                self._create_previous_right(prev_right, record, close)
        if not left_created:
            if prev_ts is not None and ts - self.d <= prev_ts and left_agg is not None:
                vt = ValueAndTimestamp(left_agg.value, ts)
            else:
                vt = ValueAndTimestamp(self.initializer(), ts)
            self._update(self._window(ts - self.d), vt, record, close)
        if not right_created and right_agg is not None and right_agg.timestamp > ts:
            self._create_right(ts, right_agg, record)

    def _process_early(self, record: Record, close: int) -> None:
        ts = record.timestamp
        combined: tuple[int, ValueAndTimestamp[Any]] | None = None
        right_agg: ValueAndTimestamp[Any] | None = None
        right_created = False
        starts: set[int] = set()
        prev_ts: int | None = None
        for start, vt in list(self.store.fetch_range_with_timestamp(record.key, 0, ts + 1)):
            starts.add(start)
            if start == 0:
                combined = (start, vt)
                if vt.timestamp < ts:
                    prev_ts = vt.timestamp
            elif start <= ts:
                right_agg = vt
                self._update(self._window(start), vt, record, close)
            elif start == ts + 1:
                right_created = True
        if right_agg is None and combined is not None and combined[1].timestamp > ts:
            right_agg = combined[1]
        if not right_created and right_agg is not None and right_agg.timestamp > ts:
            self._create_right(ts, right_agg, record)
        if prev_ts is not None and (prev_ts + 1) not in starts:
            self._create_previous_right(prev_ts + 1, record, close)
        if combined is None:
            self._update(self._window(0), ValueAndTimestamp(self.initializer(), ts), record, close)
        else:
            self._update(self._window(0), combined[1], record, close)


class KStreamSessionWindowAggregate(_WindowedBase):
    """Session windows: merge every session within the gap, remove the merged ones (forwarding a
    tombstone for each), store the new session keyed by its window, output timestamp = session end."""

    def __init__(
        self,
        supplier: AggregateSupplier,
        windows: SessionWindows,
        initializer: Initializer,
        aggregator: Aggregator,
        merger: Merger,
    ) -> None:
        super().__init__(supplier, initializer, aggregator)
        self.windows = windows
        self.merger = merger

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.store: SessionStore = context.get_state_store(self.supplier.store_name)
        self.node = context.current_node_name()
        self.caching = self.store.layer.caching
        if self.caching:
            self.store.layer.flush_listener = self._on_flush
            self.store.layer.needs_old_values = self.supplier.send_old_values

    def _on_flush(
        self, key: bytes, new: bytes | None, old: bytes | None, rc: RecordContext
    ) -> None:
        end, start = struct.unpack_from(">qq", key, len(key) - 16)
        wkey = Windowed(self.store._dk(key[8:-16]), Window(start, end))
        nv = None if new is None else self.store._dv(new)
        ov = None if old is None or not self.supplier.send_old_values else self.store._dv(old)
        self.context.forward_from(self.node, Record(wkey, Change(nv, ov), end, rc.headers), rc)

    def _forward(self, key: Windowed[Any], old: Any, new: Any, headers: Any) -> None:
        if not self.caching:
            ov = old if self.supplier.send_old_values else None
            self.context.forward(Record(key, Change(new, ov), key.window.end, headers))

    def process(self, record: Record) -> None:
        if record.key is None:
            _skip_null_key(self.context)
            return
        ts = record.timestamp
        self.observed_stream_time = max(self.observed_stream_time, ts)
        close_time = self.observed_stream_time - self.windows.grace_ms - self.windows.gap_ms
        gap = self.windows.gap_ms
        merged = list(self.store.find_sessions(record.key, ts - gap, ts + gap))
        agg = self.initializer()
        start, end = ts, ts
        for kv in merged:
            agg = self.merger(record.key, agg, kv.value)
            start, end = min(start, kv.key.window.start), max(end, kv.key.window.end)
        if end < close_time:
            self._dropped_expired(record, close_time, f"[{start},{end}]")
            return
        if (start, end) != (ts, ts):
            for kv in merged:
                self.store.remove(kv.key)
                self._forward(kv.key, kv.value, None, record.headers)
        agg = self.aggregator(record.key, record.value, agg)
        session = Windowed(record.key, Window(start, end))
        self.store.put(session, agg)
        self._forward(session, None, agg, record.headers)
