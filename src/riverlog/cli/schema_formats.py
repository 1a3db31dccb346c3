"""`--value-format` for `riverlog produce` / `riverlog consume`: records in Confluent's wire format,
encoded from and decoded to one JSON document per line, with the schemas in a schema registry
(`--registry-url`, default http://localhost:8081).

- avro: produce encodes each line's JSON with `--value-schema-file` (registered under `<topic>-value`
  unless already there); consume decodes with the writer schema the record's id names.
- json: the same with a JSON Schema (`--value-schema-file`), validated on produce.
- protobuf: produce compiles `--value-schema-file` (.proto text) at run time, builds the message class
  (`--value-message`, default the file's first message) and encodes each line with protobuf's JSON
  mapping; consume decodes to JSON through the registry's descriptor.
- raw (default): bytes as they are.

`--key-format` (with `--key-schema-file` / `--key-message` on produce) does the same for keys, under
`<topic>-key`.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from riverlog.cli.errors import CliError

DEFAULT_REGISTRY_URL = "http://localhost:8081"
Codec = Callable[[str, bytes | None], bytes | None]


class ValueFormat(enum.StrEnum):
    RAW = "raw"
    AVRO = "avro"
    JSON = "json"
    PROTOBUF = "protobuf"


def value_format(name: str, option: str = "--value-format") -> ValueFormat:
    try:
        return ValueFormat(name.lower())
    except ValueError:
        choices = ", ".join(f.value for f in ValueFormat)
        raise CliError(f"bad {option} {name!r}: expected one of {choices}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def value_decoder(fmt: ValueFormat, registry_url: str, is_key: bool = False) -> Codec | None:
    """A function from a record's value (or key) bytes to one line of JSON, or None for raw."""
    if fmt is ValueFormat.RAW:
        return None
    from riverlog.schema.serdes import AvroSerde, JsonSchemaSerde

    if fmt is ValueFormat.PROTOBUF:
        return _protobuf_decoder(registry_url)
    serde = (
        AvroSerde(registry_url, is_key=is_key)
        if fmt is ValueFormat.AVRO
        else JsonSchemaSerde(registry_url, is_key=is_key)
    )
    deserializer = serde.deserializer()

    def decode(topic: str, data: bytes | None) -> bytes | None:
        if data is None:
            return None
        obj = deserializer.deserialize(topic, data)
        return json.dumps(obj, ensure_ascii=False, default=_json_default).encode()

    return decode


def _protobuf_decoder(registry_url: str) -> Codec:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

    from riverlog.schema.protobuf import well_known_files
    from riverlog.schema.serdes import split_frame

    client = SchemaRegistryClient({"url": registry_url})
    pools: dict[int, Any] = {}

    def load(schema_id: int) -> Any:
        pool = descriptor_pool.DescriptorPool()
        files = list(well_known_files())
        schema = client.get_schema(schema_id, fmt="serialized")

        def add_refs(refs: list[Any]) -> None:
            for ref in refs:
                version = client.get_version(ref.subject, ref.version, fmt="serialized")
                add_refs(version.schema.references or [])
                fdp = descriptor_pb2.FileDescriptorProto()
                fdp.ParseFromString(base64.b64decode(version.schema.schema_str or ""))
                fdp.name = ref.name
                files.append(fdp)

        add_refs(schema.references or [])
        main = descriptor_pb2.FileDescriptorProto()
        main.ParseFromString(base64.b64decode(schema.schema_str or ""))
        added: set[str] = set()
        for fdp in [*files, main]:
            if fdp.name not in added:
                pool.Add(fdp)
                added.add(fdp.name)
        return pool.FindFileByName(main.name)

    def decode(topic: str, data: bytes | None) -> bytes | None:
        if data is None:
            return None
        schema_id, payload = split_frame(data)
        if schema_id not in pools:
            pools[schema_id] = load(schema_id)
        file = pools[schema_id]
        indexes, payload = _message_indexes(payload)
        descriptor = file.message_types_by_name[list(file.message_types_by_name)[indexes[0]]]
        for index in indexes[1:]:
            descriptor = descriptor.nested_types[index]
        message = message_factory.GetMessageClass(descriptor)()
        message.ParseFromString(payload)
        text: str = json_format.MessageToJson(message, indent=None)
        return text.encode()

    return decode


