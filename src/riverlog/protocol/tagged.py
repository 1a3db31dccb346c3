"""Tagged fields: skipping them in headers, and a kio-schema reader that ignores unknown tags.

Flexible versions of Kafka messages (KIP-482) end every struct with a tagged-field section::

    count: uvarint, then count x (tag: uvarint, size: uvarint, size bytes of value)

The protocol requires a reader to skip tags it does not know, which is how newer clients add
fields without a version bump. kio 0.6.5's native reader raises
``KeyError('Unknown tagged field tag: N')`` instead. ``lenient_entity_reader`` is the fallback used
when that happens: a reader driven by the same kio schema classes (dataclass fields and their
``kafka_type``/``tag`` metadata), using kio's own native readers for primitive fields, that walks
nested structs itself so it can skip unknown tags at every level. It is slower than the native
reader, so ``riverlog.protocol.codec`` only uses it for an entity holding an unknown tag.

Every array count is checked against the bytes left before anything reads the items (Kafka's
guard): kio's native array readers allocate for the count first, and a failed allocation aborts
the process (see ``riverlog.protocol.prescan``).

Like Kafka's generated readers, a known tag's value is read within its declared size and the
cursor then moves to the end of that size, so a value written by a newer schema with extra
trailing bytes is still read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Final

from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    PrimitiveField,
    PrimitiveTupleField,
    classify_field,
    is_optional,
)
from kio.serial._parse import get_field_reader
from kio.serial.errors import BufferUnderflow, UnexpectedNull
from kio.serial.readers import (
    read_compact_array_length,
    read_int8,
    read_legacy_array_length,
    read_unsigned_varint,
)

__all__ = ["lenient_entity_reader", "skip_tagged_fields"]

Reader = Callable[[Any, int], tuple[Any, int]]

_NULL_MARKER: Final = -1
# One reader per schema class; bounded by the classes kio ships.
_READERS: dict[type[Any], Reader] = {}


def skip_tagged_fields(buf: bytes | bytearray | memoryview, offset: int) -> int:
    """Size in bytes of the tagged-field section at ``offset`` (all tags skipped)."""
    pos = offset
    count, size = read_unsigned_varint(buf, pos)
    pos += size
    for _ in range(count):
        _tag, size = read_unsigned_varint(buf, pos)
        pos += size
        length, size = read_unsigned_varint(buf, pos)
        pos += size + length
        if pos > len(buf):
            raise BufferUnderflow("tagged field runs past the end of the buffer")
    return pos - offset


def lenient_entity_reader(entity_type: type[Any]) -> Reader:
    """A reader for the kio entity ``entity_type`` that skips unknown tagged fields."""
    reader = _READERS.get(entity_type)
    if reader is None:
        reader = _READERS[entity_type] = _build_reader(entity_type)
    return reader


def _build_reader(entity_type: type[Any]) -> Reader:
    fixed: list[tuple[str, Reader]] = []
    tagged: dict[int, tuple[str, Reader]] = {}
    for field in dataclasses.fields(entity_type):
        tag = field.metadata.get("tag")
        reader = _field_reader(entity_type, field, is_tag=tag is not None)
        if tag is None:
            fixed.append((field.name, reader))
        else:
            tagged[int(tag)] = (field.name, reader)
    flexible = bool(entity_type.__flexible__)

    def read(buf: Any, offset: int) -> tuple[Any, int]:
        values: dict[str, Any] = {}
        pos = offset
        for name, reader in fixed:
            values[name], size = reader(buf, pos)
            pos += size
        if flexible:
            pos += _read_tagged_fields(buf, pos, tagged, values)
        return entity_type(**values), pos - offset

    return read


def _read_tagged_fields(
    buf: Any, offset: int, known: dict[int, tuple[str, Reader]], values: dict[str, Any]
) -> int:
    # Fields absent from the section keep their dataclass defaults.
    pos = offset
    count, size = read_unsigned_varint(buf, pos)
    pos += size
    for _ in range(count):
        tag, size = read_unsigned_varint(buf, pos)
        pos += size
        length, size = read_unsigned_varint(buf, pos)
        pos += size
        end = pos + length
        if end > len(buf):
            raise BufferUnderflow("tagged field runs past the end of the buffer")
        field = known.get(tag)
        if field is not None:
            name, reader = field
            with memoryview(buf) as view:
                values[name], _ = reader(view[:end], pos)
        pos = end
    return pos - offset


def _field_reader(entity_type: type[Any], field: dataclasses.Field[Any], *, is_tag: bool) -> Reader:
    match classify_field(field):
        case PrimitiveField():
            # Primitives never contain tagged fields: kio's native reader is exact and fast.
            return get_field_reader(entity_type, field, False, is_tag)
        case PrimitiveTupleField():
            # kio's native array reader allocates for the count before reading an item: bound it.
            native = get_field_reader(entity_type, field, False, is_tag)
            return _bounded_count(native, bool(entity_type.__flexible__), field.name)
        case EntityField(nested):
            reader = lenient_entity_reader(nested)
            # Tagged structs are never nullable on the wire (kio writes them the same way).
            return _nullable_struct(reader) if is_optional(field) and not is_tag else reader
        case EntityTupleField(nested):
            flexible = bool(entity_type.__flexible__)
            return _array(lenient_entity_reader(nested), flexible, is_optional(field), field.name)
    raise AssertionError(f"unclassifiable field {field.name}")  # pragma: no cover


def _nullable_struct(reader: Reader) -> Reader:
    # KIP-893 nullable struct: int8 -1 for null, 1 followed by the struct otherwise.
    def read(buf: Any, offset: int) -> tuple[Any, int]:
        marker, size = read_int8(buf, offset)
        if marker == _NULL_MARKER:
            return None, size
        value, value_size = reader(buf, offset + size)
        return value, size + value_size

    return read


def _bounded_count(native: Reader, flexible: bool, name: str) -> Reader:
    # An array of primitives read by kio, once its count fits the bytes left.
    read_length = read_compact_array_length if flexible else read_legacy_array_length

    def read(buf: Any, offset: int) -> tuple[Any, int]:
        length, pos = read_length(buf, offset)
        if length is not None and length > len(buf) - offset - pos:
            raise BufferUnderflow(f"array {name} of {length} items exceeds the buffer")
        return native(buf, offset)

    return read


def _array(item_reader: Reader, flexible: bool, nullable: bool, name: str) -> Reader:
    read_length = read_compact_array_length if flexible else read_legacy_array_length

    def read(buf: Any, offset: int) -> tuple[Any, int]:
        length, pos = read_length(buf, offset)
        if length is None or length < 0:
            if not nullable:
                raise UnexpectedNull(f"non-nullable array {name} is null")
            return None, pos
        # Kafka's guard: never loop (or allocate) beyond what the buffer could hold.
        if length > len(buf) - offset - pos:
            raise BufferUnderflow(f"array {name} of {length} items exceeds the buffer")
        items = []
        for _ in range(length):
            item, size = item_reader(buf, offset + pos)
            items.append(item)
            pos += size
        return tuple(items), pos

    return read
