"""Schema-aware serdes with Confluent's wire format, built on confluent-kafka's schema registry client
and serializers (JSON Schema, Protobuf; Avro's per-record path is fastavro: see `AvroSerde`).

Wire format (Confluent's): magic byte 0, the schema id as 4 bytes big-endian, then the payload — Avro
binary, JSON text, or (Protobuf) the message-index varints followed by the message bytes. Subjects are
named by a strategy: TopicNameStrategy (`<topic>-key`/`<topic>-value`, the default), RecordNameStrategy
(the record's full name) or TopicRecordNameStrategy (`<topic>-<record name>`).

Each serde gives a `.serializer()` and a `.deserializer()` whose `serialize(topic, data)` /
`deserialize(topic, data)` mirror Kafka's `Serializer`/`Deserializer`; `riverlog.streams.Serdes`
wraps these classes (`Serdes.Avro(...)`, `Serdes.JsonSchema(...)`, `Serdes.Protobuf(...)`).
"""

from __future__ import annotations

import enum
import importlib
import io
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import fastavro
from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    record_subject_name_strategy,
    topic_record_subject_name_strategy,
    topic_subject_name_strategy,
)
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

MAGIC_BYTE = 0
Headers = list[tuple[str, str | bytes | None]] | None
SubjectNameStrategyFn = Callable[[SerializationContext | None, str | None], str | None]


class SubjectNameStrategy(enum.Enum):
    """Confluent's strategy class names (the Java FQCN's simple name is accepted too)."""

    TOPIC = "TopicNameStrategy"
    RECORD = "RecordNameStrategy"
    TOPIC_RECORD = "TopicRecordNameStrategy"

    @classmethod
    def parse(cls, name: str | SubjectNameStrategy) -> SubjectNameStrategy:
        if isinstance(name, SubjectNameStrategy):
            return name
        simple = name.rsplit(".", 1)[-1]
        for member in cls:
            if member.value == simple or member.name == simple.upper():
                return member
        raise ValueError(
            f"unknown subject name strategy {name!r}: expected TopicNameStrategy, "
            "RecordNameStrategy or TopicRecordNameStrategy"
        )

    @property
    def function(self) -> SubjectNameStrategyFn:
        return {
            SubjectNameStrategy.TOPIC: topic_subject_name_strategy,
            SubjectNameStrategy.RECORD: record_subject_name_strategy,
            SubjectNameStrategy.TOPIC_RECORD: topic_record_subject_name_strategy,
        }[self]


def split_frame(data: bytes) -> tuple[int, bytes]:
    """(schema id, payload) of a Confluent-framed value; ValueError when it is not one."""
    if len(data) < 5 or data[0] != MAGIC_BYTE:
        raise ValueError("not in Confluent's wire format (magic byte 0 + 4-byte schema id)")
    return int.from_bytes(data[1:5], "big"), data[5:]


def _client(registry: str | SchemaRegistryClient, conf: Mapping[str, Any] | None) -> Any:
    if isinstance(registry, SchemaRegistryClient):
        return registry
    return SchemaRegistryClient({"url": registry, **(conf or {})})


class Serializer(Protocol):
    """Kafka's `Serializer`: `serialize(topic, data)` -> bytes (None stays None)."""

    def serialize(self, topic: str, data: Any, headers: Headers = None) -> bytes | None: ...


class Deserializer(Protocol):
    """Kafka's `Deserializer`: `deserialize(topic, data)` -> value (None stays None)."""

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = None) -> Any: ...


class SerializerAdapter:
    """A confluent-kafka serializer seen as Kafka's `Serializer.serialize(topic, data)`."""

    def __init__(self, inner: Callable[[Any, SerializationContext], bytes | None], is_key: bool):
        self._inner = inner
        self._field = MessageField.KEY if is_key else MessageField.VALUE

    def serialize(self, topic: str, data: Any, headers: Headers = None) -> bytes | None:
        if data is None:
            return None
        return self._inner(data, SerializationContext(topic, self._field, headers))

    __call__ = serialize


