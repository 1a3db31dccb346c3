"""Typed key-value, window and session stores with Kafka's ReadOnly* query methods (snake_case).

Byte formats (what the changelog holds, so Java Kafka Streams reads our changelogs and we read its):
- timestamped key-value: store value = 8-byte timestamp + value; changelog record = (key, value) with
  the record timestamp = that timestamp (Kafka's `ChangeLoggingTimestampedKeyValueBytesStore`).
- timestamped window: changelog key = key + 8-byte window start + 4-byte seqnum (`WindowKeySchema`),
  value and timestamp as above; locally each key is prefixed with its 8-byte segment id.
- session: changelog key = key + 8-byte end + 8-byte start (`SessionKeySchema`), value = aggregate;
  locally prefixed with the segment id of the session end.
Segments are `max(retention / 2, 60 s)` wide; whole segments older than stream time - retention are
dropped, and reads never return a window that has expired.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from riverlog.streams.records import (
    KeyValue,
    RecordContext,
    ValueAndTimestamp,
    Window,
    Windowed,
)
from riverlog.streams.serdes import MAX_LONG, Serde
from riverlog.streams.state.layered import LayeredBytesStore

_Q = struct.Struct(">q")
_I = struct.Struct(">i")
_QQ = struct.Struct(">qq")
_QI = struct.Struct(">qi")
NO_TIMESTAMP = -1

ContextFn = Callable[[], RecordContext]


def to_epoch_ms(t: int | datetime) -> int:
    """Epoch milliseconds of an int or a `datetime` (Kafka's `Instant`)."""
    if isinstance(t, datetime):
        return int(t.timestamp() * 1000)
    return int(t)


class KeyValueIterator(Iterator[KeyValue[Any, Any]]):
    """Kafka's `KeyValueIterator`: a Python iterator with `has_next`, `next`, `peek_next_key` and
    `close` (also a context manager); results are read lazily from the store."""

    __slots__ = ("_gen", "_peeked")

    _NONE: Any = object()

    def __init__(self, gen: Iterator[KeyValue[Any, Any]]) -> None:
        self._gen = gen
        self._peeked: Any = self._NONE

    def __iter__(self) -> KeyValueIterator:
        return self

    def __next__(self) -> KeyValue[Any, Any]:
        if self._peeked is not self._NONE:
            item, self._peeked = self._peeked, self._NONE
            return item  # type: ignore[no-any-return]
        return next(self._gen)

    def has_next(self) -> bool:
        if self._peeked is self._NONE:
            try:
                self._peeked = next(self._gen)
            except StopIteration:
                return False
        return True

    def next(self) -> KeyValue[Any, Any]:
        if not self.has_next():
            raise StopIteration
        return self.__next__()

    def peek_next_key(self) -> Any:
        if not self.has_next():
            raise StopIteration
        return self._peeked.key

    def close(self) -> None:
        close = getattr(self._gen, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> KeyValueIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


F = TypeVar("F", bound=Callable[..., Iterator[Any]])


def _kv_iterator(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> KeyValueIterator:
        return KeyValueIterator(fn(*args, **kwargs))

    return wrapper  # type: ignore[return-value]


class _TypedStore:
    kind = "kv"

    def __init__(
        self,
        name: str,
        layer: LayeredBytesStore,
        key_serde: Serde[Any],
        value_serde: Serde[Any],
        topic: str,
        context: ContextFn,
    ) -> None:
        self.name = name
        self.layer = layer
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.topic = topic
        self._context = context

    def _k(self, key: Any) -> bytes:
        b = self.key_serde.serialize(self.topic, key)
        if b is None:
            raise ValueError(f"store {self.name}: null keys are not allowed")
        return b

    def _dk(self, data: bytes) -> Any:
        return self.key_serde.deserialize(self.topic, data)

    def _dv(self, data: bytes) -> Any:
        return self.value_serde.deserialize(self.topic, data)

    def persistent(self) -> bool:
        return self.layer.inner.persistent

    def approximate_num_entries(self) -> int:
        return self.layer.approximate_num_entries()

    def flush(self) -> None:
        self.layer.flush()

    def close(self) -> None:
        self.layer.close()

    def restore(self, key: bytes, value: bytes | None, timestamp: int) -> None:
        raise NotImplementedError


class TimestampedKeyValueStore(_TypedStore):
    """A key-value store of (value, timestamp); `get` returns the value as `ReadOnlyKeyValueStore`."""

    kind = "kv"

    @staticmethod
    def to_changelog(
        key: bytes, value: bytes | None, ctx: RecordContext
    ) -> tuple[bytes, bytes | None, int]:
        if value is None:
            return key, None, ctx.timestamp
        return key, value[8:], _Q.unpack_from(value)[0]

    def restore(self, key: bytes, value: bytes | None, timestamp: int) -> None:
        self.layer.restore(key, None if value is None else _Q.pack(timestamp) + value)

    # -- processor side
    def get_with_timestamp(self, key: Any) -> ValueAndTimestamp[Any] | None:
        raw = self.layer.get(self._k(key))
        if raw is None:
            return None
        return ValueAndTimestamp(self._dv(raw[8:]), _Q.unpack_from(raw)[0])

    def put(self, key: Any, value: Any, timestamp: int | None = None) -> None:
        ctx = self._context()
        ts = ctx.timestamp if timestamp is None else timestamp
        vb = self.value_serde.serialize(self.topic, value)
        self.layer.put(self._k(key), None if vb is None else _Q.pack(ts) + vb, ctx)

    def put_raw(self, kb: bytes, value: Any, timestamp: int) -> None:
        """`put` with the key already serialized."""
        vb = self.value_serde.serialize(self.topic, value)
        self.layer.put(kb, None if vb is None else _Q.pack(timestamp) + vb, self._context())

    def put_if_absent(self, key: Any, value: Any) -> Any:
        old = self.get(key)
        if old is None:
            self.put(key, value)
        return old

    def delete(self, key: Any) -> Any:
        old = self.get(key)
        self.layer.put(self._k(key), None, self._context())
        return old

    # -- ReadOnlyKeyValueStore
    def get(self, key: Any) -> Any:
        raw = self.layer.get(self._k(key))
        return None if raw is None else self._dv(raw[8:])

    @_kv_iterator
    def _iter(
        self, lo: bytes | None, hi: bytes | None, reverse: bool
    ) -> Iterator[KeyValue[Any, Any]]:
        for k, v in self.layer.range(lo, hi, reverse):
            yield KeyValue(self._dk(k), self._dv(v[8:]))

    def range(self, key_from: Any = None, key_to: Any = None) -> Iterator[KeyValue[Any, Any]]:
        """Entries with `key_from <= key <= key_to` in serialized-key order (None = unbounded)."""
        lo = None if key_from is None else self._k(key_from)
        hi = None if key_to is None else self._k(key_to) + b"\x00"
        return self._iter(lo, hi, False)

    def reverse_range(
        self, key_from: Any = None, key_to: Any = None
    ) -> Iterator[KeyValue[Any, Any]]:
        lo = None if key_from is None else self._k(key_from)
        hi = None if key_to is None else self._k(key_to) + b"\x00"
        return self._iter(lo, hi, True)

    def all(self) -> Iterator[KeyValue[Any, Any]]:
        return self._iter(None, None, False)

    def reverse_all(self) -> Iterator[KeyValue[Any, Any]]:
        return self._iter(None, None, True)

    def prefix_scan(self, prefix: Any, prefix_serde: Serde[Any]) -> Iterator[KeyValue[Any, Any]]:
        p = prefix_serde.serialize(self.topic, prefix) or b""
        return self._iter(p, _prefix_end(p), False)


def _prefix_end(p: bytes) -> bytes | None:
    b = bytearray(p)
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return None


class _Segmented(_TypedStore):
    def __init__(
        self,
        name: str,
        layer: LayeredBytesStore,
        key_serde: Serde[Any],
        value_serde: Serde[Any],
        topic: str,
        context: ContextFn,
        retention_ms: int,
    ) -> None:
        super().__init__(name, layer, key_serde, value_serde, topic, context)
        self.retention_ms = retention_ms
        self.segment_interval = max(retention_ms // 2, 60_000)
        self.observed_stream_time = NO_TIMESTAMP

    def _seg(self, ts: int) -> int:
        return max(ts, 0) // self.segment_interval

    def _min_live(self) -> int:
        """The earliest timestamp a read may still return."""
        if self.observed_stream_time == NO_TIMESTAMP:
            return 0
        return max(0, self.observed_stream_time - self.retention_ms + 1)

    def _observe(self, ts: int) -> None:
        if ts > self.observed_stream_time:
            old_min_seg = self._seg(self._min_live())
            self.observed_stream_time = ts
            new_min_seg = self._seg(self._min_live())
            if new_min_seg > old_min_seg:
                self.layer.delete_range_inner(_Q.pack(0), _Q.pack(new_min_seg))

    def _segments(self, t_from: int, t_to: int) -> range:
        """Segments that may hold timestamps in `[t_from, t_to]` (none past observed stream time)."""
        if self.observed_stream_time == NO_TIMESTAMP:
            return range(0)
        return range(self._seg(t_from), self._seg(min(t_to, self.observed_stream_time)) + 1)


class TimestampedWindowStore(_Segmented):
    """Window store of (value, timestamp); `fetch` has Kafka's three forms by argument count."""

    kind = "window"

    def __init__(
        self, *args: Any, window_size_ms: int, retain_duplicates: bool = False, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.window_size_ms = window_size_ms
        self.retain_duplicates = retain_duplicates
        self._seqnum = 0

    @staticmethod
    def to_changelog(
        key: bytes, value: bytes | None, ctx: RecordContext
    ) -> tuple[bytes, bytes | None, int]:
        if value is None:
            return key[8:], None, ctx.timestamp
        return key[8:], value[8:], _Q.unpack_from(value)[0]

    def restore(self, key: bytes, value: bytes | None, timestamp: int) -> None:
        start = _Q.unpack_from(key, len(key) - 12)[0]
        self._observe(start)
        self.layer.restore(
            _Q.pack(self._seg(start)) + key, None if value is None else _Q.pack(timestamp) + value
        )

    def _split(self, internal: bytes) -> tuple[bytes, int]:
        start = _Q.unpack_from(internal, len(internal) - 12)[0]
        return internal[8:-12], start

    def _window(self, start: int) -> Window:
        return Window(start, min(start + self.window_size_ms, MAX_LONG))

    def put(self, key: Any, value: Any, window_start: int, timestamp: int | None = None) -> None:
        ctx = self._context()
        self._observe(window_start)
        if window_start <= self.observed_stream_time - self.retention_ms:
            return  # expired segment: Kafka skips the write
        seq = 0
        if self.retain_duplicates:
            if value is None:
                return
            self._seqnum = (self._seqnum + 1) & 0x7FFFFFFF
            seq = self._seqnum
        ts = ctx.timestamp if timestamp is None else timestamp
        vb = self.value_serde.serialize(self.topic, value)
        kb = _Q.pack(self._seg(window_start)) + self._k(key) + _QI.pack(window_start, seq)
        self.layer.put(kb, None if vb is None else _Q.pack(ts) + vb, ctx)

    def fetch_with_timestamp(self, key: Any, window_start: int) -> ValueAndTimestamp[Any] | None:
        if window_start < self._min_live():
            return None
        raw = self.layer.get(
            _Q.pack(self._seg(window_start)) + self._k(key) + _QI.pack(window_start, 0)
        )
        if raw is None:
            return None
        return ValueAndTimestamp(self._dv(raw[8:]), _Q.unpack_from(raw)[0])

    def _scan_key(
        self, kb: bytes, t_from: int, t_to: int, reverse: bool
    ) -> Iterator[tuple[int, bytes]]:
        t_from = max(t_from, self._min_live())
        if t_to < t_from:
            return
        segs = self._segments(t_from, t_to)
        for seg in reversed(segs) if reverse else segs:
            sp = _Q.pack(seg) + kb
            for k, v in self.layer.range(sp + _Q.pack(t_from), sp + _Q.pack(t_to + 1), reverse):
                if len(k) == len(sp) + 12:
                    yield _Q.unpack_from(k, len(k) - 12)[0], v

    def fetch_range_with_timestamp(
        self, key: Any, t_from: int, t_to: int, reverse: bool = False
    ) -> Iterator[tuple[int, ValueAndTimestamp[Any]]]:
        for start, v in self._scan_key(self._k(key), t_from, t_to, reverse):
            yield start, ValueAndTimestamp(self._dv(v[8:]), _Q.unpack_from(v)[0])

    # -- ReadOnlyWindowStore
    def fetch(self, *args: Any) -> Any:
        """`fetch(key, time)` -> value; `fetch(key, from, to)` -> KeyValue(start, value) iterator;
        `fetch(key_from, key_to, from, to)` -> KeyValue(Windowed, value) iterator."""
        if len(args) == 2:
            vt = self.fetch_with_timestamp(args[0], to_epoch_ms(args[1]))
            return None if vt is None else vt.value
        if len(args) == 3:
            return self._fetch_key(args[0], to_epoch_ms(args[1]), to_epoch_ms(args[2]), False)
        if len(args) == 4:
            return self._fetch_keys(
                args[0], args[1], to_epoch_ms(args[2]), to_epoch_ms(args[3]), False
            )
        raise TypeError("fetch takes (key, time), (key, from, to) or (key_from, key_to, from, to)")

    def backward_fetch(self, *args: Any) -> Any:
        if len(args) == 3:
            return self._fetch_key(args[0], to_epoch_ms(args[1]), to_epoch_ms(args[2]), True)
        if len(args) == 4:
            return self._fetch_keys(
                args[0], args[1], to_epoch_ms(args[2]), to_epoch_ms(args[3]), True
            )
        raise TypeError("backward_fetch takes (key, from, to) or (key_from, key_to, from, to)")

    @_kv_iterator
    def _fetch_key(
        self, key: Any, t_from: int, t_to: int, reverse: bool
    ) -> Iterator[KeyValue[int, Any]]:
        for start, v in self._scan_key(self._k(key), t_from, t_to, reverse):
            yield KeyValue(start, self._dv(v[8:]))

    def _scan_all(
        self, t_from: int, t_to: int, reverse: bool
    ) -> Iterator[tuple[bytes, int, bytes]]:
        t_from = max(t_from, self._min_live())
        if t_to < t_from:
            return
        segs = self._segments(t_from, t_to)
        for seg in reversed(segs) if reverse else segs:
            for k, v in self.layer.range(_Q.pack(seg), _Q.pack(seg + 1), reverse):
                kb, start = self._split(k)
                if t_from <= start <= t_to:
                    yield kb, start, v

    @_kv_iterator
    def _fetch_keys(
        self, key_from: Any, key_to: Any, t_from: int, t_to: int, reverse: bool
    ) -> Iterator[KeyValue[Windowed[Any], Any]]:
        lo = None if key_from is None else self._k(key_from)
        hi = None if key_to is None else self._k(key_to)
        for kb, start, v in self._scan_all(t_from, t_to, reverse):
            if (lo is None or kb >= lo) and (hi is None or kb <= hi):
                yield KeyValue(Windowed(self._dk(kb), self._window(start)), self._dv(v[8:]))

    def fetch_all(
        self, t_from: int | datetime, t_to: int | datetime
    ) -> Iterator[KeyValue[Windowed[Any], Any]]:
        return self._fetch_keys(None, None, to_epoch_ms(t_from), to_epoch_ms(t_to), False)

    def backward_fetch_all(
        self, t_from: int | datetime, t_to: int | datetime
    ) -> Iterator[KeyValue[Windowed[Any], Any]]:
        return self._fetch_keys(None, None, to_epoch_ms(t_from), to_epoch_ms(t_to), True)

    def all(self) -> Iterator[KeyValue[Windowed[Any], Any]]:
        return self._fetch_keys(None, None, 0, MAX_LONG, False)

    def backward_all(self) -> Iterator[KeyValue[Windowed[Any], Any]]:
        return self._fetch_keys(None, None, 0, MAX_LONG, True)


class SessionStore(_Segmented):
    """Session store (`ReadOnlySessionStore`): keys are `Windowed` with `[start, end]` sessions."""

    kind = "session"

    @staticmethod
    def to_changelog(
        key: bytes, value: bytes | None, ctx: RecordContext
    ) -> tuple[bytes, bytes | None, int]:
        return key[8:], value, ctx.timestamp

    def restore(self, key: bytes, value: bytes | None, timestamp: int) -> None:
        end = _Q.unpack_from(key, len(key) - 16)[0]
        self._observe(end)
        self.layer.restore(_Q.pack(self._seg(end)) + key, value)

    def _internal(self, kb: bytes, start: int, end: int) -> bytes:
        return _Q.pack(self._seg(end)) + kb + _QQ.pack(end, start)

    def put(self, session: Windowed[Any], agg: Any) -> None:
        end = session.window.end
        self._observe(end)
        if end <= self.observed_stream_time - self.retention_ms:
            return
        vb = self.value_serde.serialize(self.topic, agg)
        self.layer.put(
            self._internal(self._k(session.key), session.window.start, end), vb, self._context()
        )

    def remove(self, session: Windowed[Any]) -> None:
        kb = self._internal(self._k(session.key), session.window.start, session.window.end)
        self.layer.put(kb, None, self._context())

    def _find(
        self, kb: bytes, earliest_end: int, latest_start: int, reverse: bool
    ) -> Iterator[tuple[int, int, bytes]]:
        earliest_end = max(earliest_end, self._min_live())
        if self.observed_stream_time == NO_TIMESTAMP:
            return
        segs = range(self._seg(earliest_end), self._seg(self.observed_stream_time) + 1)
        for seg in reversed(segs) if reverse else segs:
            sp = _Q.pack(seg) + kb
            for k, v in self.layer.range(sp + _Q.pack(earliest_end), sp + b"\xff" * 17, reverse):
                if len(k) != len(sp) + 16:
                    continue
                end, start = _QQ.unpack_from(k, len(k) - 16)
                if start <= latest_start:
                    yield start, end, v

    @_kv_iterator
    def find_sessions(
        self, key: Any, earliest_session_end_time: int, latest_session_start_time: int
    ) -> Iterator[KeyValue[Windowed[Any], Any]]:
        """Sessions of `key` with end >= earliest end and start <= latest start, by end time."""
        for start, end, v in self._find(
            self._k(key),
            to_epoch_ms(earliest_session_end_time),
            to_epoch_ms(latest_session_start_time),
            False,
        ):
            yield KeyValue(Windowed(key, Window(start, end)), self._dv(v))

    @_kv_iterator
    def backward_find_sessions(
        self, key: Any, earliest_session_end_time: int, latest_session_start_time: int
    ) -> Iterator[KeyValue[Windowed[Any], Any]]:
        for start, end, v in self._find(
            self._k(key),
            to_epoch_ms(earliest_session_end_time),
            to_epoch_ms(latest_session_start_time),
            True,
        ):
            yield KeyValue(Windowed(key, Window(start, end)), self._dv(v))

    def fetch(self, key: Any) -> Iterator[KeyValue[Windowed[Any], Any]]:
        return self.find_sessions(key, 0, MAX_LONG)

    def backward_fetch(self, key: Any) -> Iterator[KeyValue[Windowed[Any], Any]]:
        return self.backward_find_sessions(key, 0, MAX_LONG)

    def fetch_session(self, key: Any, start: int, end: int) -> Any:
        if end < self._min_live():
            return None
        raw = self.layer.get(self._internal(self._k(key), start, end))
        return None if raw is None else self._dv(raw)

    @_kv_iterator
    def all(self) -> Iterator[KeyValue[Windowed[Any], Any]]:
        lo = self._seg(self._min_live())
        for k, v in self.layer.range(_Q.pack(lo), None):
            end, start = _QQ.unpack_from(k, len(k) - 16)
            if end >= self._min_live():
                yield KeyValue(Windowed(self._dk(k[8:-16]), Window(start, end)), self._dv(v))
