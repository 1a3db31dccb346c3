"""Records through a riverlog topic with confluent-kafka's own serializers against the registry (Avro,
JSON Schema, Protobuf with references), and riverlog.schema.serdes interoperating with them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

from riverlog.registry.server import RegistryServer
from riverlog.schema.serdes import AvroSerde, JsonSchemaSerde, ProtobufSerde, split_frame
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

ORDER = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "item", "type": "string"},
        {"name": "price", "type": "double"},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
    ],
}
ORDERS = [
    {"id": i, "item": f"item-{i}", "price": i * 1.5, "tags": ["a"] * (i % 3)} for i in range(20)
]
PAYMENT = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Payment",
    "type": "object",
    "properties": {"id": {"type": "integer"}, "amount": {"type": "number"}},
    "required": ["id"],
    "additionalProperties": False,
}


def ctx(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


def roundtrip_through_topic(broker: RunningBroker, topic: str, values: list[bytes]) -> list[bytes]:
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for value in values:
        producer.produce(topic, value)
    assert producer.flush(10) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"g-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    out: list[bytes] = []
    try:
        for _ in range(100):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                out.append(message.value())
            if len(out) == len(values):
                break
    finally:
        consumer.close()
    return out


def test_avro_records_through_a_riverlog_topic(
    broker: RunningBroker, registry: RegistryServer, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    client = SchemaRegistryClient({"url": registry.url})
    serializer = AvroSerializer(client, json.dumps(ORDER))
    values = [serializer(order, ctx(topic)) for order in ORDERS]
    schema_id, _ = split_frame(values[0])
    assert client.get_latest_version(f"{topic}-value").schema_id == schema_id
    received = roundtrip_through_topic(broker, topic, values)
    reader = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))
    assert [reader(value, ctx(topic)) for value in received] == ORDERS


def test_json_schema_serializer(registry: RegistryServer, make_topic: Callable[..., str]) -> None:
    topic = make_topic()
    client = SchemaRegistryClient({"url": registry.url})
    serializer = JSONSerializer(json.dumps(PAYMENT), client)
    data = serializer({"id": 7, "amount": 12.5}, ctx(topic))
    registered = client.get_latest_version(f"{topic}-value")
    assert registered.schema.schema_type == "JSON"
    assert split_frame(data)[0] == registered.schema_id
    reader = JSONDeserializer(
        None, schema_registry_client=SchemaRegistryClient({"url": registry.url})
    )
    assert reader(data, ctx(topic)) == {"id": 7, "amount": 12.5}
    # Dropping a property from a closed content model is not backward compatible.
    narrowed = {**PAYMENT, "properties": {"id": {"type": "integer"}}}
    assert client.test_compatibility(f"{topic}-value", _json_schema(narrowed)) is False


def _json_schema(obj: dict[str, Any]) -> Any:
    from confluent_kafka.schema_registry import Schema

    return Schema(json.dumps(obj), "JSON")


def _message_classes() -> tuple[type[Any], type[Any]]:
    """`shop.Customer` in customer.proto, and `shop.Invoice` in invoice.proto importing it and
    google/protobuf/timestamp.proto — built as descriptors, as generated code would."""
    pool = descriptor_pool.DescriptorPool()
    ts = descriptor_pb2.FileDescriptorProto()
    ts.ParseFromString(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(ts)
    field = descriptor_pb2.FieldDescriptorProto
    customer = descriptor_pb2.FileDescriptorProto(
        name="customer.proto", package="shop", syntax="proto3"
    )
    msg = customer.message_type.add(name="Customer")
    msg.field.add(name="name", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    pool.Add(customer)
    invoice = descriptor_pb2.FileDescriptorProto(
        name="invoice.proto",
        package="shop",
        syntax="proto3",
        dependency=["customer.proto", "google/protobuf/timestamp.proto"],
    )
    msg = invoice.message_type.add(name="Invoice")
    msg.field.add(name="number", number=1, type=field.TYPE_INT64, label=field.LABEL_OPTIONAL)
    msg.field.add(
        name="customer",
        number=2,
        type=field.TYPE_MESSAGE,
        type_name=".shop.Customer",
        label=field.LABEL_OPTIONAL,
    )
    msg.field.add(
        name="at",
        number=3,
        type=field.TYPE_MESSAGE,
        type_name=".google.protobuf.Timestamp",
        label=field.LABEL_OPTIONAL,
    )
    pool.Add(invoice)
    get = message_factory.GetMessageClass
    return get(pool.FindMessageTypeByName("shop.Invoice")), get(
        pool.FindMessageTypeByName("shop.Customer")
    )


def test_protobuf_serializer_with_references(
    registry: RegistryServer, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    invoice_cls, customer_cls = _message_classes()
    client = SchemaRegistryClient({"url": registry.url})
    serializer = ProtobufSerializer(invoice_cls, client, {"use.deprecated.format": False})
    invoice = invoice_cls(number=42, customer=customer_cls(name="Ada"))
    invoice.at.seconds = 1_700_000_000
    data = serializer(invoice, ctx(topic))
    # The import was registered as its own subject and referenced.
    registered = client.get_latest_version(f"{topic}-value")
    assert [r.name for r in registered.schema.references] == ["customer.proto"]
    assert "customer.proto" in client.get_subjects()
    # Registered as a descriptor, served as .proto text (as Confluent's registry does).
    assert "message Invoice {" in registered.schema.schema_str
    reader = ProtobufDeserializer(
        invoice_cls,
        {"use.deprecated.format": False},
        schema_registry_client=SchemaRegistryClient({"url": registry.url}),
    )
    decoded = reader(data, ctx(topic))
    assert decoded.number == 42 and decoded.customer.name == "Ada"
    assert decoded.at.seconds == 1_700_000_000


def test_riverlog_serdes_interoperate(
    registry: RegistryServer, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    serde = AvroSerde(registry.url, json.dumps(ORDER))
    data = serde.serializer().serialize(topic, ORDERS[3])
    assert data is not None and data[0] == 0
    # confluent-kafka's deserializer reads riverlog's bytes, and the reverse.
    confluent_reader = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))
    assert confluent_reader(data, ctx(topic)) == ORDERS[3]
    assert serde.deserializer().deserialize(topic, data) == ORDERS[3]
    assert serde.serializer().serialize(topic, None) is None
    # Without a schema the serializer uses the subject's latest version.
    latest_only = AvroSerde(registry.url)
    assert latest_only.deserialize(topic, latest_only.serialize(topic, ORDERS[4])) == ORDERS[4]

    json_serde = JsonSchemaSerde(registry.url, json.dumps(PAYMENT))
    assert json_serde.deserialize(topic + "-j", json_serde.serialize(topic + "-j", {"id": 1})) == {
        "id": 1
    }

    invoice_cls, customer_cls = _message_classes()
    proto = ProtobufSerde(registry.url, invoice_cls)
    message = invoice_cls(number=9, customer=customer_cls(name="Bo"))
    assert proto.deserialize(topic + "-p", proto.serialize(topic + "-p", message)) == message


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("TopicNameStrategy", "{topic}-value"),
        ("RecordNameStrategy", "shop.Order"),
        ("io.confluent.kafka.serializers.subject.TopicRecordNameStrategy", "{topic}-shop.Order"),
    ],
)
def test_subject_name_strategies(
    registry: RegistryServer, make_topic: Callable[..., str], strategy: str, expected: str
) -> None:
    topic = make_topic()
    serde = AvroSerde(registry.url, json.dumps(ORDER), subject_name_strategy=strategy)
    serde.serialize(topic, ORDERS[0])
    client = SchemaRegistryClient({"url": registry.url})
    assert expected.format(topic=topic) in client.get_subjects()
