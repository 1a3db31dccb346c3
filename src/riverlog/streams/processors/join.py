"""Join processors: stream-table, table-table and windowed stream-stream (Kafka Streams' semantics).

Invariants:
- Stream-table: only stream records produce output; the table is read as it is when the stream record
  is processed (its store, cache included); a stream record with a null key or value is dropped.
- Table-table (Kafka's `KTableKTable{Inner,Left,Right,Outer}Join`): each side's update looks up the
  other side's store; inner emits only when the other side has a value; left/outer propagate
  tombstones because their outer side(s) send old values; the result timestamp is the max of both.
- Stream-stream (Kafka 3.1+): each side's records go into its own window store (duplicates kept);
  a record joins the other side's records in `[t - before, t + after]` (mirrored for the other side).
  A left/outer record with no match is held in the shared outer store, keyed
  `timestamp(8) | side(1, left=1) | key`, and emitted with a null partner only once its window has
  closed (stream time > t + lookback + grace), in timestamp order; a later match deletes it. Stream
  time is shared by both sides of one task.
"""

from __future__ import annotations

import inspect
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from riverlog.streams.processors.aggregate import _skip_null_key
from riverlog.streams.processors.base import Processor, ProcessorContext
from riverlog.streams.processors.table import TableSupplier, _StoreBacked
from riverlog.streams.records import Change, Record, RecordContext, TaskId
from riverlog.streams.state.stores import TimestampedKeyValueStore, TimestampedWindowStore

_Q = struct.Struct(">q")
UNKNOWN = -1
Joiner = Callable[[Any, Any, Any], Any]  # (key, left value, right value)


def joiner_with_key(fn: Callable[..., Any]) -> Joiner:
    """Accept `ValueJoiner` (v1, v2) and `ValueJoinerWithKey` (key, v1, v2) callables."""
    try:
        n = len(
            [
                p
                for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
            ]
        )
    except (TypeError, ValueError):
        n = 2
    if n >= 3:
        return fn
    return lambda _k, a, b: fn(a, b)


def reverse(joiner: Joiner) -> Joiner:
    return lambda k, a, b: joiner(k, b, a)