class DeserializerAdapter:
    """A confluent-kafka deserializer seen as Kafka's `Deserializer.deserialize(topic, data)`."""

    def __init__(self, inner: Callable[[bytes, SerializationContext], Any], is_key: bool):
        self._inner = inner
        self._field = MessageField.KEY if is_key else MessageField.VALUE

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = None) -> Any:
        if data is None:
            return None
        return self._inner(data, SerializationContext(topic, self._field, headers))

    __call__ = deserialize


class _RegistrySerde:
    """What the three formats share: the registry client, key/value side and serializer settings."""

    def __init__(
        self,
        registry: str | SchemaRegistryClient,
        *,
        is_key: bool = False,
        auto_register: bool = True,
        use_latest_version: bool = False,
        normalize: bool = False,
        subject_name_strategy: str | SubjectNameStrategy = SubjectNameStrategy.TOPIC,
        client_conf: Mapping[str, Any] | None = None,
    ) -> None:
        self.client = _client(registry, client_conf)
        self.is_key = is_key
        self.strategy = SubjectNameStrategy.parse(subject_name_strategy)
        self.serializer_conf: dict[str, Any] = {
            "auto.register.schemas": auto_register,
            "use.latest.version": use_latest_version,
            "normalize.schemas": normalize,
            "subject.name.strategy": self.strategy.function,
        }
        self.deserializer_conf: dict[str, Any] = {"subject.name.strategy": self.strategy.function}
        self._serializer: Serializer | None = None
        self._deserializer: Deserializer | None = None

    def serializer(self) -> Serializer:
        if self._serializer is None:
            self._serializer = self._make_serializer()
        return self._serializer

    def deserializer(self) -> Deserializer:
        if self._deserializer is None:
            self._deserializer = self._make_deserializer()
        return self._deserializer

    def context(self, topic: str, headers: Headers = None) -> SerializationContext:
        field = MessageField.KEY if self.is_key else MessageField.VALUE
        return SerializationContext(topic, field, headers)

    def serialize(self, topic: str, data: Any, headers: Headers = None) -> bytes | None:
        return self.serializer().serialize(topic, data, headers)

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = None) -> Any:
        return self.deserializer().deserialize(topic, data, headers)

    def _make_serializer(self) -> Serializer:
        raise NotImplementedError

    def _make_deserializer(self) -> Deserializer:
        raise NotImplementedError


