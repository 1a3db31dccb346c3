"""ProduceRequest (api key 0) for versions 3-12: plain types and a specialised decoder.

Produce is the hot path. kio's reader (native code) copies every partition's records into a new `bytes`,
and the handler used to copy them once more: for a producer's 1 MB requests that is two megabyte copies
into freshly allocated memory per request. Here the records stay a view of the frame. (For small
requests there is no gain to have: kio's native reader takes about 1.5-2 µs for a 30-record request,
this one about 3 µs; see bench/RESULTS.md.) DESIGN.md allows a specialised codec for this message only,
tested field for field against kio over every version the broker serves, tagged fields included
(tests/unit/protocol/test_produce_request.py).

The layout, from Kafka's ProduceRequest.json (flexible from v9):

    transactional_id nullable string (v3+), acks int16, timeout_ms int32
    topic_data: [TopicProduceData]
        name string (v0-12)
        partition_data: [PartitionProduceData]
            index int32, records nullable records
            tagged fields (v9+)
        tagged fields (v9+)
    tagged fields (v9+)

No version up to 12 defines a tagged field, so every tag met is unknown and skipped, as the protocol
requires. Decisions that follow kio (the decoder it replaces) and Kafka's generated readers:
- A null non-nullable field (topic_data, partition_data, name) is malformed, as in Kafka (kio lets a
  null array through as None); so is any negative length other than -1 (null) and any length that
  runs past the end of the frame.
- An array claiming more items than the bytes left could hold is malformed before anything is allocated.
- Strings must be valid UTF-8 (kio refuses the rest; the connection is then closed).
- Bytes left after the message are ignored, as Kafka's request parser does.

`records` is a read-only `memoryview` slice of the frame: the batches are never copied or parsed here.
While it exists, the frame's buffer is kept and never reused (see `framing.BufferPool`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from riverlog.protocol.errors import InvalidRequestError
from riverlog.protocol.wire import INT16, INT32

__all__ = [
    "MAX_VERSION",
    "MIN_VERSION",
    "PartitionProduceData",
    "ProduceRequest",
    "TopicProduceData",
    "decode_produce_request",
]

MIN_VERSION: Final = 3
MAX_VERSION: Final = 12
_FLEXIBLE_FROM: Final = 9

_ACKS_TIMEOUT: Final = struct.Struct(">hi")
_NULL: Final = -1
_ACKS_TIMEOUT_COUNT: Final = struct.Struct(">hii")  # acks, timeout_ms, topic count (legacy)
_INDEX_LENGTH: Final = struct.Struct(">ii")  # partition index, records length (legacy versions)
# Smallest encodings: a topic is a name length and an array length; a partition an index and a length.
_MIN_TOPIC_BYTES: Final = {False: 2 + 4, True: 1 + 1 + 1}
_MIN_PARTITION_BYTES: Final = {False: 4 + 4, True: 4 + 1 + 1}


# Slotted, not frozen: a frozen dataclass's __init__ costs three times as much, and thousands of
# these are built a second.
@dataclass(slots=True)
class PartitionProduceData:
    index: int
    records: memoryview | None


@dataclass(slots=True)
class TopicProduceData:
    name: str
    partition_data: tuple[PartitionProduceData, ...]


@dataclass(slots=True)
class ProduceRequest:
    """kio's ProduceRequest fields, with the timeout as plain milliseconds."""

    transactional_id: str | None
    acks: int
    timeout_ms: int
    topic_data: tuple[TopicProduceData, ...]


