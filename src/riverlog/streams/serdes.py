"""Serdes byte-compatible with Kafka's Java serializers.

String = UTF-8; Long = 8-byte big-endian two's complement; Integer = 4; Short = 2; Double/Float =
IEEE 754 big-endian; Bytes/ByteArray pass through; Void only (de)serializes null; null is always null.
Windowed keys follow Kafka Streams: `TimeWindowedSerializer` writes key + 8-byte window start,
`SessionWindowedSerializer` writes key + 8-byte end + 8-byte start.
Every serde has `.serializer()`/`.deserializer()` returning objects with `serialize(topic, data)` /
`deserialize(topic, data)`, as in Kafka; a serde is its own serializer and deserializer.
"""

from __future__ import annotations

import json
import struct
import uuid
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from riverlog.streams.errors import SerializationException
from riverlog.streams.records import Window, Windowed

T = TypeVar("T")
MAX_LONG = (1 << 63) - 1

_LONG = struct.Struct(">q")
_INT = struct.Struct(">i")
_SHORT = struct.Struct(">h")
_DOUBLE = struct.Struct(">d")
_FLOAT = struct.Struct(">f")


class Serializer(Protocol):
    def serialize(self, topic: str, data: Any) -> bytes | None: ...


class Deserializer(Protocol):
    def deserialize(self, topic: str, data: bytes | None) -> Any: ...


class Serde(Generic[T]):
    """A serializer and deserializer pair; subclasses override `serialize`/`deserialize`."""

    name = "Serde"

    def serialize(self, topic: str, data: T | None) -> bytes | None:
        raise NotImplementedError

    def deserialize(self, topic: str, data: bytes | None) -> T | None:
        raise NotImplementedError

    def serializer(self) -> Serde[T]:
        return self

    def deserializer(self) -> Serde[T]:
        return self

    def __repr__(self) -> str:
        return f"Serdes.{self.name}()"


class StringSerde(Serde[str]):
    name = "String"

    def serialize(self, topic: str, data: str | None) -> bytes | None:
        return None if data is None else data.encode()

    def deserialize(self, topic: str, data: bytes | None) -> str | None:
        return None if data is None else data.decode()


class _StructSerde(Serde[Any]):
    fmt: struct.Struct = _LONG
    kind = "Long"

    def serialize(self, topic: str, data: Any) -> bytes | None:
        if data is None:
            return None
        try:
            return self.fmt.pack(data)
        except struct.error as e:
            raise SerializationException(
                f"{self.kind}Serializer cannot serialize {data!r}: {e}"
            ) from e

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        if len(data) != self.fmt.size:
            raise SerializationException(
                f"Size of data received by {self.kind}Deserializer is not {self.fmt.size}"
            )
        return self.fmt.unpack(data)[0]


class LongSerde(_StructSerde):
    name = kind = "Long"
    fmt = _LONG


class IntegerSerde(_StructSerde):
    name = kind = "Integer"
    fmt = _INT


class ShortSerde(_StructSerde):
    name = kind = "Short"
    fmt = _SHORT


class DoubleSerde(_StructSerde):
    name = kind = "Double"
    fmt = _DOUBLE


class FloatSerde(_StructSerde):
    name = kind = "Float"
    fmt = _FLOAT


class BytesSerde(Serde[bytes]):
    name = "Bytes"

    def serialize(self, topic: str, data: bytes | None) -> bytes | None:
        return None if data is None else bytes(data)

    def deserialize(self, topic: str, data: bytes | None) -> bytes | None:
        return data


class ByteArraySerde(BytesSerde):
    name = "ByteArray"


class VoidSerde(Serde[None]):
    name = "Void"

    def serialize(self, topic: str, data: None) -> bytes | None:
        if data is not None:
            raise SerializationException("VoidSerializer can only serialize null")
        return None

    def deserialize(self, topic: str, data: bytes | None) -> None:
        if data is not None:
            raise SerializationException("VoidDeserializer can only deserialize null")
        return None


class UUIDSerde(Serde[uuid.UUID]):
    name = "UUID"

    def serialize(self, topic: str, data: uuid.UUID | None) -> bytes | None:
        return None if data is None else str(data).encode()

    def deserialize(self, topic: str, data: bytes | None) -> uuid.UUID | None:
        return None if data is None else uuid.UUID(data.decode())


