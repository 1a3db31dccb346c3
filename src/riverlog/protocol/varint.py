"""Zigzag varints as used inside v2 records (protobuf encoding; Kafka's ``ByteUtils``).

A varint is 7 bits per byte, least significant group first, the top bit set on every byte but the
last. Signed values are zigzag-mapped first (0, -1, 1, -2 ... -> 0, 1, 2, 3 ...). A varint holds
an int32 and takes at most 5 bytes; a varlong holds an int64 and takes at most 10 bytes. Readers
raise ``CorruptRecordError`` on truncation or an over-long encoding, as Kafka does.
"""

from __future__ import annotations

from typing import Final

from riverlog.protocol.errors import CorruptRecordError

__all__ = ["read_varint", "read_varlong", "write_varint", "write_varlong"]

Buffer = bytes | bytearray | memoryview

_VARINT_MAX_BYTES: Final = 5
_VARLONG_MAX_BYTES: Final = 10


def read_varint(buf: Buffer, pos: int) -> tuple[int, int]:
    """Read a zigzag varint (int32) at ``pos``: (value, position after it)."""
    return _read(buf, pos, _VARINT_MAX_BYTES, 0xFFFFFFFF)


def read_varlong(buf: Buffer, pos: int) -> tuple[int, int]:
    """Read a zigzag varlong (int64) at ``pos``: (value, position after it)."""
    return _read(buf, pos, _VARLONG_MAX_BYTES, 0xFFFFFFFFFFFFFFFF)


def _read(buf: Buffer, pos: int, max_bytes: int, mask: int) -> tuple[int, int]:
    raw = 0
    for index in range(max_bytes):
        if pos + index >= len(buf):
            raise CorruptRecordError("truncated varint")
        byte = buf[pos + index]
        raw |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            # Bits beyond the type's width are dropped, as Java's int/long arithmetic does.
            raw &= mask
            return (raw >> 1) ^ -(raw & 1), pos + index + 1
    raise CorruptRecordError(f"varint longer than {max_bytes} bytes")


def write_varint(out: bytearray, value: int) -> None:
    """Append ``value`` (an int32) as a zigzag varint."""
    _write(out, ((value << 1) ^ (value >> 31)) & 0xFFFFFFFF)


def write_varlong(out: bytearray, value: int) -> None:
    """Append ``value`` (an int64) as a zigzag varlong."""
    _write(out, ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF)


def _write(out: bytearray, raw: int) -> None:
    while raw >= 0x80:
        out.append((raw & 0x7F) | 0x80)
        raw >>= 7
    out.append(raw)