def decode_produce_request(
    version: int, buf: bytes | bytearray | memoryview, offset: int
) -> ProduceRequest:
    """The ProduceRequest body of `version` at `offset` of `buf` (a request frame).

    Raises `InvalidRequestError` when the bytes do not parse; `ValueError` for a version outside 3-12."""
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise ValueError(f"no specialised ProduceRequest v{version}")
    view = memoryview(buf)
    if not view.readonly or view.format != "B":
        view = view.cast("B").toreadonly()
    # Fields are read from `bytes` directly when the frame is one (indexing bytes is cheaper).
    data = buf if type(buf) is bytes else view
    flexible = version >= _FLEXIBLE_FROM
    try:
        fast = _read_flexible(data, view, offset) if flexible else _read_legacy(data, view, offset)
        return fast or _Reader(view, offset, flexible).request()
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"malformed ProduceRequest v{version}: {exc}") from None


# --- fast paths: the shapes producers send, read inline; None sends the request to _Reader ------
# `data` and `view` are the same bytes; records are sliced from `view`, everything else read from
# `data`. Any shape not handled here, valid or not, returns None.


def _read_flexible(data: bytes | memoryview, view: memoryview, pos: int) -> ProduceRequest | None:
    """v9+ with one-byte counts and string lengths, records under 2 MiB, no tagged fields."""
    end = len(data)
    size = data[pos] - 1
    pos += 1
    transactional_id = None
    if size >= 0:
        if size >= 0x7F or pos + size > end:
            return None
        transactional_id = str(data[pos : pos + size], "utf-8")
        pos += size
    acks, timeout_ms = _ACKS_TIMEOUT.unpack_from(data, pos)
    pos += 6
    topic_count = data[pos] - 1
    pos += 1
    if not 0 <= topic_count < 0x7F:
        return None
    topics = []
    for _ in range(topic_count):
        size = data[pos] - 1
        pos += 1
        if not 0 <= size < 0x7F or pos + size > end:
            return None
        name = str(data[pos : pos + size], "utf-8")
        pos += size
        partition_count = data[pos] - 1
        pos += 1
        if not 0 <= partition_count < 0x7F:
            return None
        partitions = []
        for _ in range(partition_count):
            (index,) = INT32.unpack_from(data, pos)
            size = data[pos + 4]
            pos += 5
            if size >= 0x80:  # records length: up to three varint bytes
                byte = data[pos]
                size = (size & 0x7F) | (byte & 0x7F) << 7
                pos += 1
                if byte >= 0x80:
                    byte = data[pos]
                    size |= byte << 14
                    pos += 1
                    if byte >= 0x80:
                        return None
            if size == 0 or pos + size - 1 > end:  # null records or a length past the frame
                return None
            records = view[pos : pos + size - 1]
            pos += size - 1
            if data[pos] != 0:
                return None
            pos += 1
            partitions.append(PartitionProduceData(index, records))
        if data[pos] != 0:
            return None
        pos += 1
        topics.append(TopicProduceData(name, tuple(partitions)))
    if data[pos] != 0:
        return None
    return ProduceRequest(transactional_id, acks, timeout_ms, tuple(topics))


def _read_legacy(data: bytes | memoryview, view: memoryview, pos: int) -> ProduceRequest | None:
    """v3-8 with at most 127 topics and partitions, no null strings or records but the
    transactional id."""
    end = len(data)
    (size,) = INT16.unpack_from(data, pos)
    pos += 2
    transactional_id = None
    if size != _NULL:
        if size < 0 or pos + size > end:
            return None
        transactional_id = str(data[pos : pos + size], "utf-8")
        pos += size
    acks, timeout_ms, topic_count = _ACKS_TIMEOUT_COUNT.unpack_from(data, pos)
    pos += 10
    if not 0 <= topic_count < 0x7F:
        return None
    topics = []
    for _ in range(topic_count):
        (size,) = INT16.unpack_from(data, pos)
        pos += 2
        if size < 0 or pos + size > end:
            return None
        name = str(data[pos : pos + size], "utf-8")
        pos += size
        (partition_count,) = INT32.unpack_from(data, pos)
        pos += 4
        if not 0 <= partition_count < 0x7F:
            return None
        partitions = []
        for _ in range(partition_count):
            index, size = _INDEX_LENGTH.unpack_from(data, pos)
            pos += 8
            if size < 0 or pos + size > end:
                return None
            partitions.append(PartitionProduceData(index, view[pos : pos + size]))
            pos += size
        topics.append(TopicProduceData(name, tuple(partitions)))
    return ProduceRequest(transactional_id, acks, timeout_ms, tuple(topics))