class JsonSerde(Serde[Any]):
    """Compact UTF-8 JSON (as Jackson writes it); `None` is a null record, not `null`."""

    name = "Json"

    def serialize(self, topic: str, data: Any) -> bytes | None:
        if data is None:
            return None
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError as e:
            raise SerializationException(f"JSON deserialization failed: {e}") from e


class FunctionSerde(Serde[Any]):
    """A serde from two functions (Kafka's `Serdes.serdeFrom(serializer, deserializer)`)."""

    name = "serdeFrom"

    def __init__(
        self, ser: Callable[[Any], bytes | None], de: Callable[[bytes | None], Any]
    ) -> None:
        self._ser = ser
        self._de = de

    def serialize(self, topic: str, data: Any) -> bytes | None:
        return None if data is None else self._ser(data)

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        return None if data is None else self._de(data)


class TimeWindowedSerde(Serde[Windowed[Any]]):
    """Kafka Streams' `TimeWindowedSerde`: key bytes + 8-byte big-endian window start."""

    name = "TimeWindowed"

    def __init__(self, inner: Serde[Any], window_size_ms: int = MAX_LONG) -> None:
        self.inner = inner
        self.window_size_ms = window_size_ms

    def serialize(self, topic: str, data: Windowed[Any] | None) -> bytes | None:
        if data is None:
            return None
        key = self.inner.serialize(topic, data.key) or b""
        return key + _LONG.pack(data.window.start)

    def deserialize(self, topic: str, data: bytes | None) -> Windowed[Any] | None:
        if data is None:
            return None
        start = _LONG.unpack_from(data, len(data) - 8)[0]
        end = min(start + self.window_size_ms, MAX_LONG)
        return Windowed(self.inner.deserialize(topic, data[:-8]), Window(start, end))


class SessionWindowedSerde(Serde[Windowed[Any]]):
    """Kafka Streams' `SessionWindowedSerde`: key bytes + 8-byte end + 8-byte start."""

    name = "SessionWindowed"

    def __init__(self, inner: Serde[Any]) -> None:
        self.inner = inner

    def serialize(self, topic: str, data: Windowed[Any] | None) -> bytes | None:
        if data is None:
            return None
        key = self.inner.serialize(topic, data.key) or b""
        return key + _LONG.pack(data.window.end) + _LONG.pack(data.window.start)

    def deserialize(self, topic: str, data: bytes | None) -> Windowed[Any] | None:
        if data is None:
            return None
        end, start = struct.unpack_from(">qq", data, len(data) - 16)
        return Windowed(self.inner.deserialize(topic, data[:-16]), Window(start, end))


class RegistrySerde(Serde[Any]):
    """A schema-registry serde of `riverlog.schema.serdes` as a streams serde."""

    def __init__(self, name: str, inner: Any) -> None:
        self.name = name
        self.inner = inner

    def serialize(self, topic: str, data: Any) -> bytes | None:
        result: bytes | None = self.inner.serialize(topic, data)
        return result

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        return None if data is None else self.inner.deserialize(topic, data)


class Serdes:
    """Factory of the built-in serdes, as Kafka's `Serdes` class."""

    String = StringSerde
    Long = LongSerde
    Integer = IntegerSerde
    Short = ShortSerde
    Double = DoubleSerde
    Float = FloatSerde
    Bytes = BytesSerde
    ByteArray = ByteArraySerde
    Void = VoidSerde
    UUID = UUIDSerde
    Json = JsonSerde

    @staticmethod
    def Avro(registry_url: str, schema: str | None = None, **options: Any) -> Serde[Any]:
        """Avro in Confluent's wire format through a schema registry (`riverlog.schema.serdes`).

        `is_key=True` for keys; `subject_name_strategy`, `auto_register`, `reader_schema`… as there.
        """
        from riverlog.schema.serdes import AvroSerde

        return RegistrySerde("Avro", AvroSerde(registry_url, schema, **options))

    @staticmethod
    def JsonSchema(registry_url: str, schema: str | None = None, **options: Any) -> Serde[Any]:
        """JSON Schema-validated JSON in Confluent's wire format through a schema registry."""
        from riverlog.schema.serdes import JsonSchemaSerde

        return RegistrySerde("JsonSchema", JsonSchemaSerde(registry_url, schema, **options))

    @staticmethod
    def Protobuf(registry_url: str, message_type: type[Any], **options: Any) -> Serde[Any]:
        """Protobuf messages of a generated class in Confluent's wire format (message indexes)."""
        from riverlog.schema.serdes import ProtobufSerde

        return RegistrySerde("Protobuf", ProtobufSerde(registry_url, message_type, **options))

    @staticmethod
    def serde_from(
        serializer: Callable[[Any], bytes | None], deserializer: Callable[[bytes | None], Any]
    ) -> Serde[Any]:
        return FunctionSerde(serializer, deserializer)


