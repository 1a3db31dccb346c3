"""Error handling and SMTs on a real broker: a malformed record under errors.tolerance=all goes to the
DLQ with Kafka's __connect.errors.* headers; under none the task fails with its trace; transforms with a
predicate route records."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer

from riverlog.connect.standalone import ConnectStandalone
from riverlog.testing.broker import RunningBroker
from riverlog.testing.waiting import wait_until


@pytest.fixture(scope="module")
def worker(
    broker: RunningBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectStandalone]:
    tmp = tmp_path_factory.mktemp("connect")
    props = {
        "bootstrap.servers": broker.bootstrap_servers,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "offset.storage.file.filename": str(tmp / "offsets"),
        "offset.flush.interval.ms": "200",
        "listeners": "http://127.0.0.1:0",
    }
    with ConnectStandalone(props) as running:
        yield running


def produce(broker: RunningBroker, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for v in values:
        producer.produce(topic, value=v, key=b"k")
    producer.flush(10)


def consume_all(broker: RunningBroker, topic: str, count: int) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"check-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + 30
    while len(out) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            out.append(msg)
    consumer.close()
    return out


GOOD = b'{"schema":{"type":"string","optional":false},"payload":"ok"}'


def test_malformed_record_goes_to_dlq_with_context_headers(
    worker: ConnectStandalone, broker: RunningBroker, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic, dlq = make_topic(), make_topic(prefix="dlq")
    produce(broker, topic, [GOOD, b"{not json", GOOD])
    out = tmp_path / "out.txt"
    config = {
        "connector.class": "FileStreamSink",
        "file": str(out),
        "topics": topic,
        "errors.tolerance": "all",
        "errors.log.enable": "true",
        "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
    }
    r = httpx.post(f"{worker.url}/connectors", json={"name": "dlq-sink", "config": config})
    assert r.status_code == 201
    wait_until(lambda: out.exists() and out.read_text().splitlines() == ["ok", "ok"])
    [dead] = consume_all(broker, dlq, 1)
    assert dead.value() == b"{not json" and dead.key() == b"k"
    headers = dict(dead.headers())
    assert headers["__connect.errors.topic"] == topic.encode()
    assert headers["__connect.errors.partition"] == b"0"
    assert headers["__connect.errors.offset"] == b"1"
    assert headers["__connect.errors.connector.name"] == b"dlq-sink"
    assert headers["__connect.errors.task.id"] == b"0"
    assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
    assert headers["__connect.errors.class.name"] == b"JsonConverter"
    assert b"DataException" in headers["__connect.errors.exception.class.name"]
    assert b"serialization error" in headers["__connect.errors.exception.message"]
    assert headers["__connect.errors.exception.stacktrace"]
    status = httpx.get(f"{worker.url}/connectors/dlq-sink/status").json()
    assert status["tasks"][0]["state"] == "RUNNING"
    httpx.delete(f"{worker.url}/connectors/dlq-sink")


def test_malformed_record_fails_task_without_tolerance(
    worker: ConnectStandalone, broker: RunningBroker, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = make_topic()
    produce(broker, topic, [b"{not json"])
    httpx.post(
        f"{worker.url}/connectors",
        json={
            "name": "strict-sink",
            "config": {
                "connector.class": "FileStreamSink",
                "file": str(tmp_path / "o"),
                "topics": topic,
            },
        },
    )
    task = wait_until(
        lambda: (
            (s := httpx.get(f"{worker.url}/connectors/strict-sink/tasks/0/status").json()).get(
                "state"
            )
            == "FAILED"
            and s
        )
    )
    assert "Tolerance exceeded in error handler" in task["trace"]
    httpx.delete(f"{worker.url}/connectors/strict-sink")


def test_source_transforms_with_predicate_and_json_envelope(
    worker: ConnectStandalone, broker: RunningBroker, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = make_topic()
    routed = f"{topic}-routed"
    source = tmp_path / "in.txt"
    source.write_text("keep-1\ndrop-2\nkeep-3\n")
    config = {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "file": str(source),
        "topic": topic,
        "transforms": "hoist,route,skip",
        "transforms.hoist.type": "org.apache.kafka.connect.transforms.HoistField$Value",
        "transforms.hoist.field": "line",
        "transforms.route.type": "RegexRouter",
        "transforms.route.regex": "(.*)",
        "transforms.route.replacement": "$1-routed",
        "transforms.skip.type": "Filter",
        "transforms.skip.predicate": "noisy",
        "predicates": "noisy",
        "predicates.noisy.type": "HasHeaderKey",
        "predicates.noisy.name": "never-set",
    }
    assert (
        httpx.post(
            f"{worker.url}/connectors", json={"name": "smt-src", "config": config}
        ).status_code
        == 201
    )
    msgs = consume_all(broker, routed, 3)
    values = [json.loads(m.value()) for m in msgs]
    assert [v["payload"]["line"] for v in values] == ["keep-1", "drop-2", "keep-3"]
    assert msgs[0].value() == (
        b'{"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"line"}],'
        b'"optional":false},"payload":{"line":"keep-1"}}'
    )
    assert httpx.get(f"{worker.url}/connectors/smt-src/topics").json() == {
        "smt-src": {"topics": [routed]}
    }
    httpx.delete(f"{worker.url}/connectors/smt-src")


def test_datagen_is_deterministic_with_a_seed(
    worker: ConnectStandalone, broker: RunningBroker, make_topic: Callable[..., str]
) -> None:
    topics = [make_topic(prefix="orders"), make_topic(prefix="orders")]
    for i, topic in enumerate(topics):
        config = {
            "connector.class": "DatagenConnector",
            "kafka.topic": topic,
            "quickstart": "orders",
            "random.seed": "42",
            "iterations": "20",
            "max.interval": "0",
        }
        assert (
            httpx.post(
                f"{worker.url}/connectors", json={"name": f"datagen-{i}", "config": config}
            ).status_code
            == 201
        )
    runs = [[(m.key(), m.value()) for m in consume_all(broker, t, 20)] for t in topics]
    assert len(runs[0]) == 20 and runs[0] == runs[1]
    first = json.loads(runs[0][0][1])
    assert first["schema"]["name"] == "ksql.orders" and first["payload"]["orderid"] == 0
    assert [json.loads(v)["payload"]["orderid"] for _, v in runs[0]] == list(range(20))
    for i in range(2):
        httpx.delete(f"{worker.url}/connectors/datagen-{i}")


def test_source_topic_creation_kip158(
    worker: ConnectStandalone, broker: RunningBroker, tmp_path: Path
) -> None:
    from confluent_kafka.admin import AdminClient, ConfigResource

    topic = f"created-{time.monotonic_ns()}"
    source = tmp_path / "in.txt"
    source.write_text("one\ntwo\n")
    config = {
        "connector.class": "FileStreamSource",
        "file": str(source),
        "topic": topic,
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "3",
        "topic.creation.default.retention.ms": "86400000",
    }
    assert (
        httpx.post(
            f"{worker.url}/connectors", json={"name": "creator", "config": config}
        ).status_code
        == 201
    )
    assert len(consume_all(broker, topic, 2)) == 2
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 3
    described = admin.describe_configs([ConfigResource("TOPIC", topic)])
    configs = next(iter(described.values())).result(10)
    assert configs["retention.ms"].value == "86400000"
    httpx.delete(f"{worker.url}/connectors/creator")
