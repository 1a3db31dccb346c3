"""KIP-618 `transaction.boundary=connector` in distributed mode: two `riverlog connect distributed`
worker processes with `exactly.once.source.support=enabled` on a real broker run a connector whose
task commits and aborts its own transactions through the TransactionContext; a read_committed
consumer sees exactly the committed records (the aborted ones never), in transactions. A connector
that cannot define boundaries, or cannot say it supports exactly-once when that is required, is
refused with Kafka's validation messages."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer

from riverlog.testing import waiting
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
SRC = str(HERE.parents[2] / "src")
CONNECTOR = "connect_txn_plugin.TxnConnector"


def wait_until(check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    return waiting.wait_until(check, timeout_s, ignore=(httpx.HTTPError,))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WorkerProcess:
    def __init__(self, broker: RunningBroker, tmp: Path, index: int, suffix: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        props = {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"connect-txn-{suffix}",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "config.storage.topic": f"txn-configs-{suffix}",
            "offset.storage.topic": f"txn-offsets-{suffix}",
            "status.storage.topic": f"txn-status-{suffix}",
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
            "exactly.once.source.support": "enabled",
            "listeners": self.url,
            "rest.advertised.host.name": "127.0.0.1",
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "1000",
            "offset.flush.interval.ms": "300",
        }
        cfg = tmp / f"worker{index}.properties"
        cfg.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        self.log = open(tmp / f"worker{index}.log", "w")  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, str(HERE)])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "riverlog", "connect", "distributed", str(cfg)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def workers(broker: RunningBroker, tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    suffix = uuid.uuid4().hex[:6]
    started = [WorkerProcess(broker, tmp_path, i, suffix) for i in range(2)]
    try:
        for w in started:
            wait_until(lambda w=w: httpx.get(f"{w.url}/").status_code == 200)
        yield started
    finally:
        for w in started:
            w.stop()


def read_committed(broker: RunningBroker, topic: str, want: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"read-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    out: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while len(out) < want and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                out.append(msg.value())
        # anything beyond `want` would be a wrongly committed record: give it a moment to show
        quiet = time.monotonic() + 2
        while time.monotonic() < quiet:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                out.append(msg.value())
    finally:
        consumer.close()
    return out


def create(url: str, name: str, config: dict[str, str]) -> httpx.Response:
    return wait_until(  # type: ignore[no-any-return]
        lambda: (
            (
                resp := httpx.post(
                    f"{url}/connectors", json={"name": name, "config": config}, timeout=30
                )
            ).status_code
            != 409
            and resp
        )
    )


def validate(url: str, plugin: str, config: dict[str, str]) -> dict[str, Any]:
    """PUT .../config/validate, retried while the worker answers 409 (starting, rebalancing)."""
    answer = wait_until(
        lambda: (
            (
                r := httpx.put(f"{url}/connector-plugins/{plugin}/config/validate", json=config)
            ).status_code
            != 409
            and r
        )
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_connector_defined_transactions(
    workers: list[WorkerProcess], broker: RunningBroker, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    r = create(
        workers[0].url,
        "txn-src",
        {"connector.class": CONNECTOR, "topic": topic, "transaction.boundary": "connector"},
    )
    assert r.status_code == 201, r.text
    expected = [f"r-{i}".encode() for i in [*range(0, 20), *range(30, 60)]]
    values = read_committed(broker, topic, len(expected))
    assert values == expected  # r-20..r-29 aborted, everything else committed once, in order
    status = httpx.get(f"{workers[1].url}/connectors/txn-src/status").json()
    assert status["tasks"][0]["state"] == "RUNNING"
    # the offsets went with the transactions, the aborted records' too (they are not polled again)
    wait_until(
        lambda: (
            httpx.put(f"{workers[0].url}/connectors/txn-src/stop", timeout=30).status_code == 202
        )
    )
    offsets = wait_until(
        lambda: (
            (o := httpx.get(f"{workers[0].url}/connectors/txn-src/offsets")).status_code == 200
            and o.json()
        )
    )
    assert offsets == {"offsets": [{"partition": {"task": "txn"}, "offset": {"next": 60}}]}


def test_connector_that_cannot_define_boundaries_is_refused(
    workers: list[WorkerProcess], make_topic: Callable[..., str], tmp_path: Path
) -> None:
    config = {
        "connector.class": "FileStreamSource",
        "file": str(tmp_path / "in.txt"),
        "topic": make_topic(),
        "transaction.boundary": "connector",
    }
    validated = validate(workers[0].url, "FileStreamSource", config)
    boundary = next(
        c["value"] for c in validated["configs"] if c["value"]["name"] == "transaction.boundary"
    )
    assert boundary["errors"] == [
        "The connector does not support connector-defined transaction boundaries with the given "
        "configuration. Please reconfigure it to use a different transaction boundary definition."
    ]
    r = create(workers[0].url, "no-txn-src", config)
    assert r.status_code == 400 and "transaction boundaries" in r.text
    # exactly.once.support=required: the connector must say it supports exactly-once (Kafka's check)
    required = {"connector.class": CONNECTOR, "topic": "t", "exactly.once.support": "required"}
    validated = validate(workers[0].url, CONNECTOR, required)
    support = next(
        c["value"] for c in validated["configs"] if c["value"]["name"] == "exactly.once.support"
    )
    assert len(support["errors"]) == 1
    assert support["errors"][0].startswith(
        "The connector does not implement the API required for preflight validation of "
        "exactly-once source support."
    )
    file_required = {
        **config,
        "name": "eos-file",
        "transaction.boundary": "poll",
        "exactly.once.support": "required",
    }
    ok = validate(workers[0].url, "FileStreamSource", file_required)
    assert ok["error_count"] == 0, ok