# --- the general reader: every valid request, and the errors -----------------------------------


class _Reader:
    """A cursor over one request: any valid request, and the reason an invalid one is refused."""

    __slots__ = ("flexible", "pos", "view")

    def __init__(self, view: memoryview, pos: int, flexible: bool) -> None:
        self.view = view
        self.pos = pos
        self.flexible = flexible

    def request(self) -> ProduceRequest:
        transactional_id = self.nullable_string()
        acks, timeout_ms = _ACKS_TIMEOUT.unpack_from(self.view, self.pos)
        self.pos += _ACKS_TIMEOUT.size
        count = self.array_length(_MIN_TOPIC_BYTES)
        topics = tuple([self.topic() for _ in range(count)])
        self.maybe_skip_tagged_fields()
        return ProduceRequest(transactional_id, acks, timeout_ms, topics)

    def topic(self) -> TopicProduceData:
        name = self.nullable_string()
        if name is None:
            raise InvalidRequestError("non-nullable field name was serialized as null")
        count = self.array_length(_MIN_PARTITION_BYTES)
        partitions = tuple([self.partition() for _ in range(count)])
        self.maybe_skip_tagged_fields()
        return TopicProduceData(name, partitions)

    def partition(self) -> PartitionProduceData:
        (index,) = INT32.unpack_from(self.view, self.pos)
        self.pos += 4
        size = self.length(INT32)
        records = None if size == _NULL else self.take(size, "records")
        self.maybe_skip_tagged_fields()
        return PartitionProduceData(index, records)

    # --- primitives ----------------------------------------------------------------------------

    def length(self, legacy: struct.Struct) -> int:
        """A legacy (INT16/INT32) length, or a compact one (UNSIGNED_VARINT of length + 1)."""
        if self.flexible:
            return self.uvarint() - 1
        (value,) = legacy.unpack_from(self.view, self.pos)
        self.pos += legacy.size
        return int(value)

    def nullable_string(self) -> str | None:
        size = self.length(INT16)
        if size == _NULL:
            return None
        return str(self.take(size, "string"), "utf-8")

    def take(self, size: int, what: str) -> memoryview:
        start = self.pos
        if size < 0 or start + size > len(self.view):
            raise InvalidRequestError(
                f"{what} of {size} bytes at {start} does not fit a frame of {len(self.view)}"
            )
        self.pos = start + size
        return self.view[start : self.pos]

    def array_length(self, min_item_bytes: dict[bool, int]) -> int:
        count = self.length(INT32)
        if count < 0:
            raise InvalidRequestError(f"non-nullable array has length {count}")
        # Kafka's guard: never loop (or allocate) beyond what the rest of the frame could hold.
        if count * min_item_bytes[self.flexible] > len(self.view) - self.pos:
            raise InvalidRequestError(f"array of {count} items exceeds the frame")
        return count

    def uvarint(self) -> int:
        view, pos = self.view, self.pos
        byte = view[pos]
        if byte < 0x80:  # almost every length and count
            self.pos = pos + 1
            return int(byte)
        value, shift = byte & 0x7F, 7
        while True:
            pos += 1
            byte = view[pos]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift > 28:
                raise InvalidRequestError("unsigned varint longer than 5 bytes")
        self.pos = pos + 1
        return value

    def maybe_skip_tagged_fields(self) -> None:
        """Skip a tagged-field section (flexible versions): no ProduceRequest tag is known."""
        if not self.flexible:
            return
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.take(self.uvarint(), "tagged field")
