"""AvroConverter end to end: a real broker, riverlog's schema registry in-process, a standalone worker;
a datagen source writing Avro that confluent-kafka's AvroDeserializer reads back, and a sink reading
what confluent-kafka's AvroSerializer wrote."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from riverlog.connect.standalone import ConnectStandalone
from riverlog.registry.server import RegistryServer
from riverlog.testing.broker import RunningBroker
from riverlog.testing.waiting import wait_until


@pytest.fixture(scope="module")
def worker(
    broker: RunningBroker, registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectStandalone]:
    tmp = tmp_path_factory.mktemp("connect-avro")
    props = {
        "bootstrap.servers": broker.bootstrap_servers,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "io.confluent.connect.avro.AvroConverter",
        "value.converter.schema.registry.url": registry.url,
        "offset.storage.file.filename": str(tmp / "offsets"),
        "offset.flush.interval.ms": "300",
        "listeners": "http://127.0.0.1:0",
    }
    with ConnectStandalone(props) as running:
        yield running


def test_datagen_source_writes_avro_that_confluent_deserializer_reads(
    broker: RunningBroker,
    registry: RegistryServer,
    worker: ConnectStandalone,
    make_topic: Callable[..., str],
) -> None:
    topic = make_topic()
    httpx.post(
        f"{worker.url}/connectors",
        json={
            "name": "avro-orders",
            "config": {
                "connector.class": "DatagenConnector",
                "kafka.topic": topic,
                "quickstart": "orders",
                "max.interval": "0",
                "iterations": "20",
            },
        },
    ).raise_for_status()
    client = SchemaRegistryClient({"url": registry.url})
    deserialize = AvroDeserializer(client)
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"g-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    values: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    try:
        while len(values) < 20 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            assert msg.value()[:1] == b"\x00"  # Confluent's frame
            values.append(deserialize(msg.value(), SerializationContext(topic, MessageField.VALUE)))
    finally:
        consumer.close()
    assert len(values) == 20
    assert {"ordertime", "orderid", "itemid", "orderunits", "address"} <= set(values[0])
    assert isinstance(values[0]["address"], dict) and "zipcode" in values[0]["address"]
    registered = client.get_latest_version(f"{topic}-value").schema
    avro = json.loads(registered.schema_str)
    assert avro["type"] == "record" and avro["name"] == "orders" and avro["namespace"] == "ksql"
    assert avro["connect.name"] == "ksql.orders"


AVRO_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Toll",
        "namespace": "example",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "plate", "type": "string"},
            {"name": "note", "type": ["null", "string"], "default": None},
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 8, "scale": 2},
            },
            {"name": "seen", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        ],
    }
)


def test_sink_reads_what_confluent_avro_serializer_wrote(
    broker: RunningBroker,
    registry: RegistryServer,
    worker: ConnectStandalone,
    make_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topic = make_topic()
    serialize = AvroSerializer(SchemaRegistryClient({"url": registry.url}), AVRO_SCHEMA)
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    seen = dt.datetime(2026, 12, 7, 21, 0, tzinfo=dt.UTC)
    for i in range(5):
        record = {
            "id": i,
            "plate": f"AB-{i}",
            "note": None if i % 2 else "ok",
            "amount": decimal.Decimal(f"{i}.25"),
            "seen": seen,
        }
        producer.produce(
            topic, value=serialize(record, SerializationContext(topic, MessageField.VALUE))
        )
    producer.flush(10)
    out = tmp_path / "out.txt"
    httpx.post(
        f"{worker.url}/connectors",
        json={
            "name": f"avro-sink-{topic}",
            "config": {"connector.class": "FileStreamSink", "file": str(out), "topics": topic},
        },
    ).raise_for_status()
    wait_until(lambda: out.exists() and len(out.read_text().splitlines()) >= 5)
    lines = out.read_text().splitlines()
    assert lines[0].startswith("Struct{id=0,plate=AB-0,note=ok,amount=0.25,seen=")
    assert lines[1].startswith("Struct{id=1,plate=AB-1,amount=1.25,seen=")
    status = httpx.get(f"{worker.url}/connectors/avro-sink-{topic}/status").json()
    assert status["tasks"][0]["state"] == "RUNNING"


@pytest.fixture(scope="module")
def json_worker(
    broker: RunningBroker, registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectStandalone]:
    tmp = tmp_path_factory.mktemp("connect-jsonschema")
    props = {
        "bootstrap.servers": broker.bootstrap_servers,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "io.confluent.connect.json.JsonSchemaConverter",
        "value.converter.schema.registry.url": registry.url,
        "offset.storage.file.filename": str(tmp / "offsets"),
        "offset.flush.interval.ms": "300",
        "listeners": "http://127.0.0.1:0",
    }
    with ConnectStandalone(props) as running:
        yield running


def test_json_schema_converter_both_ways_with_confluent_json_serdes(
    broker: RunningBroker,
    registry: RegistryServer,
    json_worker: ConnectStandalone,
    make_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer

    client = SchemaRegistryClient({"url": registry.url})
    # source side: datagen users as JSON Schema; confluent-kafka's JSONDeserializer reads them
    topic = make_topic()
    httpx.post(
        f"{json_worker.url}/connectors",
        json={
            "name": "json-users",
            "config": {
                "connector.class": "DatagenConnector",
                "kafka.topic": topic,
                "quickstart": "users",
                "max.interval": "0",
                "iterations": "10",
            },
        },
    ).raise_for_status()
    deserialize = JSONDeserializer(None, schema_registry_client=client)
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"g-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    users: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    try:
        while len(users) < 10 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            users.append(deserialize(msg.value(), SerializationContext(topic, MessageField.VALUE)))
    finally:
        consumer.close()
    assert len(users) == 10
    assert {"registertime", "userid", "regionid", "gender"} == set(users[0])
    registered = json.loads(client.get_latest_version(f"{topic}-value").schema.schema_str)
    assert registered["type"] == "object" and registered["title"] == "ksql.users"
    assert registered["properties"]["registertime"] == {
        "type": "integer",
        "connect.type": "int64",
        "connect.index": 0,
    }

    # sink side: records written by confluent-kafka's JSONSerializer, read into Connect structs
    topic2 = make_topic()
    schema_str = json.dumps(
        {
            "type": "object",
            "title": "Toll",
            "properties": {"id": {"type": "integer"}, "plate": {"type": "string"}},
        }
    )
    serialize = JSONSerializer(schema_str, client)
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i in range(3):
        producer.produce(
            topic2,
            value=serialize(
                {"id": i, "plate": f"AB-{i}"}, SerializationContext(topic2, MessageField.VALUE)
            ),
        )
    producer.flush(10)
    out = tmp_path / "json-out.txt"
    httpx.post(
        f"{json_worker.url}/connectors",
        json={
            "name": "json-sink",
            "config": {"connector.class": "FileStreamSink", "file": str(out), "topics": topic2},
        },
    ).raise_for_status()
    wait_until(lambda: out.exists() and len(out.read_text().splitlines()) >= 3)
    assert out.read_text().splitlines() == [f"Struct{{id={i},plate=AB-{i}}}" for i in range(3)]
