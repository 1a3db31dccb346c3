"""Valid request frames for every API and version kio knows, with a map of their structure.

A frame is built by walking kio's schema classes field by field (the same introspection kio's own
reader and `riverlog.protocol.prescan` use) and writing small random values. Alongside the bytes the
walk records `Slot`s: where each array count, string/bytes length, tagged-field section and record
batch starts, so a mutator can corrupt the structure rather than random bytes.

Values are kept small and harmless (counts 0-2, short ASCII names, ints in 0..3 or -1, one small
record batch per records field), so a valid frame does nothing costly to a broker. Deterministic: the
same `random.Random` state gives the same frame.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import struct
from dataclasses import dataclass, field
from typing import Any, Final

from kio.index import load_request_schema
from kio.schema.index import api_key_map, schema_name_map
from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    PrimitiveField,
    PrimitiveTupleField,
    classify_field,
    get_schema_field_type,
    is_optional,
)

from riverlog.protocol.records import build_batch

__all__ = ["Frame", "Slot", "all_request_apis", "encode_uvarint", "generate"]

_FIXED: Final = {
    "bool": ">?",
    "int8": ">b",
    "uint8": ">B",
    "int16": ">h",
    "uint16": ">H",
    "error_code": ">h",
    "int32": ">i",
    "uint32": ">I",
    "timedelta_i32": ">i",
    "int64": ">q",
    "uint64": ">Q",
    "float64": ">d",
    "timedelta_i64": ">q",
    "datetime_i64": ">q",
}
_SMALL_INTS: Final = (0, 0, 1, 2, 3, -1)
_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz-._0123456789"


@dataclass(frozen=True, slots=True)
class Slot:
    """One structural element of a frame: `kind` at byte `start`, `size` bytes long (prefix only
    for counts and lengths; the whole section for tags and records)."""

    kind: str  # count | compact_count | length | compact_length | tags | records | int | header
    start: int
    size: int


@dataclass(slots=True)
class Frame:
    """A request frame without its size prefix: header then body, with its structure."""

    api_key: int
    version: int
    flexible: bool
    data: bytearray = field(default_factory=bytearray)
    slots: list[Slot] = field(default_factory=list)

    def framed(self) -> bytes:
        return struct.pack(">i", len(self.data)) + bytes(self.data)


@functools.cache
def all_request_apis() -> tuple[tuple[int, int], ...]:
    """Every (api key, version) kio has a request schema for."""
    return tuple(
        (int(key), int(version))
        for key, name in sorted(api_key_map.items())
        for version in sorted(schema_name_map[name])
    )


def encode_uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def generate(
    rng: random.Random,
    api_key: int,
    version: int,
    correlation_id: int = 1,
    client_id: str = "fz",
    topics: tuple[str, ...] = (),
) -> Frame:
    """A valid request frame for (api key, version) that kio decodes; string fields called
    ``name`` or ``topic`` name one of ``topics`` when given (so a Produce reaches a real log)."""
    schema = load_request_schema(api_key, version)
    flexible = bool(schema.__header_schema__.__flexible__)
    frame = Frame(api_key, version, flexible)
    frame.slots.append(Slot("header", 0, 4))
    frame.data += struct.pack(">hhih", api_key, version, correlation_id, len(client_id))
    frame.data += client_id.encode()
    if flexible:
        frame.slots.append(Slot("tags", len(frame.data), 1))
        frame.data.append(0)
    _Writer(rng, frame, topics).entity(schema)
    return frame


class _Writer:
    def __init__(self, rng: random.Random, frame: Frame, topics: tuple[str, ...] = ()) -> None:
        self.rng = rng
        self.topics = topics
        self.frame = frame
        self.out = frame.data
        self.never_null = False

    def _slot(self, kind: str, start: int) -> None:
        self.frame.slots.append(Slot(kind, start, len(self.out) - start))

    def entity(self, schema: type[Any]) -> None:
        flexible = bool(schema.__flexible__)
        tagged: list[dataclasses.Field[Any]] = []
        for f in dataclasses.fields(schema):
            if "tag" in f.metadata:
                tagged.append(f)
            else:
                self.field(f, flexible)
        if flexible:
            self.tags(tagged)

    def tags(self, tagged: list[dataclasses.Field[Any]]) -> None:
        start = len(self.out)
        chosen = [f for f in tagged if self.rng.random() < 0.3]
        self.out += encode_uvarint(len(chosen))
        for f in sorted(chosen, key=lambda f: int(f.metadata["tag"])):
            value = bytearray()
            inner = _Writer(self.rng, Frame(0, 0, True, value))
            inner.never_null = True  # kio reads a tagged field's value as not nullable
            inner.field(f, True)
            self.out += encode_uvarint(int(f.metadata["tag"])) + encode_uvarint(len(value))
            self.out += value
        self._slot("tags", start)

    def field(self, f: dataclasses.Field[Any], flexible: bool) -> None:
        match classify_field(f):
            case PrimitiveField():
                if self.topics and f.name in ("name", "topic"):
                    self.length("string", flexible, self.rng.choice(self.topics).encode())
                    return
                self.primitive(get_schema_field_type(f), flexible, nullable=is_optional(f))
            case EntityField(nested):
                if is_optional(f):
                    if not self.never_null and self.rng.random() < 0.3:
                        self.out.append(0xFF)
                        return
                    self.out.append(1)
                self.entity(nested)
            case PrimitiveTupleField():
                count = self.count(flexible, nullable=is_optional(f))
                for _ in range(count):
                    self.primitive(get_schema_field_type(f), flexible, nullable=False)
            case EntityTupleField(nested):
                count = self.count(flexible, nullable=is_optional(f))
                for _ in range(count):
                    self.entity(nested)

    def count(self, flexible: bool, *, nullable: bool) -> int:
        start = len(self.out)
        count = self.rng.choice((0, 1, 1, 2))
        if nullable and not self.never_null and self.rng.random() < 0.1:
            count = -1
        if flexible:
            self.out += encode_uvarint(count + 1)
            self._slot("compact_count", start)
        else:
            self.out += struct.pack(">i", count)
            self._slot("count", start)
        return max(count, 0)

    def primitive(self, kafka_type: str, flexible: bool, *, nullable: bool) -> None:
        fmt = _FIXED.get(kafka_type)
        start = len(self.out)
        if fmt is not None:
            value: Any = self.rng.choice(_SMALL_INTS)
            if fmt == ">?":
                value = bool(value > 0)
            elif fmt[1] in "BHIQ":
                value = abs(value)
            elif fmt == ">d":
                value = float(value)
            self.out += struct.pack(fmt, value)
            self._slot("int", start)
            return
        if kafka_type == "uuid":
            self.out += self.rng.randbytes(16)
            return
        if nullable and not self.never_null and self.rng.random() < 0.2:
            payload: bytes | None = None
        elif kafka_type == "string":
            size = self.rng.randint(1, 8)
            payload = "".join(self.rng.choice(_ALPHABET) for _ in range(size)).encode()
        elif kafka_type == "records":
            payload = build_batch([(None, self.rng.randbytes(self.rng.randint(0, 16)), (), 0)])
        else:
            payload = self.rng.randbytes(self.rng.randint(0, 8))
        self.length(kafka_type, flexible, payload)
        if kafka_type == "records" and payload is not None:
            self.frame.slots.append(Slot("records", len(self.out) - len(payload), len(payload)))

    def length(self, kafka_type: str, flexible: bool, payload: bytes | None) -> None:
        start = len(self.out)
        if flexible:
            self.out += encode_uvarint(0 if payload is None else len(payload) + 1)
            self._slot("compact_length", start)
        else:
            size = -1 if payload is None else len(payload)
            self.out += struct.pack(">h" if kafka_type == "string" else ">i", size)
            self._slot("length", start)
        if payload is not None:
            self.out += payload
