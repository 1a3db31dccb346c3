"""Kafka's primitive types as its generated message code writes them (for coordinator records).

Non-flexible versions: int16-length strings (-1 null), int32-length bytes and arrays. Flexible versions
(KIP-482): lengths as unsigned varints of length + 1 (0 null), and a tagged-field section closing every
struct (written empty; read and skipped, so fields added by newer versions are ignored).
"""

from __future__ import annotations

import struct
import uuid

from riverlog.protocol.errors import CorruptRecordError

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


class Writer:
    """Kafka's primitive types, non-flexible or flexible (compact) flavour."""

    def __init__(self, flexible: bool = False) -> None:
        self.out = bytearray()
        self.flexible = flexible

    def i8(self, value: int) -> None:
        self.out += _I8.pack(value)

    def i16(self, value: int) -> None:
        self.out += _I16.pack(value)

    def i32(self, value: int) -> None:
        self.out += _I32.pack(value)

    def i64(self, value: int) -> None:
        self.out += _I64.pack(value)

    def uvarint(self, value: int) -> None:
        while value >= 0x80:
            self.out.append((value & 0x7F) | 0x80)
            value >>= 7
        self.out.append(value)

    def length(self, size: int | None, wide: bool) -> None:
        """A length prefix: -1 (or compact 0) for null."""
        if self.flexible:
            self.uvarint(0 if size is None else size + 1)
        elif wide:
            self.i32(-1 if size is None else size)
        else:
            self.i16(-1 if size is None else size)

    def string(self, value: str | None) -> None:
        data = None if value is None else value.encode()
        self.length(None if data is None else len(data), wide=False)
        if data is not None:
            self.out += data

    def bytes_(self, value: bytes) -> None:
        self.length(len(value), wide=True)
        self.out += value

    def uuid(self, value: uuid.UUID) -> None:
        self.out += value.bytes

    def strings(self, values: list[str]) -> None:
        self.length(len(values), wide=True)
        for value in values:
            self.string(value)

    def int32s(self, values: list[int]) -> None:
        self.length(len(values), wide=True)
        for value in values:
            self.i32(value)

    def tags(self, fields: dict[int, bytes] | None = None) -> None:
        """A tagged-field section: `fields` maps each tag to its encoded value, written in tag order."""
        if not self.flexible:
            return
        fields = fields or {}
        self.uvarint(len(fields))
        for tag in sorted(fields):
            self.uvarint(tag)
            self.uvarint(len(fields[tag]))
            self.out += fields[tag]


class Reader:
    def __init__(self, data: bytes, flexible: bool = False) -> None:
        self.data = data
        self.pos = 0
        self.flexible = flexible

    def _take(self, size: int) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise CorruptRecordError("truncated __consumer_offsets record")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def i8(self) -> int:
        return int(_I8.unpack(self._take(1))[0])

    def i16(self) -> int:
        return int(_I16.unpack(self._take(2))[0])

    def i32(self) -> int:
        return int(_I32.unpack(self._take(4))[0])

    def i64(self) -> int:
        return int(_I64.unpack(self._take(8))[0])

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            byte = self._take(1)[0]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
            if shift > 28:
                raise CorruptRecordError("unsigned varint too long")

    def length(self, wide: bool) -> int:
        if self.flexible:
            return self.uvarint() - 1
        return self.i32() if wide else self.i16()

    def nullable_string(self) -> str | None:
        size = self.length(wide=False)
        return None if size < 0 else self._take(size).decode("utf-8", "replace")

    def string(self) -> str:
        value = self.nullable_string()
        if value is None:
            raise CorruptRecordError("null where a string is required")
        return value

    def bytes_(self) -> bytes:
        size = self.length(wide=True)
        return b"" if size < 0 else self._take(size)

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self._take(16))

    def count(self) -> int:
        """An array length; a null array reads as empty."""
        return max(self.length(wide=True), 0)

    def strings(self) -> list[str]:
        return [self.string() for _ in range(self.count())]

    def int32s(self) -> list[int]:
        return [self.i32() for _ in range(self.count())]

    def at_end(self) -> bool:
        return self.pos == len(self.data)

    def skip_tags(self) -> None:
        self.tags()

    def tags(self) -> dict[int, bytes]:
        """A tagged-field section: each tag's raw value (empty when not flexible)."""
        if not self.flexible:
            return {}
        found: dict[int, bytes] = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            found[tag] = self._take(self.uvarint())
        return found
