"""HTTP sink against a real HTTP server (Starlette + uvicorn): batching, headers, retries on 5xx, and
4xx-refused records to the DLQ with Kafka's context headers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riverlog.common.service import HttpService
from riverlog.connect.standalone import ConnectStandalone
from riverlog.testing.broker import RunningBroker
from riverlog.testing.waiting import wait_until


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.calls = 0

    async def endpoint(self, request: Request) -> Response:
        self.calls += 1
        body = (await request.body()).decode()
        if self.calls == 1:
            return Response("busy", status_code=503)  # retried
        if "bad" in body:
            return Response("refused", status_code=400)  # to the DLQ
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        return Response("ok")


@pytest.fixture
def server() -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder()
    app = Starlette(routes=[Route("/ingest", recorder.endpoint, methods=["POST"])])
    with HttpService(app, "127.0.0.1", 0, name="http-target") as service:
        yield recorder, f"{service.url}/ingest"


def test_http_sink_batches_retries_and_dead_letters(
    broker: RunningBroker,
    tmp_path: Path,
    make_topic: Callable[..., str],
    server: tuple[Recorder, str],
) -> None:
    recorder, url = server
    topic, dlq = make_topic(), make_topic(prefix="dlq")
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for value in ("a", "b", "bad", "c", "d"):
        producer.produce(topic, value=value.encode())
    producer.flush(10)
    worker_props = {
        "bootstrap.servers": broker.bootstrap_servers,
        "key.converter": "StringConverter",
        "value.converter": "StringConverter",
        "offset.storage.file.filename": str(tmp_path / "offsets"),
        "listeners": "http://127.0.0.1:0",
    }
    config = {
        "connector.class": "io.confluent.connect.http.HttpSinkConnector",
        "topics": topic,
        "http.api.url": url,
        "headers": "Content-Type:text/plain|X-Source:riverlog",
        "batch.max.size": "1",
        "retry.backoff.ms": "50",
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
    }
    with ConnectStandalone(worker_props) as worker:
        assert (
            httpx.post(
                f"{worker.url}/connectors", json={"name": "http", "config": config}
            ).status_code
            == 201
        )
        wait_until(lambda: recorder.bodies == ["a", "b", "c", "d"])
        assert (
            recorder.headers[0]["x-source"] == "riverlog"
            and recorder.headers[0]["content-type"] == "text/plain"
        )
        consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap_servers,
                "group.id": "dlq-check",
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([dlq])
        msg = wait_until(lambda: (m := consumer.poll(0.5)) is not None and m.error() is None and m)
        consumer.close()
        assert msg.value() == b"bad"
        headers = dict(msg.headers())
        assert headers["__connect.errors.stage"] == b"TASK_PUT"
        assert headers["__connect.errors.offset"] == b"2"
        assert b"HTTP 400" in headers["__connect.errors.exception.message"]
        assert (
            httpx.get(f"{worker.url}/connectors/http/status").json()["tasks"][0]["state"]
            == "RUNNING"
        )


def test_http_sink_batched_json_body(
    broker: RunningBroker,
    tmp_path: Path,
    make_topic: Callable[..., str],
    server: tuple[Recorder, str],
) -> None:
    recorder, url = server
    recorder.calls = 1  # no 503 this time
    topic = make_topic()
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i in range(4):
        producer.produce(topic, value=f'{{"n":{i}}}'.encode())
    producer.flush(10)
    worker_props = {
        "bootstrap.servers": broker.bootstrap_servers,
        "key.converter": "StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "offset.storage.file.filename": str(tmp_path / "offsets"),
        "listeners": "http://127.0.0.1:0",
    }
    config = {
        "connector.class": "HttpSinkConnector",
        "topics": topic,
        "http.api.url": url,
        "request.body.format": "json",
        "batch.max.size": "4",
        "batch.prefix": "[",
        "batch.suffix": "]",
        "batch.separator": ",",
    }
    with ConnectStandalone(worker_props) as worker:
        httpx.post(f"{worker.url}/connectors", json={"name": "http-json", "config": config})
        wait_until(lambda: "".join(recorder.bodies).count('{"n":') == 4)
    assert recorder.bodies[0].startswith('[{"n":0}')