class AvroSerde(_RegistrySerde):
    """Avro records (dicts, or objects through `to_dict`/`from_dict`) in Confluent's wire format.
    `schema` is the writer schema (JSON text; None: the subject's latest version); `reader_schema`
    optionally the schema to read into.

    Registration and schema lookups go through confluent-kafka's `SchemaRegistryClient` with the same
    settings its `AvroSerializer` takes; the per-record path is fastavro's schemaless writer/reader
    behind Confluent's 5-byte frame, because confluent-kafka's serializer costs about twice plain
    fastavro per record (bench/RESULTS.md, issue 14) and the streams hot path cannot pay that.
    """

    def __init__(
        self,
        registry: str | SchemaRegistryClient,
        schema: str | None = None,
        *,
        reader_schema: str | None = None,
        to_dict: Callable[[Any, SerializationContext], dict[str, Any]] | None = None,
        from_dict: Callable[[dict[str, Any], SerializationContext], Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(registry, **options)
        self.schema = schema
        self.reader_schema = reader_schema
        self.to_dict = to_dict
        self.from_dict = from_dict

    def _make_serializer(self) -> Serializer:
        return _AvroWriter(self)

    def _make_deserializer(self) -> Deserializer:
        return _AvroReader(self)


class _AvroWriter:
    """Confluent framing + fastavro; the schema id is looked up once per subject."""

    def __init__(self, serde: AvroSerde) -> None:
        self.serde = serde
        self.named: dict[str, Any] = {}
        self.parsed = (
            fastavro.parse_schema(json.loads(serde.schema), named_schemas=self.named)
            if serde.schema is not None
            else None
        )
        self.record_name = self.parsed.get("name") if isinstance(self.parsed, dict) else None
        # topic -> (frame prefix, parsed writer schema): the subject depends only on the topic here
        self.by_topic: dict[str, tuple[bytes, Any]] = {}

    def serialize(self, topic: str, data: Any, headers: Headers = None) -> bytes | None:
        if data is None:
            return None
        found = self.by_topic.get(topic)
        if found is None:
            ctx = self.serde.context(topic, headers)
            subject = self.serde.strategy.function(ctx, self.record_name)
            if subject is None:
                raise SerializationError("the subject name strategy named no subject")
            found = self.by_topic[topic] = self._resolve(subject)
        prefix, parsed = found
        to_dict = self.serde.to_dict
        record = data if to_dict is None else to_dict(data, self.serde.context(topic, headers))
        out = io.BytesIO()
        out.write(prefix)
        try:
            fastavro.schemaless_writer(out, parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SerializationError(f"record does not match the Avro schema: {exc}") from exc
        return out.getvalue()

    def _resolve(self, subject: str) -> tuple[bytes, Any]:
        serde, conf = self.serde, self.serde.serializer_conf
        client = serde.client
        if serde.schema is None or conf["use.latest.version"]:
            latest = client.get_latest_version(subject)
            schema_id, text = latest.schema_id, latest.schema.schema_str
            parsed = _parse_with_references(client, text, latest.schema.references)
        else:
            schema = Schema(serde.schema, "AVRO")
            if conf["auto.register.schemas"]:
                schema_id = client.register_schema(subject, schema, conf["normalize.schemas"])
            else:
                schema_id = client.lookup_schema(
                    subject, schema, conf["normalize.schemas"]
                ).schema_id
            parsed = self.parsed
        return bytes([MAGIC_BYTE]) + int(schema_id).to_bytes(4, "big"), parsed


class _AvroReader:
    """Strips the frame, reads with the writer schema the id names (cached), optionally into a
    reader schema."""

    def __init__(self, serde: AvroSerde) -> None:
        self.serde = serde
        self.reader = (
            fastavro.parse_schema(json.loads(serde.reader_schema))
            if serde.reader_schema is not None
            else None
        )
        self.writers: dict[bytes, Any] = {}
        self.last_frame = b"\xff"  # never a frame's first byte
        self.last_writer: Any = None
        self.from_dict = serde.from_dict  # fixed at construction: read once, not per record

    def _writer(self, data: bytes) -> Any:
        try:
            schema_id, _ = split_frame(data)
        except ValueError as exc:
            raise SerializationError(str(exc)) from None
        schema = self.serde.client.get_schema(schema_id)
        writer = _parse_with_references(self.serde.client, schema.schema_str, schema.references)
        read = self.writers[data[:5]] = _record_reader(writer, self.reader)
        return read

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = None) -> Any:
        if data is None:
            return None
        # The frame (magic byte + id) names the writer schema; most records repeat the last one.
        if data.startswith(self.last_frame):
            writer = self.last_writer
        else:
            writer = self.writers.get(data[:5]) or self._writer(data)
            self.last_frame, self.last_writer = data[:5], writer
        # The per-record path: module-level names, no attribute chains (bench/RESULTS.md, issue 14).
        payload = _BytesIO(data)
        payload.seek(5)
        obj: Any = writer(payload)
        if self.from_dict is None:
            return obj
        return self.from_dict(obj, self.serde.context(topic, headers))


_BytesIO = io.BytesIO
_schemaless_reader = fastavro.schemaless_reader
_READ_OPTIONS = {
    "return_record_name": False,
    "return_record_name_override": False,
    "handle_unicode_errors": "strict",
    "return_named_type": False,
    "return_named_type_override": False,
}


def _record_reader(writer: Any, reader: Any) -> Callable[[io.BytesIO], Any]:
    """fastavro's `schemaless_reader` for one writer schema, with the work it repeats on every call
    (named-schema tables, the parsed-schema check, the options dict) done once: its Cython
    `_read_data` directly when that is available and behaves (checked at import), else the public
    function."""
    if reader is not None or _read_data is None:
        return lambda payload: _schemaless_reader(payload, writer, reader)
    named = _default_named_schemas()
    parsed = fastavro.parse_schema(writer, named_schemas=named["writer"])
    read_data = _read_data

    def read(payload: io.BytesIO) -> Any:
        return read_data(payload, parsed, named, None, _READ_OPTIONS)

    return read


def _fast_reader_works() -> bool:
    schema = {
        "type": "record",
        "name": "Probe",
        "fields": [
            {"name": "a", "type": "long"},
            {"name": "b", "type": ["null", "string"]},
            {"name": "c", "type": {"type": "array", "items": "double"}},
        ],
    }
    parsed = fastavro.parse_schema(schema)
    record = {"a": -7, "b": "x", "c": [1.5]}
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    try:
        return bool(_record_reader(parsed, None)(io.BytesIO(out.getvalue())) == record)
    except Exception:
        return False


# fastavro's Cython reader internals (not in its typed API); the public function when they are
# missing or do not read a probe record back as the public function does
_internals: Any = importlib.import_module("fastavro._read")
_read_data: Any = getattr(_internals, "_read_data", None)
_default_named_schemas: Any = getattr(_internals, "_default_named_schemas", None)
if _default_named_schemas is None or (_read_data is not None and not _fast_reader_works()):
    _read_data = None


def _parse_with_references(client: Any, text: str | None, references: Any) -> Any:
    """A registered Avro schema parsed by fastavro with its references' named types."""
    named: dict[str, Any] = {}

    def add(refs: Any, depth: int) -> None:
        for ref in refs or []:
            if depth > 32:
                raise SerializationError("schema references nest too deeply")
            version = client.get_version(ref.subject, ref.version)
            add(version.schema.references, depth + 1)
            fastavro.parse_schema(
                json.loads(version.schema.schema_str or "null"), named_schemas=named
            )

    add(references, 0)
    return fastavro.parse_schema(json.loads(text or "null"), named_schemas=named)


class JsonSchemaSerde(_RegistrySerde):
    """JSON documents validated against a JSON Schema, in Confluent's wire format."""

    def __init__(
        self,
        registry: str | SchemaRegistryClient,
        schema: str | None = None,
        *,
        to_dict: Callable[[Any, SerializationContext], dict[str, Any]] | None = None,
        from_dict: Callable[[dict[str, Any], SerializationContext], Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(registry, **options)
        self.schema = schema
        self.to_dict = to_dict
        self.from_dict = from_dict

    def _make_serializer(self) -> Serializer:
        conf = dict(self.serializer_conf)
        if self.schema is None:
            conf["use.latest.version"] = True
            conf["auto.register.schemas"] = False
        inner = JSONSerializer(self.schema, self.client, to_dict=self.to_dict, conf=conf)
        return SerializerAdapter(inner, self.is_key)

    def _make_deserializer(self) -> Deserializer:
        inner = JSONDeserializer(
            None,
            from_dict=self.from_dict,
            schema_registry_client=self.client,
            conf=self.deserializer_conf,
        )
        return DeserializerAdapter(inner, self.is_key)


class ProtobufSerde(_RegistrySerde):
    """Protobuf messages of `message_type` (a generated class), in Confluent's wire format with the
    message-index prefix."""

    def __init__(
        self, registry: str | SchemaRegistryClient, message_type: type[Any], **options: Any
    ) -> None:
        super().__init__(registry, **options)
        self.message_type = message_type

    def _make_serializer(self) -> Serializer:
        conf = {**self.serializer_conf, "use.deprecated.format": False}
        inner = ProtobufSerializer(self.message_type, self.client, conf)
        return SerializerAdapter(inner, self.is_key)

    def _make_deserializer(self) -> Deserializer:
        conf = {**self.deserializer_conf, "use.deprecated.format": False}
        inner = ProtobufDeserializer(
            self.message_type, conf=conf, schema_registry_client=self.client
        )
        return DeserializerAdapter(inner, self.is_key)