# -- stream-table ------------------------------------------------------------------------------
class KStreamKTableJoin(Processor):
    def __init__(
        self,
        store_name: str,
        joiner: Joiner,
        left: bool,
        key_mapper: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        self.store_name = store_name
        self.joiner = joiner
        self.left = left
        self.key_mapper = key_mapper

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.table: Any = context.get_state_store(self.store_name)

    def process(self, record: Record) -> None:
        if self.key_mapper is not None:  # global table: look up by the selected key
            if record.value is None:
                _skip_null_key(self.context, "null value")
                return
            lookup = self.key_mapper(record.key, record.value)
            if lookup is None and not self.left:
                _skip_null_key(self.context, "null join key")
                return
        else:
            if record.key is None or record.value is None:
                _skip_null_key(self.context, "null key or value")
                return
            lookup = record.key
        other = None if lookup is None else self.table.get(lookup)
        if other is None and not self.left:
            return
        self.context.forward(record.with_value(self.joiner(record.key, record.value, other)))


# -- table-table -------------------------------------------------------------------------------
class KTableKTableJoin(Processor):
    """One side of a table-table join; `kind` is inner | left | right | outer (Kafka's classes)."""

    def __init__(self, kind: str, other_store: str, joiner: Joiner, result: TableSupplier) -> None:
        self.kind = kind
        self.other_store = other_store
        self.joiner = joiner
        self.result = result  # the merger's supplier: whether old values are sent on

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.other: TimestampedKeyValueStore = context.get_state_store(self.other_store)

    def process(self, record: Record) -> None:
        if record.key is None:
            _skip_null_key(self.context)
            return
        change: Change[Any] = record.value
        vt = self.other.get_with_timestamp(record.key)
        other = None if vt is None else vt.value
        send_old = self.result.send_old_values
        k, new_v, old_v = record.key, change.new_value, change.old_value
        new = old = None
        if self.kind == "inner":
            if other is None:
                return
            if new_v is not None:
                new = self.joiner(k, new_v, other)
            if send_old and old_v is not None:
                old = self.joiner(k, old_v, other)
        elif self.kind == "right":  # the right side of a left join: only when the left has a value
            if other is None:
                return
            new = self.joiner(k, new_v, other)
            if send_old:
                old = self.joiner(k, old_v, other)
        else:
            if other is None and new_v is None and old_v is None:
                return
            if self.kind == "left":
                if new_v is not None:
                    new = self.joiner(k, new_v, other)
                if send_old and old_v is not None:
                    old = self.joiner(k, old_v, other)
            else:  # outer
                if other is not None or new_v is not None:
                    new = self.joiner(k, new_v, other)
                if send_old and (other is not None or old_v is not None):
                    old = self.joiner(k, old_v, other)
        ts = record.timestamp if vt is None else max(record.timestamp, vt.timestamp)
        self.context.forward(Record(k, Change(new, old), ts, record.headers))


class KTableKTableJoinMerger(_StoreBacked):
    """Both join sides feed this node; it stores the result when the join is materialized."""

    def process(self, record: Record) -> None:
        change: Change[Any] = record.value
        self._emit(record, change.new_value, change.old_value)


# -- stream-stream -----------------------------------------------------------------------------
@dataclass
class TimeTracker:
    stream_time: int = UNKNOWN
    min_time: int = 2**63 - 1


class SharedTimeTrackers:
    """One tracker per task, shared by both sides of a stream-stream join."""

    def __init__(self) -> None:
        self.by_task: dict[TaskId, TimeTracker] = {}

    def get(self, task_id: TaskId) -> TimeTracker:
        return self.by_task.setdefault(task_id, TimeTracker())


class KStreamJoinWindow(Processor):
    """Forwards each record, then writes it into its side's window store."""

    def __init__(self, store_name: str) -> None:
        self.store_name = store_name

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.store: TimestampedWindowStore = context.get_state_store(self.store_name)

    def process(self, record: Record) -> None:
        # as Kafka's `KStreamJoinWindow`: forward first (a self-join does not see its own record)
        self.context.forward(record)
        if record.key is not None and record.value is not None:
            self.store.put(record.key, record.value, record.timestamp, record.timestamp)


class KStreamKStreamJoin(Processor):
    def __init__(
        self,
        is_left: bool,
        this_store: str,
        other_store: str,
        outer_store: str | None,
        before_ms: int,
        after_ms: int,
        grace_ms: int,
        joiner: Joiner,
        outer: bool,
        trackers: SharedTimeTrackers,
    ) -> None:
        self.is_left = is_left
        self.this_store_name = this_store
        self.other_store_name = other_store
        self.outer_store_name = outer_store
        # the window as seen from this side: the right side mirrors before/after
        self.before_ms = before_ms if is_left else after_ms
        self.after_ms = after_ms if is_left else before_ms
        self.windows_before_ms = before_ms
        self.windows_after_ms = after_ms
        self.grace_ms = grace_ms
        self.joiner = joiner  # (key, left, right)
        self.outer = outer
        self.trackers = trackers

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.this_store: TimestampedWindowStore = context.get_state_store(self.this_store_name)
        self.other_store: TimestampedWindowStore = context.get_state_store(self.other_store_name)
        self.outer_store: TimestampedKeyValueStore | None = (
            None
            if self.outer_store_name is None
            else context.get_state_store(self.outer_store_name)
        )
        self.tracker = self.trackers.get(context.task_id)
        self.left_store = self.this_store if self.is_left else self.other_store
        self.right_store = self.other_store if self.is_left else self.this_store

    def _join(self, key: Any, this: Any, other: Any) -> Any:
        return self.joiner(key, this, other) if self.is_left else self.joiner(key, other, this)

    def process(self, record: Record) -> None:
        ts = record.timestamp
        tracker = self.tracker
        tracker.stream_time = max(tracker.stream_time, ts)
        if self.outer and record.key is None and record.value is not None:
            self.context.forward(record.with_value(self._join(None, record.value, None)))
            return
        if record.key is None or record.value is None:
            _skip_null_key(self.context, "null key or value")
            return
        if self.outer_store is not None and ts == tracker.stream_time:
            self._emit_non_joined(record)
        t_from = max(0, ts - self.before_ms)
        t_to = max(0, ts + self.after_ms)
        matched = False
        for other_ts, vt in self.other_store.fetch_range_with_timestamp(record.key, t_from, t_to):
            matched = True
            if self.outer_store is not None:
                okb = self._outer_key(not self.is_left, record.key, other_ts)
                if self.outer_store.layer.get(okb) is not None:
                    self.outer_store.layer.put(okb, None, self.context.record_context)
            self.context.forward(
                Record(
                    record.key,
                    self._join(record.key, record.value, vt.value),
                    max(ts, other_ts),
                    record.headers,
                )
            )
        if self.outer and not matched:
            if self.outer_store is None or t_to < tracker.stream_time:
                self.context.forward(record.with_value(self._join(record.key, record.value, None)))
            else:
                tracker.min_time = min(tracker.min_time, ts)
                vb = self.this_store.value_serde.serialize(self.this_store.topic, record.value)
                flag = b"\x01" if self.is_left else b"\x00"
                self.outer_store.layer.put(
                    self._outer_key(self.is_left, record.key, ts),
                    _Q.pack(ts) + flag + (vb or b""),
                    self.context.record_context,
                )

    def _outer_key(self, left: bool, key: Any, ts: int) -> bytes:
        store: TimestampedWindowStore = self.left_store if left else self.right_store
        kb: bytes = store._k(key)
        return _Q.pack(ts) + (b"\x01" if left else b"\x00") + kb

    def _window_open(self, left: bool) -> bool:
        lookback = self.windows_after_ms if left else self.windows_before_ms
        t = self.tracker
        return t.min_time + lookback + self.grace_ms >= t.stream_time

    def _emit_non_joined(self, record: Record) -> None:
        t = self.tracker
        assert self.outer_store is not None
        if t.min_time + self.windows_after_ms + self.grace_ms >= t.stream_time:
            return
        t.min_time = 2**63 - 1
        layer = self.outer_store.layer
        left_open = right_open = False
        done: list[bytes] = []
        for kb, raw in list(layer.range(None, None)):
            ts = _Q.unpack_from(kb)[0]
            left = kb[8] == 1
            t.min_time = ts
            if left_open and right_open:
                break
            if self._window_open(left):
                if left:
                    left_open = True
                else:
                    right_open = True
                continue
            store = self.left_store if left else self.right_store
            key = store._dk(kb[9:])
            value = store._dv(raw[9:])
            out = self.joiner(key, value, None) if left else self.joiner(key, None, value)
            self.context.forward(Record(key, out, ts, record.headers))
            done.append(kb)
        ctx: RecordContext = self.context.record_context
        for kb in done:
            layer.put(kb, None, ctx)