class WindowedSerdes:
    """Kafka Streams' `WindowedSerdes`."""

    @staticmethod
    def time_windowed_serde_from(inner: Serde[Any], window_size_ms: int) -> TimeWindowedSerde:
        return TimeWindowedSerde(inner, window_size_ms)

    @staticmethod
    def session_windowed_serde_from(inner: Serde[Any]) -> SessionWindowedSerde:
        return SessionWindowedSerde(inner)


# Java class names accepted for default.key.serde / default.value.serde.
_BY_NAME: dict[str, type[Serde[Any]]] = {}
for _cls in (
    StringSerde,
    LongSerde,
    IntegerSerde,
    ShortSerde,
    DoubleSerde,
    FloatSerde,
    BytesSerde,
    ByteArraySerde,
    VoidSerde,
    UUIDSerde,
    JsonSerde,
):
    _BY_NAME[_cls.name.lower()] = _cls
    _BY_NAME[f"org.apache.kafka.common.serialization.serdes${_cls.name.lower()}serde"] = _cls
    _BY_NAME[f"{_cls.name.lower()}serde"] = _cls


def resolve_serde(spec: object, key: str = "serde") -> Serde[Any] | None:
    """A serde from a config value: a `Serde`, a serde class, or a name (`String`, Java class name)."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, Serde):
        return spec
    if isinstance(spec, type) and issubclass(spec, Serde):
        return spec()
    if isinstance(spec, str):
        cls = _BY_NAME.get(spec.strip().lower())
        if cls is None:
            raise ValueError(f"{key}: unknown serde {spec!r}")
        return cls()
    if callable(spec):
        made = spec()
        if isinstance(made, Serde):
            return made
    raise ValueError(f"{key}: not a serde: {spec!r}")


class ChangedSerde(Serde[Any]):
    """Kafka Streams' `ChangedSerializer` format for `Change` values on a KTable repartition topic:
    old value + flag 0, new value + flag 1, or varint(len(new)) + new + old + flag 2."""

    name = "Changed"

    def __init__(self, inner: Serde[Any]) -> None:
        self.inner = inner

    def serialize(self, topic: str, data: Any) -> bytes | None:
        from riverlog.streams.records import Change

        if data is None:
            return None
        assert isinstance(data, Change)
        new = None if data.new_value is None else self.inner.serialize(topic, data.new_value)
        old = None if data.old_value is None else self.inner.serialize(topic, data.old_value)
        if data.new_value is not None and data.old_value is not None:
            return _varint(len(new or b"")) + (new or b"") + (old or b"") + b"\x02"
        if data.new_value is not None:
            return (new or b"") + b"\x01"
        if data.old_value is not None:
            return (old or b"") + b"\x00"
        raise SerializationException(
            "Both old and new values are null in ChangeSerializer, which is not allowed."
        )

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        from riverlog.streams.records import Change

        if data is None:
            return None
        flag, body = data[-1], data[:-1]
        if flag == 0:
            return Change(None, self.inner.deserialize(topic, body))
        if flag == 1:
            return Change(self.inner.deserialize(topic, body), None)
        if flag == 2:
            n, pos = _read_varint(body)
            return Change(
                self.inner.deserialize(topic, body[pos : pos + n]),
                self.inner.deserialize(topic, body[pos + n :]),
            )
        raise SerializationException(f"Invalid encoding flag {flag} in a Change value")


def _varint(n: int) -> bytes:
    """Kafka's zig-zag varint (`ByteUtils.writeVarint`)."""
    v = ((n << 1) ^ (n >> 31)) & 0xFFFFFFFF
    out = bytearray()
    while v & ~0x7F:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _read_varint(data: bytes) -> tuple[int, int]:
    v = shift = pos = 0
    while True:
        b = data[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
    return (v >> 1) ^ -(v & 1), pos
