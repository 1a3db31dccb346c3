"""Schema-aware serdes with Confluent's wire format, built on confluent-kafka's own serializers.

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
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka.schema_registry import (
    SchemaRegistryClient,
    record_subject_name_strategy,
    topic_record_subject_name_strategy,
    topic_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

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
        self._serializer: SerializerAdapter | None = None
        self._deserializer: DeserializerAdapter | None = None

    def serializer(self) -> SerializerAdapter:
        if self._serializer is None:
            self._serializer = SerializerAdapter(self._make_serializer(), self.is_key)
        return self._serializer

    def deserializer(self) -> DeserializerAdapter:
        if self._deserializer is None:
            self._deserializer = DeserializerAdapter(self._make_deserializer(), self.is_key)
        return self._deserializer

    def serialize(self, topic: str, data: Any, headers: Headers = None) -> bytes | None:
        return self.serializer().serialize(topic, data, headers)

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = None) -> Any:
        return self.deserializer().deserialize(topic, data, headers)

    def _make_serializer(self) -> Callable[[Any, SerializationContext], bytes | None]:
        raise NotImplementedError

    def _make_deserializer(self) -> Callable[[bytes, SerializationContext], Any]:
        raise NotImplementedError


class AvroSerde(_RegistrySerde):
    """Avro records (dicts, or objects through `to_dict`/`from_dict`) in Confluent's wire format.
    `schema` is the writer schema (JSON text); `reader_schema` optionally the schema to read into."""

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

    def _make_serializer(self) -> Callable[[Any, SerializationContext], bytes | None]:
        conf = dict(self.serializer_conf)
        if self.schema is None:
            conf["use.latest.version"] = True
            conf["auto.register.schemas"] = False
        return AvroSerializer(self.client, schema_str=self.schema, to_dict=self.to_dict, conf=conf)  # type: ignore[no-any-return]

    def _make_deserializer(self) -> Callable[[bytes, SerializationContext], Any]:
        return AvroDeserializer(  # type: ignore[no-any-return]
            self.client,
            schema_str=self.reader_schema,
            from_dict=self.from_dict,
            conf=self.deserializer_conf,
        )


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

    def _make_serializer(self) -> Callable[[Any, SerializationContext], bytes | None]:
        conf = dict(self.serializer_conf)
        if self.schema is None:
            conf["use.latest.version"] = True
            conf["auto.register.schemas"] = False
        return JSONSerializer(self.schema, self.client, to_dict=self.to_dict, conf=conf)  # type: ignore[no-any-return]

    def _make_deserializer(self) -> Callable[[bytes, SerializationContext], Any]:
        return JSONDeserializer(  # type: ignore[no-any-return]
            None,
            from_dict=self.from_dict,
            schema_registry_client=self.client,
            conf=self.deserializer_conf,
        )


class ProtobufSerde(_RegistrySerde):
    """Protobuf messages of `message_type` (a generated class), in Confluent's wire format with the
    message-index prefix."""

    def __init__(
        self, registry: str | SchemaRegistryClient, message_type: type[Any], **options: Any
    ) -> None:
        super().__init__(registry, **options)
        self.message_type = message_type

    def _make_serializer(self) -> Callable[[Any, SerializationContext], bytes | None]:
        conf = {**self.serializer_conf, "use.deprecated.format": False}
        return ProtobufSerializer(self.message_type, self.client, conf)  # type: ignore[no-any-return]

    def _make_deserializer(self) -> Callable[[bytes, SerializationContext], Any]:
        conf = {**self.deserializer_conf, "use.deprecated.format": False}
        return ProtobufDeserializer(  # type: ignore[no-any-return]
            self.message_type, conf=conf, schema_registry_client=self.client
        )  # type: ignore[no-any-return]