def _message_indexes(payload: bytes) -> tuple[list[int], bytes]:
    """Confluent's Protobuf message-index prefix: a zigzag varint count then the indexes; a single
    0 byte means [0]."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            byte = payload[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return (result >> 1) ^ -(result & 1)
            shift += 7

    count = varint()
    if count == 0:
        return [0], payload[pos:]
    return [varint() for _ in range(count)], payload[pos:]


def value_encoder(
    fmt: ValueFormat,
    registry_url: str,
    schema_file: Path | None,
    message: str | None = None,
    is_key: bool = False,
) -> Codec | None:
    """A function from one input line (JSON) to value (or key) bytes in Confluent's wire format."""
    side = "key" if is_key else "value"
    if fmt is ValueFormat.RAW:
        return None
    if message is not None and fmt is not ValueFormat.PROTOBUF:
        raise CliError(f"--{side}-message is for --{side}-format protobuf")
    if schema_file is None:
        raise CliError(f"--{side}-format {fmt.value} needs --{side}-schema-file")
    try:
        schema = schema_file.read_text()
    except OSError as exc:
        raise CliError(f"cannot read --{side}-schema-file {schema_file}: {exc.strerror}") from None
    if fmt is ValueFormat.PROTOBUF:
        return _protobuf_encoder(registry_url, schema, schema_file, message, is_key)
    from riverlog.schema.serdes import AvroSerde, JsonSchemaSerde

    serde = (
        AvroSerde(registry_url, schema, is_key=is_key)
        if fmt is ValueFormat.AVRO
        else JsonSchemaSerde(registry_url, schema, is_key=is_key)
    )
    serializer = serde.serializer()

    def encode(topic: str, line: bytes | None) -> bytes | None:
        if line is None:
            return None
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        return serializer.serialize(topic, obj)

    return encode


def _protobuf_encoder(
    registry_url: str, text: str, schema_file: Path, message: str | None, is_key: bool
) -> Codec:
    """Compile the .proto (no imports beyond Google's well-known types), build the message class
    from its descriptor and serialize through confluent-kafka's ProtobufSerializer."""
    from google.protobuf import json_format, message_factory

    from riverlog.schema.protobuf import ProtobufSchema
    from riverlog.schema.serdes import ProtobufSerde
    from riverlog.schema.types import InvalidSchemaError

    side = "key" if is_key else "value"
    try:
        schema = ProtobufSchema(text)
    except InvalidSchemaError as exc:
        raise CliError(f"bad --{side}-schema-file {schema_file}: {exc}") from None
    names = list(schema.messages())
    if not names:
        raise CliError(f"bad --{side}-schema-file {schema_file}: it declares no message")
    if message is None:
        full = names[0]
    else:
        matches = [n for n in names if n == message or n.rsplit(".", 1)[-1] == message]
        if len(matches) != 1:
            raise CliError(f"bad --{side}-message {message!r}: expected one of {', '.join(names)}")
        full = matches[0]
    message_class = message_factory.GetMessageClass(schema.pool.FindMessageTypeByName(full))
    serializer = ProtobufSerde(registry_url, message_class, is_key=is_key).serializer()

    def encode(topic: str, line: bytes | None) -> bytes | None:
        if line is None:
            return None
        try:
            record = json_format.Parse(line, message_class())
        except json_format.ParseError as exc:
            raise ValueError(f"not a {full} in JSON: {exc}") from None
        return serializer.serialize(topic, record)

    return encode
