"""AVRO and JSON_SR formats through a real schema registry: a CSAS reads Avro written by
confluent-kafka's AvroSerializer and writes JSON_SR that confluent-kafka's JSONDeserializer reads."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from riverlog.registry.server import RegistryServer
from riverlog.sql.server.server import SqlServer
from riverlog.testing.broker import RunningBroker


@pytest.fixture(scope="module")
def server(
    broker: RunningBroker, registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlServer]:
    srv = SqlServer(
        {
            "listeners": "http://127.0.0.1:0",
            "bootstrap.servers": broker.bootstrap_servers,
            "ksql.service.id": f"reg_{uuid.uuid4().hex[:6]}_",
            "ksql.schema.registry.url": registry.url,
            "ksql.streams.state.dir": str(tmp_path_factory.mktemp("sql-state")),
            "ksql.streams.auto.offset.reset": "earliest",
            "ksql.streams.commit.interval.ms": "200",
        }
    )
    srv.start()
    yield srv
    srv.stop()


def ksql(url: str, text: str) -> Any:
    r = httpx.post(f"{url}/ksql", json={"ksql": text}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_avro_in_json_sr_out(
    server: SqlServer, registry: RegistryServer, broker: RunningBroker
) -> None:
    client = SchemaRegistryClient({"url": registry.url})
    schema = json.dumps(
        {
            "type": "record",
            "name": "Reading",
            "fields": [{"name": "SENSOR", "type": "string"}, {"name": "TEMP", "type": "double"}],
        }
    )
    ser = AvroSerializer(client, schema)
    p = Producer({"bootstrap.servers": broker.bootstrap_servers})
    ctx = SerializationContext("readings", MessageField.VALUE)
    for sensor, temp in [("a", 20.5), ("b", 31.0)]:
        p.produce("readings", key=sensor.encode(), value=ser({"SENSOR": sensor, "TEMP": temp}, ctx))
    p.flush(10)
    ksql(
        server.url,
        "CREATE STREAM READINGS (ID STRING KEY, SENSOR STRING, TEMP DOUBLE) WITH (kafka_topic='readings', value_format='AVRO');",
    )
    ksql(
        server.url,
        "CREATE STREAM HOT WITH (value_format='JSON_SR') AS SELECT ID, SENSOR, TEMP FROM READINGS WHERE TEMP > 30;",
    )
    de = JSONDeserializer(None, schema_registry_client=client)
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe(["HOT"])
    got = []
    deadline = time.monotonic() + 60
    try:
        while not got and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error() is not None:
                continue
            got.append((m.key(), de(m.value(), SerializationContext("HOT", MessageField.VALUE))))
    finally:
        c.close()
    assert got == [(b"b", {"SENSOR": "b", "TEMP": 31.0})]
    assert "HOT-value" in client.get_subjects()


def consume(broker: RunningBroker, topic: str, n: int) -> list[Any]:
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([topic])
    got: list[Any] = []
    deadline = time.monotonic() + 60
    try:
        while len(got) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error() is not None:
                continue
            got.append(m)
    finally:
        c.close()
    return got


PROTO = """syntax = "proto3";
message Trade {
  string symbol = 1;
  int64 qty = 2;
  double price = 3;
  repeated string tags = 4;
}
"""


def test_protobuf_with_inferred_columns(
    server: SqlServer, registry: RegistryServer, broker: RunningBroker
) -> None:
    """confluent-kafka's ProtobufSerializer writes (a message protoc compiled), the stream takes
    its columns from the registry, a CSAS writes PROTOBUF that ProtobufDeserializer reads with
    the message class of the schema riverlog.sql registered."""
    from confluent_kafka.schema_registry.protobuf import (
        ProtobufDeserializer,
        ProtobufSerializer,
    )
    from google.protobuf import message_factory

    from riverlog.schema.protobuf import ProtobufSchema

    client = SchemaRegistryClient({"url": registry.url})
    trade = message_factory.GetMessageClass(
        ProtobufSchema(PROTO).pool.FindMessageTypeByName("Trade")
    )
    ser = ProtobufSerializer(trade, client, {"use.deprecated.format": False})
    p = Producer({"bootstrap.servers": broker.bootstrap_servers})
    ctx = SerializationContext("trades", MessageField.VALUE)
    for sym, qty, price in [("ACME", 10, 1.5), ("INIT", 3, 7.25)]:
        msg = trade(symbol=sym, qty=qty, price=price, tags=["x", sym.lower()])
        p.produce("trades", key=sym.encode(), value=ser(msg, ctx))
    p.flush(10)
    ksql(server.url, "CREATE STREAM TRADES WITH (kafka_topic='trades', value_format='PROTOBUF');")
    fields = ksql(server.url, "DESCRIBE TRADES;")[0]["sourceDescription"]["fields"]
    assert [(f["name"], f["schema"]["type"]) for f in fields] == [
        ("SYMBOL", "STRING"),
        ("QTY", "BIGINT"),
        ("PRICE", "DOUBLE"),
        ("TAGS", "ARRAY"),
    ]
    ksql(
        server.url,
        "CREATE STREAM BIG_TRADES WITH (value_format='PROTOBUF') AS "
        "SELECT SYMBOL, QTY * 2 AS DOUBLED, TAGS FROM TRADES WHERE QTY > 5;",
    )
    got = consume(broker, "BIG_TRADES", 1)
    assert len(got) == 1
    registered = client.get_latest_version("BIG_TRADES-value").schema.schema_str
    parsed = ProtobufSchema(registered)
    out_cls = message_factory.GetMessageClass(
        parsed.pool.FindMessageTypeByName(parsed.file.message_type[0].name)
    )
    de = ProtobufDeserializer(out_cls, {"use.deprecated.format": False})
    msg = de(got[0].value(), SerializationContext("BIG_TRADES", MessageField.VALUE))
    assert (msg.SYMBOL, msg.DOUBLED, list(msg.TAGS)) == ("ACME", 20, ["x", "acme"])


def test_avro_inference_and_assert_schema(server: SqlServer, registry: RegistryServer) -> None:
    client = SchemaRegistryClient({"url": registry.url})
    schema = {
        "type": "record",
        "name": "Pageview",
        "fields": [
            {"name": "url", "type": "string"},
            {"name": "ms", "type": ["null", "int"]},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        ],
    }
    from confluent_kafka.schema_registry import Schema

    sid = client.register_schema("pageviews-value", Schema(json.dumps(schema), "AVRO"))
    ksql(
        server.url,
        "CREATE STREAM PAGEVIEWS (USER STRING KEY) "
        "WITH (kafka_topic='pageviews', value_format='AVRO', partitions=1);",
    )
    fields = ksql(server.url, "DESCRIBE PAGEVIEWS;")[0]["sourceDescription"]["fields"]
    assert [(f["name"], f["schema"]["type"]) for f in fields] == [
        ("USER", "STRING"),
        ("URL", "STRING"),
        ("MS", "INTEGER"),
        ("AT", "TIMESTAMP"),
    ]
    # VALUE_SCHEMA_ID: the columns of that schema, whatever the topic's subject holds
    ksql(
        server.url,
        "CREATE STREAM PV_BY_ID WITH (kafka_topic='pv_by_id', value_format='AVRO', "
        f"partitions=1, value_schema_id={sid});",
    )
    by_id = ksql(server.url, "DESCRIBE PV_BY_ID;")[0]["sourceDescription"]["fields"]
    assert [f["name"] for f in by_id] == ["URL", "MS", "AT"]
    r = httpx.post(
        f"{server.url}/ksql",
        json={
            "ksql": "CREATE STREAM BAD (X INT) WITH (kafka_topic='bad', value_format='AVRO', "
            f"partitions=1, value_schema_id={sid});"
        },
        timeout=30,
    )
    assert r.status_code == 400
    assert "VALUE_SCHEMA_ID cannot both exist" in r.json()["message"]
    ok = ksql(server.url, f"ASSERT SCHEMA SUBJECT 'pageviews-value' ID {sid};")[0]
    assert ok == {
        "@type": "assert_schema",
        "statementText": f"ASSERT SCHEMA SUBJECT 'pageviews-value' ID {sid};",
        "subject": "pageviews-value",
        "id": sid,
        "exists": True,
        "warnings": [],
    }
    assert (
        ksql(server.url, "ASSERT NOT EXISTS SCHEMA SUBJECT 'nothing-value';")[0]["exists"] is False
    )
    r = httpx.post(
        f"{server.url}/ksql",
        json={"ksql": "ASSERT SCHEMA ID 99999 TIMEOUT 200 MILLISECONDS;"},
        timeout=30,
    )
    assert r.status_code == 417
    assert r.json()["message"] == "Schema with id 99999 does not exist"


@pytest.mark.parametrize("rep", ["OPTIONAL", "WRAPPER"])
def test_protobuf_nullable_representations_round_trip_null(server: SqlServer, rep: str) -> None:
    name = f"NULLS_{rep}"
    ksql(
        server.url,
        f"CREATE STREAM {name} (K STRING KEY, I INT, S STRING) WITH (kafka_topic='{name.lower()}', "
        f"value_format='PROTOBUF', value_protobuf_nullable_representation='{rep}', partitions=1);",
    )
    ksql(server.url, f"INSERT INTO {name} (K, I, S) VALUES ('a', NULL, 'x');")
    ksql(server.url, f"INSERT INTO {name} (K, I, S) VALUES ('b', 5, NULL);")
    r = httpx.post(
        f"{server.url}/query-stream",
        json={
            "sql": f"SELECT K, I, S FROM {name} EMIT CHANGES LIMIT 2;",
            "properties": {"auto.offset.reset": "earliest"},
        },
        headers={"Accept": "application/json"},
        timeout=60,
    )
    assert r.json()[1:] == [["a", None, "x"], ["b", 5, None]]


def test_registry_formats_need_the_registry_url(broker: RunningBroker) -> None:
    from riverlog.sql import registry_formats
    from riverlog.sql.engine import Engine
    from riverlog.sql.errors import SqlStatementError
    from riverlog.sql.qtt import DriverRuntime, MemoryKafka

    registry_formats.configure(None)
    kafka = MemoryKafka()
    engine = Engine(kafka, DriverRuntime(kafka))
    with pytest.raises(SqlStatementError, match="ksql.schema.registry.url"):
        engine.execute(
            "CREATE STREAM S (ID INT KEY, V INT) WITH (kafka_topic='s', value_format='AVRO');"
        )
    del broker
