"""The suppression buffer: Kafka Streams' in-memory time-ordered key-value change buffer, with its
changelog in Kafka's format so a Java application restores our buffers and we restore its.

Invariants:
- One entry per serialized key, ordered by (buffer time, key bytes); a re-put keeps the entry's
  original buffer time ("non-resetting": an updated key is not pushed back in the queue), its first
  old value as the prior value, and the latest old and new values.
- Every changed key is marked dirty; `flush()` (at commit) logs each dirty key once: the entry as
  `BufferValue` bytes + 8-byte buffer time with header `v`=3, or a tombstone if it was evicted.
  BufferValue = record context (timestamp, offset, topic, partition, headers) + prior value + old
  value (-2 when it is the prior value) + new value, each length-prefixed (-1 = null).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sortedcontainers import SortedDict  # type: ignore[import-untyped]

from riverlog.streams.records import RecordContext
from riverlog.streams.serdes import Serde
from riverlog.streams.state.layered import ChangelogSink

_Q = struct.Struct(">q")
_I = struct.Struct(">i")
NULL = -1
OLD_IS_PRIOR = -2
CHANGELOG_HEADERS: list[tuple[str, bytes | None]] = [("v", b"\x03")]


@dataclass(slots=True)
class BufferValue:
    prior: bytes | None
    old: bytes | None
    new: bytes | None
    context: RecordContext

    def size(self) -> int:
        n = 8 + 8 + 4 + len(self.context.topic or "")
        for v in (self.prior, self.old, self.new):
            n += len(v) if v is not None else 0
        return n

    def serialize(self) -> bytes:
        ctx = self.context
        topic = (ctx.topic or "").encode()
        parts = [
            _Q.pack(ctx.timestamp),
            _Q.pack(ctx.offset),
            _I.pack(len(topic)),
            topic,
            _I.pack(ctx.partition),
            _I.pack(len(ctx.headers)),
        ]
        for k, v in ctx.headers:
            kb = k.encode()
            parts += [_I.pack(len(kb)), kb]
            parts += [_I.pack(NULL)] if v is None else [_I.pack(len(v)), v]
        parts += _sized(self.prior)
        if self.old is None:
            parts.append(_I.pack(NULL))
        elif self.old == self.prior:
            parts.append(_I.pack(OLD_IS_PRIOR))
        else:
            parts += _sized(self.old)
        parts += _sized(self.new)
        return b"".join(parts)

    @classmethod
    def deserialize(cls, data: bytes) -> tuple[BufferValue, int]:
        """The value and the position after it (the changelog appends the buffer time)."""
        ts, offset = struct.unpack_from(">qq", data, 0)
        pos = 16
        topic, pos = _read(data, pos)
        partition, n_headers = struct.unpack_from(">ii", data, pos)
        pos += 8
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(n_headers):
            k, pos = _read(data, pos)
            v, pos = _read(data, pos)
            headers.append(((k or b"").decode(), v))
        prior, pos = _read(data, pos)
        n = _I.unpack_from(data, pos)[0]
        if n == OLD_IS_PRIOR:
            old, pos = prior, pos + 4
        else:
            old, pos = _read(data, pos)
        new, pos = _read(data, pos)
        ctx = RecordContext(ts, headers, (topic or b"").decode(), partition, offset)
        return cls(prior, old, new, ctx), pos


def _sized(v: bytes | None) -> list[bytes]:
    return [_I.pack(NULL)] if v is None else [_I.pack(len(v)), v]


def _read(data: bytes, pos: int) -> tuple[bytes | None, int]:
    n = _I.unpack_from(data, pos)[0]
    pos += 4
    if n < 0:
        return None, pos
    return data[pos : pos + n], pos + n


class SuppressionBuffer:
    """A suppress processor's buffer (a state store named `<suppress>-store` / `KTABLE-SUPPRESS-STATE-STORE-…`)."""

    kind = "buffer"

    def __init__(
        self,
        name: str,
        key_serde: Serde[Any],
        value_serde: Serde[Any],
        topic: str,
        changelog: ChangelogSink | None,
        now: Callable[[], int],
    ) -> None:
        self.name = name
        self.now = now
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.topic = topic
        self.changelog = changelog
        self._sorted: SortedDict = SortedDict()  # (time, key bytes) -> BufferValue
        self._index: dict[bytes, int] = {}  # key bytes -> buffer time
        self._dirty: set[bytes] = set()
        self.size_bytes = 0

    def persistent(self) -> bool:
        return False

    def __len__(self) -> int:
        return len(self._index)

    def put(self, time: int, key: Any, new: Any, old: Any, ctx: RecordContext) -> None:
        kb = self.key_serde.serialize(self.topic, key) or b""
        nb = None if new is None else self.value_serde.serialize(self.topic, new)
        ob = None if old is None else self.value_serde.serialize(self.topic, old)
        prev_time = self._index.get(kb)
        if prev_time is None:
            value = BufferValue(ob, ob, nb, ctx)
            self._index[kb] = time
            self._sorted[(time, kb)] = value
        else:
            prev: BufferValue = self._sorted[(prev_time, kb)]
            self.size_bytes -= len(kb) + prev.size()
            value = BufferValue(prev.prior, ob, nb, ctx)
            self._sorted[(prev_time, kb)] = value
        self.size_bytes += len(kb) + value.size()
        if self.changelog is not None:
            self._dirty.add(kb)

    def min_time(self) -> int | None:
        if not self._sorted:
            return None
        return self._sorted.peekitem(0)[0][0]  # type: ignore[no-any-return]

    def evict_while(
        self, predicate: Callable[[], bool], emit: Callable[[Any, Any, Any, RecordContext], None]
    ) -> None:
        """Pop the oldest entries while `predicate()` holds: `emit(key, new, old, context)`."""
        while self._sorted and predicate():
            (_time, kb), value = self._sorted.popitem(0)
            del self._index[kb]
            self.size_bytes -= len(kb) + value.size()
            if self.changelog is not None:
                self._dirty.add(kb)
            key = self.key_serde.deserialize(self.topic, kb)
            new = None if value.new is None else self.value_serde.deserialize(self.topic, value.new)
            old = None if value.old is None else self.value_serde.deserialize(self.topic, value.old)
            emit(key, new, old, value.context)

    def flush(self) -> None:
        if self.changelog is None:
            return
        for kb in sorted(self._dirty):
            time = self._index.get(kb)
            if time is None:
                self.changelog(self.name, kb, None, self.now())
            else:
                value = self._sorted[(time, kb)]
                self.changelog(
                    self.name,
                    kb,
                    value.serialize() + _Q.pack(time),
                    value.context.timestamp,
                    CHANGELOG_HEADERS,
                )
        self._dirty.clear()

    def restore(self, key: bytes, value: bytes | None, timestamp: int) -> None:
        prev = self._index.pop(key, None)
        if prev is not None:
            old = self._sorted.pop((prev, key))
            self.size_bytes -= len(key) + old.size()
        if value is None:
            return
        bv, pos = BufferValue.deserialize(value)
        time = _Q.unpack_from(value, pos)[0]
        self._index[key] = time
        self._sorted[(time, key)] = bv
        self.size_bytes += len(key) + bv.size()

    def close(self) -> None:
        pass
