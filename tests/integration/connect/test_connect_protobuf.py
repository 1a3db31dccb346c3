"""ProtobufConverter end to end: a real broker, riverlog's schema registry in-process, a standalone
worker; a datagen source writing Protobuf that confluent-kafka's ProtobufDeserializer reads back, and a
sink reading what confluent-kafka's ProtobufSerializer wrote (message classes built at run time from
the schemas, as no generated code exists for them)."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from riverlog.connect.standalone import ConnectStandalone
from riverlog.registry.server import RegistryServer
from riverlog.schema.protobuf import ProtobufSchema, well_known_files
from riverlog.testing.broker import RunningBroker
from riverlog.testing.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def worker(
    broker: RunningBroker, registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectStandalone]:
    tmp = tmp_path_factory.mktemp("connect-protobuf")
    props = {
        "bootstrap.servers": broker.bootstrap_servers,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "io.confluent.connect.protobuf.ProtobufConverter",
        "value.converter.schema.registry.url": registry.url,
        "offset.storage.file.filename": str(tmp / "offsets"),
        "offset.flush.interval.ms": "300",
        "listeners": "http://127.0.0.1:0",
    }
    with ConnectStandalone(props) as running:
        yield running


def message_class(registry_url: str, subject: str, name: str) -> Any:
    """The registered schema's message class, built from its serialized descriptor."""
    client = SchemaRegistryClient({"url": registry_url})  # a fresh one: no cached text form
    registered = client.get_latest_version(subject, fmt="serialized")
    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.ParseFromString(base64.b64decode(registered.schema.schema_str or ""))
    pool = descriptor_pool.DescriptorPool()
    for known in well_known_files():
        pool.Add(known)
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


def test_datagen_source_writes_protobuf_that_confluent_deserializer_reads(
    broker: RunningBroker,
    registry: RegistryServer,
    worker: ConnectStandalone,
    make_topic: Callable[..., str],
) -> None:
    topic = make_topic()
    httpx.post(
        f"{worker.url}/connectors",
        json={
            "name": "proto-orders",
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
    wait_until(lambda: f"{topic}-value" in client.get_subjects())
    text = client.get_latest_version(f"{topic}-value").schema.schema_str or ""
    assert "package ksql;" in text and "message orders {" in text
    deserialize = ProtobufDeserializer(
        message_class(registry.url, f"{topic}-value", "ksql.orders"),
        {"use.deprecated.format": False},
    )
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"g-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    orders: list[Any] = []
    deadline = time.monotonic() + 30
    try:
        while len(orders) < 20 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            assert msg.value()[:1] == b"\x00" and msg.value()[5:6] == b"\x00"  # frame, index [0]
            orders.append(deserialize(msg.value(), SerializationContext(topic, MessageField.VALUE)))
    finally:
        consumer.close()
    assert len(orders) == 20
    assert orders[0].itemid and orders[0].address.city and orders[0].ordertime > 0
    assert len({o.orderid for o in orders}) > 1


PROTO = """syntax = "proto3";
package example;
import "google/protobuf/timestamp.proto";

message Toll {
  int64 id = 1;
  string plate = 2;
  repeated string lanes = 3;
  map<string, int32> counts = 4;
  google.protobuf.Timestamp seen = 5;
  oneof payment {
    string card = 6;
    int64 account = 7;
  }
  enum Kind { CAR = 0; TRUCK = 1; }
  Kind kind = 8;
}
"""


def test_sink_reads_what_confluent_protobuf_serializer_wrote(
    broker: RunningBroker,
    registry: RegistryServer,
    worker: ConnectStandalone,
    make_topic: Callable[..., str],
    tmp_path: Path,
) -> None:
    topic = make_topic()
    toll = message_factory.GetMessageClass(
        ProtobufSchema(PROTO).pool.FindMessageTypeByName("example.Toll")
    )
    client = SchemaRegistryClient({"url": registry.url})
    serialize = ProtobufSerializer(toll, client, {"use.deprecated.format": False})
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i in range(3):
        record = toll(id=i, plate=f"AB-{i}", lanes=["n", "s"], kind=i % 2)
        record.counts["axles"] = 2 + i
        record.seen.FromMilliseconds(1_765_000_000_000 + i)
        if i == 1:
            record.card = "visa"
        producer.produce(
            topic, value=serialize(record, SerializationContext(topic, MessageField.VALUE))
        )
    producer.flush(10)
    out = tmp_path / "out.txt"
    httpx.post(
        f"{worker.url}/connectors",
        json={
            "name": f"proto-sink-{topic}",
            "config": {"connector.class": "FileStreamSink", "file": str(out), "topics": topic},
        },
    ).raise_for_status()
    wait_until(lambda: out.exists() and len(out.read_text().splitlines()) >= 3)
    lines = out.read_text().splitlines()
    assert lines[0].startswith("Struct{id=0,plate=AB-0,lanes=[n, s],counts={axles=2},seen=")
    assert lines[0].endswith(",kind=CAR}")
    assert "payment=Struct{card=visa}" in lines[1] and lines[1].endswith(",kind=TRUCK}")
    status = httpx.get(f"{worker.url}/connectors/proto-sink-{topic}/status").json()
    assert status["tasks"][0]["state"] == "RUNNING"
