"""`ProtobufConverter` (Confluent's `io.confluent.connect.protobuf.ProtobufConverter`): Connect data as
Protobuf in Confluent's wire format (magic byte 0, 4-byte schema id, the message-index varints, the
message bytes), `.proto` schemas in a schema registry. The schema and value mapping is Confluent's
`ProtobufData`'s (see `protobuf_data`); the registered text is the normalized `.proto`.

Config: `AvroConverter`'s (`schema.registry.url`, `auto.register.schemas`, `use.latest.version`, the
subject name strategies). Conversions are cached per Connect schema object and per schema id.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from confluent_kafka.schema_registry import Schema as RegistrySchema
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from riverlog.connect.avro_converter import AvroConverter
from riverlog.connect.data import Schema, SchemaAndValue
from riverlog.connect.errors import DataException
from riverlog.connect.protobuf_data import (
    DEFAULT_NAME,
    ProtoMapping,
    to_connect_schema,
    to_connect_value,
    to_message,
    to_proto,
)
from riverlog.schema.proto_normalize import normalized_proto
from riverlog.schema.protobuf import well_known_files
from riverlog.schema.serdes import split_frame


def message_indexes(indexes: list[int]) -> bytes:
    """Confluent's message-index prefix: [0] is one 0 byte, else a count then the indexes (zigzag
    varints)."""
    if indexes == [0]:
        return b"\x00"
    out = bytearray()
    for value in [len(indexes), *indexes]:
        raw = (value << 1) ^ (value >> 63)
        while raw > 0x7F:
            out.append((raw & 0x7F) | 0x80)
            raw >>= 7
        out.append(raw)
    return bytes(out)


def read_message_indexes(payload: bytes) -> tuple[list[int], int]:
    """(indexes, position of the message bytes)."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            if pos >= len(payload):
                raise DataException("truncated message indexes")
            byte = payload[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return (result >> 1) ^ -(result & 1)
            shift += 7

    count = varint()
    if count == 0:
        return [0], pos
    return [varint() for _ in range(count)], pos


# -- the converter --------------------------------------------------------------------------------


class ProtobufConverter(AvroConverter):
    def configure(self, props: Any, is_key: bool) -> None:
        super().configure(props, is_key)
        self._mappings: dict[int, tuple[Schema, ProtoMapping, str]] = {}
        self._prefixes: dict[tuple[int, str], bytes] = {}
        self._proto_readers: dict[bytes, Callable[[bytes], SchemaAndValue]] = {}

    def registry_schema(self, text: str) -> RegistrySchema:
        return RegistrySchema(text, "PROTOBUF")

    def record_name(self, schema: Schema) -> str | None:
        return schema.name or f"{DEFAULT_NAME}1"

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if value is None:
            return None
        if schema is None:
            raise DataException("ProtobufConverter needs a schema for non-null values")
        entry = self._mappings.get(id(schema))
        if entry is None or entry[0] is not schema:
            mapping = to_proto(schema)
            entry = (schema, mapping, normalized_proto(mapping.file))
            self._mappings[id(schema)] = entry
        _, mapping, text = entry
        prefix = self._prefixes.get((id(schema), topic))
        if prefix is None:
            prefix = self._register(topic, schema, text) + message_indexes([0])
            self._prefixes[(id(schema), topic)] = prefix
        try:
            message = to_message(mapping, schema, value)
        except (TypeError, ValueError, AttributeError, KeyError, DataException) as exc:
            raise DataException(
                f"Failed to serialize Protobuf data from topic {topic}: {exc}"
            ) from exc
        body: bytes = message.SerializeToString()
        return prefix + body

    def to_connect_data(self, topic: str, value: bytes | None) -> SchemaAndValue:
        if value is None:
            return SchemaAndValue(None, None)
        try:
            schema_id, payload = split_frame(value)
            indexes, start = read_message_indexes(payload)
        except (ValueError, DataException) as exc:
            raise DataException(
                f"Failed to deserialize data for topic {topic} to Protobuf: {exc}"
            ) from None
        key = value[: 5 + start]
        reader = self._proto_readers.get(key)
        if reader is None:
            reader = self._reader(schema_id, indexes)
            self._proto_readers[key] = reader
        try:
            return reader(payload[start:])
        except DecodeError as exc:
            raise DataException(
                f"Failed to deserialize data for topic {topic} to Protobuf: {exc}"
            ) from exc

    def _reader(self, schema_id: int, indexes: list[int]) -> Callable[[bytes], SchemaAndValue]:
        try:
            file = self._load(schema_id)
        except DataException:
            raise
        except Exception as exc:  # the registry client's errors, a bad descriptor
            raise DataException(
                f"Failed to retrieve Protobuf schema for id {schema_id}: {exc}"
            ) from exc
        try:
            message = list(file.message_types_by_name.values())[indexes[0]]
            for index in indexes[1:]:
                message = message.nested_types[index]
        except IndexError:
            raise DataException(f"no message at indexes {indexes} in schema {schema_id}") from None
        schema = to_connect_schema(message)
        message_class = message_factory.GetMessageClass(message)

        def read(data: bytes) -> SchemaAndValue:
            parsed = message_class()
            parsed.ParseFromString(data)
            return SchemaAndValue(schema, to_connect_value(schema, parsed))

        return read

    def _load(self, schema_id: int) -> descriptor.FileDescriptor:
        """The schema's file, its references loaded first (as serialized descriptors)."""
        pool = descriptor_pool.DescriptorPool()
        files: list[descriptor_pb2.FileDescriptorProto] = []

        def add(refs: Any, depth: int) -> None:
            if depth > 32:
                raise DataException("Protobuf references nest too deeply")
            for ref in refs or []:
                version = self.client.get_version(ref.subject, ref.version, fmt="serialized")
                add(version.schema.references, depth + 1)
                dep = descriptor_pb2.FileDescriptorProto()
                dep.ParseFromString(base64.b64decode(version.schema.schema_str or ""))
                dep.name = ref.name
                files.append(dep)

        schema = self.client.get_schema(schema_id, fmt="serialized")
        add(schema.references, 0)
        main = descriptor_pb2.FileDescriptorProto()
        main.ParseFromString(base64.b64decode(schema.schema_str or ""))
        if not main.name:
            main.name = "schema.proto"
        names = {f.name for f in files} | {main.name}
        for known in well_known_files():
            if known.name not in names:
                pool.Add(known)
        for fdp in [*files, main]:
            pool.Add(fdp)
        return pool.FindFileByName(main.name)
