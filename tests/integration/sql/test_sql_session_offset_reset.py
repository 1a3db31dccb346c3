"""A request's `auto.offset.reset` reaches the persistent queries it creates, as in ksqlDB (the CLI's
`SET 'auto.offset.reset'='earliest';` before a CSAS makes the query read the topic from the start).
It used to reach push queries only: persistent ones used the server's default (latest) and missed
every record already in the topic."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, Producer

from riverlog.sql.server.server import SqlServer
from riverlog.testing.broker import RunningBroker


@pytest.fixture
def server(broker: RunningBroker, tmp_path: Path) -> Iterator[SqlServer]:
    srv = SqlServer(
        {
            "listeners": "http://127.0.0.1:0",
            "bootstrap.servers": broker.bootstrap_servers,
            "ksql.service.id": f"reset_{uuid.uuid4().hex[:6]}_",
            "ksql.streams.state.dir": str(tmp_path / "state"),
            "ksql.streams.commit.interval.ms": "200",
        }  # ksql.streams.auto.offset.reset left at its default, latest
    )
    srv.start()
    yield srv
    srv.stop()


def test_set_auto_offset_reset_applies_to_a_csas(server: SqlServer, broker: RunningBroker) -> None:
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i in range(5):
        producer.produce(topic, key=str(i), value=json.dumps({"ID": i, "AMOUNT": i * 10}))
    producer.flush(10)
    props = {"auto.offset.reset": "earliest"}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for text in (
            f"CREATE STREAM orders_src (ID INT, AMOUNT INT) WITH (kafka_topic='{topic}', value_format='JSON');",
            "CREATE STREAM big_orders AS SELECT ID, AMOUNT FROM orders_src WHERE AMOUNT >= 20;",
        ):
            r = client.post("/ksql", json={"ksql": text, "streamsProperties": props})
            assert r.status_code == 200, r.text
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"check-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(["BIG_ORDERS"])
    got: list[int] = []
    deadline = time.monotonic() + 60
    while len(got) < 3 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            got.append(json.loads(msg.value())["AMOUNT"])
    consumer.close()
    assert sorted(got) == [20, 30, 40]
