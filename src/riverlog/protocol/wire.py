"""Primitive encodings of the Kafka protocol, as bytes, for the specialised hot-path codecs.

The protocol guide's primitive types, written the way Kafka's generated code (and kio) writes them:
- INT16/INT32/INT64: big-endian two's complement (callers pack these with `struct` directly).
- UNSIGNED_VARINT: 7 bits per byte, least significant group first, top bit set on all but the last.
- STRING (non-flexible): INT16 length then UTF-8; NULLABLE_STRING uses length -1 for null.
- COMPACT_STRING (flexible versions): UNSIGNED_VARINT of length + 1 then UTF-8; 0 means null.
- BYTES / RECORDS (non-flexible): INT32 length then the bytes (-1: null); COMPACT_* as for strings.
- ARRAY: INT32 count (-1: null); COMPACT_ARRAY: UNSIGNED_VARINT of count + 1 (0: null).
- Tagged fields (KIP-482), at the end of every struct of a flexible version: UNSIGNED_VARINT count,
  then per field, in increasing tag order, UNSIGNED_VARINT tag, UNSIGNED_VARINT size, the value.

Everything here returns `bytes` pieces for a caller that joins them once (no stream, no per-field
method dispatch): that is what makes these codecs cheaper than kio's generic writer.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Sequence
from typing import Final

__all__ = [
    "EMPTY_TAGGED_FIELDS",
    "INT16",
    "INT32",
    "INT64",
    "Chunk",
    "array_length",
    "millis_of",
    "nullable_array_length",
    "nullable_bytes",
    "nullable_string",
    "string",
    "tagged_fields",
    "timestamp_ms",
    "uvarint",
]

Chunk = bytes | bytearray | memoryview
"""A piece of an encoded message; pieces are joined once into the frame."""

INT16: Final = struct.Struct(">h")
INT32: Final = struct.Struct(">i")
INT64: Final = struct.Struct(">q")

EMPTY_TAGGED_FIELDS: Final = b"\x00"
_NULL_LEGACY_STRING: Final = INT16.pack(-1)
_NULL_LEGACY_BYTES: Final = INT32.pack(-1)
_NULL_COMPACT: Final = b"\x00"
# Most lengths and counts are below 128: one byte, looked up.
_SMALL_UVARINTS: Final = tuple(bytes([n]) for n in range(128))


def uvarint(value: int) -> bytes:
    """UNSIGNED_VARINT encoding of a non-negative int."""
    if value < 128:
        return _SMALL_UVARINTS[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def string(value: str, flexible: bool) -> bytes:
    """STRING or COMPACT_STRING."""
    encoded = value.encode()
    if flexible:
        return uvarint(len(encoded) + 1) + encoded
    return INT16.pack(len(encoded)) + encoded


def nullable_string(value: str | None, flexible: bool) -> bytes:
    """NULLABLE_STRING or COMPACT_NULLABLE_STRING."""
    if value is None:
        return _NULL_COMPACT if flexible else _NULL_LEGACY_STRING
    return string(value, flexible)


def nullable_bytes(value: Chunk | None, flexible: bool) -> list[Chunk]:
    """NULLABLE_BYTES/RECORDS or their compact forms, as [length] + [value]: never copies `value`."""
    if value is None:
        return [_NULL_COMPACT if flexible else _NULL_LEGACY_BYTES]
    length = uvarint(len(value) + 1) if flexible else INT32.pack(len(value))
    return [length, value] if len(value) else [length]


def array_length(count: int, flexible: bool) -> bytes:
    """ARRAY or COMPACT_ARRAY count of a non-null array."""
    return uvarint(count + 1) if flexible else INT32.pack(count)


def nullable_array_length(items: Sequence[object] | None, flexible: bool) -> bytes:
    """ARRAY or COMPACT_ARRAY count, null included."""
    if items is None:
        return _NULL_COMPACT if flexible else _NULL_LEGACY_BYTES
    return array_length(len(items), flexible)


def tagged_fields(fields: Sequence[tuple[int, bytes]]) -> bytes:
    """A tagged-field section from (tag, encoded value) pairs already in increasing tag order."""
    if not fields:
        return EMPTY_TAGGED_FIELDS
    parts = [uvarint(len(fields))]
    for tag, value in fields:
        parts += (uvarint(tag), uvarint(len(value)), value)
    return b"".join(parts)


def millis_of(duration: datetime.timedelta | int) -> int:
    """A duration field in milliseconds (kio's `timedelta` or a plain int of milliseconds)."""
    if isinstance(duration, int):
        return duration
    return round(duration.total_seconds() * 1000)


def timestamp_ms(moment: datetime.datetime | None) -> int:
    """A nullable timestamp field in epoch milliseconds, -1 for None (as kio writes it)."""
    if moment is None:
        return -1
    return round(moment.timestamp() * 1000)
