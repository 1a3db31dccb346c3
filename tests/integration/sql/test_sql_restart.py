"""A `riverlog sql server` process killed with SIGKILL while persistent queries run comes back, by
replaying the command topic, with the same queries and ids, and its tables' final values are exact."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer

from riverlog.testing.broker import RunningBroker

SRC = Path(__file__).resolve().parents[3] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(self, broker: RunningBroker, state_dir: Path, service_id: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "riverlog",
                "sql",
                "server",
                "--set",
                f"listeners={self.url}",
                "--set",
                f"bootstrap.servers={broker.bootstrap_servers}",
                "--set",
                f"ksql.streams.state.dir={state_dir}",
                "--set",
                f"ksql.service.id={service_id}",
                "--set",
                "ksql.streams.auto.offset.reset=earliest",
                "--set",
                "ksql.streams.commit.interval.ms=200",
                # exactly once: what the table topic shows is committed, so a kill cannot double count
                "--set",
                "ksql.streams.processing.guarantee=exactly_once_v2",
                # the killed server's group member holds its partitions until its session expires
                "--set",
                "ksql.streams.consumer.session.timeout.ms=6000",
                "--log-level",
                "WARNING",
            ],
            env={**os.environ, "PYTHONPATH": str(SRC)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on" in line, line

    def ksql(self, text: str) -> Any:
        r = httpx.post(f"{self.url}/ksql", json={"ksql": text}, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def servers(fresh_broker: RunningBroker) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for s in started:
        s.stop()


def wait_for_table(
    broker: RunningBroker, topic: str, expected: dict[str, Any], timeout_s: float = 90
) -> dict[str, Any]:
    """Read the topic until the last value per key equals `expected` (or time runs out)."""
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([topic])
    out: dict[str, Any] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while out != expected and time.monotonic() < deadline:
            m = c.poll(0.3)
            if m is None or m.error() is not None:
                continue
            out[m.key().decode()] = None if m.value() is None else json.loads(m.value())
    finally:
        c.close()
    return out


def produce(broker: RunningBroker, topic: str, rows: list[tuple[str, str]]) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i, (key, page) in enumerate(rows):
        p.produce(
            topic, key=key.encode(), value=json.dumps({"PAGE": page}).encode(), timestamp=1000 + i
        )
    p.flush(10)


def test_sigkill_restart_keeps_queries_ids_and_final_values(
    fresh_broker: RunningBroker, servers: list[ServerProcess], tmp_path: Path
) -> None:
    service = f"restart_{uuid.uuid4().hex[:6]}_"
    first = ServerProcess(fresh_broker, tmp_path / "state", service)
    servers.append(first)
    first.ksql(
        "CREATE STREAM VIEWS (USERID STRING KEY, PAGE STRING) WITH (kafka_topic='views', value_format='JSON', partitions=2);"
    )
    first.ksql("CREATE TABLE PAGE_COUNTS AS SELECT PAGE, COUNT(*) AS N FROM VIEWS GROUP BY PAGE;")
    first.ksql("CREATE STREAM HOME AS SELECT USERID, PAGE FROM VIEWS WHERE PAGE = 'home';")
    before = sorted(q["id"] for q in first.ksql("SHOW QUERIES;")[0]["queries"])
    assert before == ["CSAS_HOME_2", "CTAS_PAGE_COUNTS_1"]
    produce(fresh_broker, "views", [(f"u{i}", "home" if i % 3 else "cart") for i in range(30)])
    expected = {"home": {"N": 20}, "cart": {"N": 10}}
    assert wait_for_table(fresh_broker, "PAGE_COUNTS", expected) == expected
    first.kill()

    second = ServerProcess(fresh_broker, tmp_path / "state", service)
    servers.append(second)
    after = sorted(q["id"] for q in second.ksql("SHOW QUERIES;")[0]["queries"])
    assert after == before
    assert {s["name"] for s in second.ksql("SHOW TABLES;")[0]["tables"]} == {"PAGE_COUNTS"}
    produce(fresh_broker, "views", [(f"v{i}", "home" if i % 2 else "cart") for i in range(10)])
    expected = {"home": {"N": 25}, "cart": {"N": 15}}
    assert wait_for_table(fresh_broker, "PAGE_COUNTS", expected) == expected
    # a new statement continues the numbering
    created = second.ksql(
        "CREATE STREAM CART AS SELECT USERID, PAGE FROM VIEWS WHERE PAGE = 'cart';"
    )
    assert created[0]["commandStatus"]["queryId"] == "CSAS_CART_3"
