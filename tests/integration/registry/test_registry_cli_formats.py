"""`riverlog produce --value-format avro|json --value-schema-file` and `riverlog consume --value-format
avro|json|protobuf --registry-url`: JSON lines in, Confluent wire format on the topic (checked with
confluent-kafka's own deserializer), JSON lines out."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from typer.testing import CliRunner

from riverlog.cli.errors import CliError
from riverlog.cli.main import app
from riverlog.registry.server import RegistryServer
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

READING = {
    "type": "record",
    "name": "Reading",
    "fields": [{"name": "sensor", "type": "string"}, {"name": "celsius", "type": "double"}],
}


def run(broker: RunningBroker, *args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(app, [*args, "-b", broker.bootstrap_servers], input=stdin)


def raw_values(broker: RunningBroker, topic: str, count: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": "raw",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    out: list[bytes] = []
    try:
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                out.append(message.value())
            if len(out) == count:
                break
    finally:
        consumer.close()
    return out


def test_produce_and_consume_avro(
    broker: RunningBroker, registry: RegistryServer, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = make_topic()
    schema_file = tmp_path / "reading.avsc"
    schema_file.write_text(json.dumps(READING))
    lines = [{"sensor": "a", "celsius": 21.5}, {"sensor": "b", "celsius": -3.0}]
    stdin = "\n".join(json.dumps(x) for x in lines).encode() + b"\nnot json\n"
    produced = run(
        broker,
        "produce",
        topic,
        "--value-format",
        "avro",
        "--value-schema-file",
        str(schema_file),
        "--registry-url",
        registry.url,
        stdin=stdin,
    )
    assert "produced 2 records" in produced.stderr and "1 errors" in produced.stderr
    assert "not JSON" in produced.stderr
    # On the topic: Confluent's wire format, readable by confluent-kafka's deserializer.
    reader = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))
    context = SerializationContext(topic, MessageField.VALUE)
    assert [reader(v, context) for v in raw_values(broker, topic, 2)] == lines
    consumed = run(
        broker,
        "consume",
        topic,
        "--from-beginning",
        "--count",
        "2",
        "--value-format",
        "avro",
        "--registry-url",
        registry.url,
    )
    assert consumed.exit_code == 0, consumed.stderr
    assert [json.loads(line) for line in consumed.stdout.splitlines()] == lines


def test_produce_and_consume_json_schema(
    broker: RunningBroker, registry: RegistryServer, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = make_topic()
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    schema_file = tmp_path / "n.json"
    schema_file.write_text(json.dumps(schema))
    produced = run(
        broker,
        "produce",
        topic,
        "--value-format",
        "json",
        "--value-schema-file",
        str(schema_file),
        "--registry-url",
        registry.url,
        stdin=b'{"n": 1}\n{"m": 2}\n',
    )
    assert "produced 1 records" in produced.stderr  # the second line fails validation
    consumed = run(
        broker,
        "consume",
        topic,
        "--from-beginning",
        "--count",
        "1",
        "--value-format",
        "json",
        "--registry-url",
        registry.url,
    )
    assert json.loads(consumed.stdout) == {"n": 1}


def test_consume_protobuf(
    broker: RunningBroker, registry: RegistryServer, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    field = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="ping.proto", package="pp", syntax="proto3")
    msg = fdp.message_type.add(name="Ping")
    msg.field.add(name="seq", number=1, type=field.TYPE_INT32, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    ping = message_factory.GetMessageClass(pool.FindMessageTypeByName("pp.Ping"))
    serializer = ProtobufSerializer(
        ping, SchemaRegistryClient({"url": registry.url}), {"use.deprecated.format": False}
    )
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    producer.produce(
        topic, serializer(ping(seq=5), SerializationContext(topic, MessageField.VALUE))
    )
    producer.flush(10)
    consumed = run(
        broker,
        "consume",
        topic,
        "--from-beginning",
        "--count",
        "1",
        "--value-format",
        "protobuf",
        "--registry-url",
        registry.url,
    )
    assert json.loads(consumed.stdout) == {"seq": 5}


PROTO = """syntax = "proto3";
package shop;
message Header { string id = 1; }
message Order {
  string sku = 1;
  int32 quantity = 2;
  repeated string tags = 3;
}
"""


def test_produce_protobuf_from_proto_file(
    broker: RunningBroker,
    registry: RegistryServer,
    make_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topic = make_topic()
    proto = tmp_path / "order.proto"
    proto.write_text(PROTO)
    lines = [{"sku": "A-1", "quantity": 3, "tags": ["x"]}, {"sku": "B-2", "quantity": 1}]
    stdin = "\n".join(json.dumps(x) for x in lines).encode() + b'\n{"nope": 1}\n'
    produced = run(
        broker,
        "produce",
        topic,
        "--value-format",
        "protobuf",
        "--value-schema-file",
        str(proto),
        "--value-message",
        "Order",
        "--registry-url",
        registry.url,
        stdin=stdin,
    )
    assert "line 3" in produced.stderr or "line 3" in produced.output
    client = SchemaRegistryClient({"url": registry.url})
    registered = client.get_latest_version(f"{topic}-value")
    assert registered.schema.schema_type == "PROTOBUF"
    # confluent-kafka's own deserializer, with a message class built from the registered schema
    fdp = descriptor_pb2.FileDescriptorProto()
    serialized = client.get_version(f"{topic}-value", registered.version, fmt="serialized")
    fdp.ParseFromString(base64.b64decode(serialized.schema.schema_str or ""))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    order = message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Order"))
    deserializer = ProtobufDeserializer(order, {"use.deprecated.format": False})
    values = raw_values(broker, topic, 2)
    decoded = [deserializer(v, SerializationContext(topic, MessageField.VALUE)) for v in values]
    assert [(m.sku, m.quantity, list(m.tags)) for m in decoded] == [
        ("A-1", 3, ["x"]),
        ("B-2", 1, []),
    ]
    # the second message: Confluent's message-index prefix is [1], not the single 0 byte
    assert values[0][5:6] == b"\x02" and values[0][6:7] == b"\x02"
    consumed = run(
        broker,
        "consume",
        topic,
        "--from-beginning",
        "--count",
        "2",
        "--value-format",
        "protobuf",
        "--registry-url",
        registry.url,
    )
    assert [json.loads(x) for x in consumed.stdout.splitlines()] == [
        {"sku": "A-1", "quantity": 3, "tags": ["x"]},
        {"sku": "B-2", "quantity": 1},
    ]


def test_produce_protobuf_errors(
    broker: RunningBroker, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = make_topic()
    proto = tmp_path / "bad.proto"
    proto.write_text('syntax = "proto3"; message M { strin x = 1; }')
    result = run(
        broker, "produce", topic, "--value-format", "protobuf", "--value-schema-file", str(proto)
    )
    assert isinstance(result.exception, CliError) and "bad.proto" in str(result.exception)
    proto.write_text(PROTO)
    result = run(
        broker,
        "produce",
        topic,
        "--value-format",
        "protobuf",
        "--value-schema-file",
        str(proto),
        "--value-message",
        "Nope",
    )
    assert isinstance(result.exception, CliError)
    assert "shop.Header, shop.Order" in str(result.exception)


def test_format_errors_are_one_line(broker: RunningBroker, make_topic: Callable[..., str]) -> None:
    topic = make_topic()
    result = run(broker, "produce", topic, "--value-format", "avro", stdin=b"{}\n")
    assert isinstance(result.exception, CliError)
    assert "--value-schema-file" in str(result.exception)
    result = run(broker, "consume", topic, "--value-format", "xml", "--count", "1")
    assert isinstance(result.exception, CliError) and "xml" in str(result.exception)


def test_key_format_avro_on_produce_and_consume(
    broker: RunningBroker, registry: RegistryServer, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = make_topic()
    key_file, value_file = tmp_path / "key.avsc", tmp_path / "reading.avsc"
    key_schema = {"type": "record", "name": "Key", "fields": [{"name": "id", "type": "long"}]}
    key_file.write_text(json.dumps(key_schema))
    value_file.write_text(json.dumps(READING))
    line = json.dumps({"id": 7}) + "|" + json.dumps({"sensor": "k", "celsius": 1.5})
    produced = run(
        broker,
        "produce",
        topic,
        "--key-separator",
        "|",
        "--key-format",
        "avro",
        "--key-schema-file",
        str(key_file),
        "--value-format",
        "avro",
        "--value-schema-file",
        str(value_file),
        "--registry-url",
        registry.url,
        stdin=line.encode() + b"\n",
    )
    assert produced.exit_code == 0, produced.output
    client = SchemaRegistryClient({"url": registry.url})
    assert json.loads(client.get_latest_version(f"{topic}-key").schema.schema_str or "") == (
        key_schema
    )
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": "keys",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                break
    finally:
        consumer.close()
    assert message is not None
    key = AvroDeserializer(client)(message.key(), SerializationContext(topic, MessageField.KEY))
    assert key == {"id": 7}
    consumed = run(
        broker,
        "consume",
        topic,
        "--from-beginning",
        "--count",
        "1",
        "--print-key",
        "--key-format",
        "avro",
        "--value-format",
        "avro",
        "--registry-url",
        registry.url,
    )
    assert '{"id": 7}' in consumed.stdout and '"sensor": "k"' in consumed.stdout
    bad = run(broker, "produce", topic, "--key-format", "avro", "--key-schema-file", str(key_file))
    assert isinstance(bad.exception, CliError) and "--key-separator" in str(bad.exception)
