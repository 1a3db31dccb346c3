"""Distributed mode: three `riverlog connect distributed` worker processes form a group (protocol type
`connect`) on a real broker; a connector created through a follower is forwarded to the leader; configs,
status and offsets land in their topics in Kafka Connect's formats; SIGKILLing the worker that runs the
task moves it to another worker and no source record is lost (at-least-once)."""

from __future__ import annotations

import json
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

SRC = str(Path(__file__).resolve().parents[3] / "src")


def wait_until(check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    return waiting.wait_until(check, timeout_s, ignore=(httpx.HTTPError,))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Worker:
    def __init__(
        self, broker: RunningBroker, tmp: Path, index: int, extra: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.worker_id = f"127.0.0.1:{self.port}"
        props = {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": "connect-cluster",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "config.storage.topic": "connect-configs",
            "offset.storage.topic": "connect-offsets",
            "status.storage.topic": "connect-status",
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
            "offset.storage.partitions": "5",
            "status.storage.partitions": "3",
            "listeners": self.url,
            "rest.advertised.host.name": "127.0.0.1",
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "1000",
            "offset.flush.interval.ms": "300",
            **(extra or {}),
        }
        self.props = props
        cfg = tmp / f"worker{index}.properties"
        cfg.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        self.log = open(tmp / f"worker{index}.log", "w")  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": SRC}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "riverlog",
                "connect",
                "distributed",
                str(cfg),
                "--log-level",
                "INFO",
            ],
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


@pytest.fixture(params=["sessioned", "eager"])
def workers(
    broker: RunningBroker, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[list[Worker]]:
    """Three workers; `sessioned` (Kafka's default) runs the incremental cooperative protocol, with a
    short scheduled.rebalance.max.delay.ms so a dead worker's tasks move after 2 s."""
    protocol = request.param
    extra = {
        "connect.protocol": protocol,
        "scheduled.rebalance.max.delay.ms": "2000",
        "group.id": f"connect-{protocol}",
        "config.storage.topic": f"{protocol}-configs",
        "offset.storage.topic": f"{protocol}-offsets",
        "status.storage.topic": f"{protocol}-status",
    }
    started = [Worker(broker, tmp_path, i, extra) for i in range(3)]
    try:
        for w in started:
            wait_until(lambda w=w: httpx.get(f"{w.url}/").status_code == 200)
        yield started
    finally:
        for w in started:
            w.stop()


def read_topic(broker: RunningBroker, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"read-{topic}-{time.monotonic()}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    out: list[tuple[bytes | None, bytes | None]] = []
    eofs = 0
    deadline = time.monotonic() + 20
    parts = None
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error() is not None:
            eofs += 1
            parts = parts or len(consumer.assignment())
            if parts and eofs >= parts:
                break
            continue
        out.append((msg.key(), msg.value()))
    consumer.close()
    return out


def test_three_workers_failover_without_loss(
    workers: list[Worker], broker: RunningBroker, tmp_path: Path, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    source = tmp_path / "in.txt"
    source.write_text("".join(f"line-{i}\n" for i in range(200)))
    # Created through the third worker: forwarded to the leader when that worker is a follower.
    config = {
        "connector.class": "FileStreamSource",
        "file": str(source),
        "topic": topic,
        "batch.size": "50",
    }
    r = wait_until(
        lambda: (
            (
                resp := httpx.post(
                    f"{workers[2].url}/connectors",
                    json={"name": "dist-src", "config": config},
                    timeout=30,
                )
            ).status_code
            != 409
            and resp
        )
    )
    assert r.status_code == 201, r.text
    wait_until(
        lambda: all(httpx.get(f"{w.url}/connectors").json() == ["dist-src"] for w in workers)
    )
    status = wait_until(
        lambda: (
            (s := httpx.get(f"{workers[0].url}/connectors/dist-src/status").json()).get("tasks")
            and s["tasks"][0]["state"] == "RUNNING"
            and s
        )
    )
    owner_id = status["tasks"][0]["worker_id"]
    owner = next(w for w in workers if w.worker_id == owner_id)
    wait_until(lambda: len({v for _, v in read_topic(broker, topic)}) == 200)

    # Kafka Connect's record formats in the internal topics
    prefix = workers[0].props["config.storage.topic"].split("-")[0]
    configs = dict(read_topic(broker, f"{prefix}-configs"))
    assert json.loads(configs[b"connector-dist-src"]) == {
        "properties": {**config, "name": "dist-src"}
    }
    assert json.loads(configs[b"commit-dist-src"]) == {"tasks": 1}
    assert json.loads(configs[b"task-dist-src-0"])["properties"]["task.class"].endswith(
        "FileStreamSourceTask"
    )
    statuses = dict(read_topic(broker, f"{prefix}-status"))
    assert json.loads(statuses[b"status-task-dist-src-0"])["state"] == "RUNNING"
    assert set(json.loads(statuses[b"status-connector-dist-src"])) == {
        "state",
        "trace",
        "worker_id",
        "generation",
    }
    offset_key = f'["dist-src",{{"filename":"{source}"}}]'.encode()
    offset_value = b'{"position":' + str(source.stat().st_size).encode() + b"}"
    wait_until(lambda: (offset_key, offset_value) in read_topic(broker, f"{prefix}-offsets"))

    # SIGKILL the worker running the task while lines keep arriving; the task moves to a survivor.
    with source.open("a") as fh:
        fh.write("".join(f"line-{i}\n" for i in range(200, 400)))
    owner.proc.send_signal(signal.SIGKILL)
    owner.proc.wait()
    with source.open("a") as fh:
        fh.write("".join(f"line-{i}\n" for i in range(400, 600)))
    survivors = [w for w in workers if w is not owner]
    moved = wait_until(
        lambda: (
            (s := httpx.get(f"{survivors[0].url}/connectors/dist-src/status").json()).get("tasks")
            and s["tasks"][0]["state"] == "RUNNING"
            and s["tasks"][0]["worker_id"] != owner_id
            and s
        ),
        timeout_s=90,
    )
    assert moved["tasks"][0]["worker_id"] in {w.worker_id for w in survivors}
    wait_until(
        lambda: (
            {v for _, v in read_topic(broker, topic)} >= {f"line-{i}".encode() for i in range(600)}
        ),
        timeout_s=60,
    )

    # pause / resume / stop through a follower or the leader, states as Kafka reports them
    def task_state() -> str:
        return str(
            httpx.get(f"{survivors[0].url}/connectors/dist-src/status").json()["tasks"][0]["state"]
        )

    def put_accepted(url: str) -> None:
        # 409 is Kafka's answer while the group rebalances: a client retries it
        def answered() -> int | None:
            code = httpx.put(url, timeout=30).status_code
            return None if code == 409 else code

        assert wait_until(answered) == 202

    put_accepted(f"{survivors[1].url}/connectors/dist-src/pause")
    wait_until(lambda: task_state() == "PAUSED")
    put_accepted(f"{survivors[0].url}/connectors/dist-src/resume")
    wait_until(lambda: task_state() == "RUNNING")
    put_accepted(f"{survivors[1].url}/connectors/dist-src/stop")
    wait_until(
        lambda: (
            httpx.get(f"{survivors[0].url}/connectors/dist-src/status").json()["connector"]["state"]
            == "STOPPED"
        )
    )
    wait_until(lambda: httpx.get(f"{survivors[1].url}/connectors/dist-src/tasks").json() == [])
    offsets = httpx.get(f"{survivors[0].url}/connectors/dist-src/offsets").json()["offsets"]
    assert offsets[0]["partition"] == {"filename": str(source)}

    # the survivors still answer for the connector and can delete it (through the leader)
    r = wait_until(
        lambda: (
            (
                resp := httpx.delete(f"{survivors[1].url}/connectors/dist-src", timeout=30)
            ).status_code
            != 409
            and resp
        )
    )
    assert r.status_code == 204
    wait_until(lambda: all(httpx.get(f"{w.url}/connectors").json() == [] for w in survivors))


@pytest.fixture
def eos_workers(broker: RunningBroker, tmp_path: Path) -> Iterator[list[Worker]]:
    suffix = uuid.uuid4().hex[:6]  # a cluster of its own per test
    extra = {
        "exactly.once.source.support": "enabled",
        "scheduled.rebalance.max.delay.ms": "2000",
        "group.id": f"connect-eos-{suffix}",
        "config.storage.topic": f"eos-configs-{suffix}",
        "offset.storage.topic": f"eos-offsets-{suffix}",
        "status.storage.topic": f"eos-status-{suffix}",
    }
    started = [Worker(broker, tmp_path, i, extra) for i in range(3)]
    try:
        for w in started:
            wait_until(lambda w=w: httpx.get(f"{w.url}/").status_code == 200)
        yield started
    finally:
        for w in started:
            w.stop()


@pytest.mark.parametrize("boundary", ["poll", "interval"])
def test_exactly_once_source_survives_sigkill_without_duplicates(
    eos_workers: list[Worker],
    broker: RunningBroker,
    tmp_path: Path,
    make_topic: Callable[..., str],
    boundary: str,
) -> None:
    workers = eos_workers
    topic = make_topic()
    source = tmp_path / "in.txt"
    source.write_text("".join(f"line-{i}\n" for i in range(300)))
    config = {
        "connector.class": "FileStreamSource",
        "file": str(source),
        "topic": topic,
        "batch.size": "20",
        # interval: one transaction spans the polls of 300 ms (KIP-618); poll: one per poll
        "transaction.boundary": boundary,
        "transaction.boundary.interval.ms": "300",
    }
    r = wait_until(
        lambda: (
            (
                resp := httpx.post(
                    f"{workers[0].url}/connectors",
                    json={"name": "eos-src", "config": config},
                    timeout=30,
                )
            ).status_code
            != 409
            and resp
        )
    )
    assert r.status_code == 201, r.text
    status = wait_until(
        lambda: (
            (s := httpx.get(f"{workers[1].url}/connectors/eos-src/status").json()).get("tasks")
            and s["tasks"][0]["state"] == "RUNNING"
            and s
        )
    )
    owner_id = status["tasks"][0]["worker_id"]
    owner = next(w for w in workers if w.worker_id == owner_id)
    wait_until(lambda: len(read_topic(broker, topic)) >= 100)
    owner.proc.send_signal(signal.SIGKILL)  # possibly in the middle of a transaction
    owner.proc.wait()
    with source.open("a") as fh:
        fh.write("".join(f"line-{i}\n" for i in range(300, 500)))
    survivors = [w for w in workers if w is not owner]
    wait_until(
        lambda: (
            (s := httpx.get(f"{survivors[0].url}/connectors/eos-src/status").json()).get("tasks")
            and s["tasks"][0]["state"] == "RUNNING"
            and s["tasks"][0]["worker_id"] != owner_id
        ),
        timeout_s=90,
    )
    wait_until(lambda: len(read_topic(broker, topic)) >= 500, timeout_s=60)
    time.sleep(1.0)  # a duplicate, if any, would show up now
    values = [v for _, v in read_topic(broker, topic)]
    assert values == [f"line-{i}".encode() for i in range(500)]  # each exactly once, in order
    # the records went out in transactions: commit markers take offsets beyond the 500 records
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    end = (
        admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.latest()})[
            TopicPartition(topic, 0)
        ]
        .result(10)
        .offset
    )
    assert end > 500


def test_joining_worker_receives_running_tasks(
    broker: RunningBroker, tmp_path: Path, make_topic: Callable[..., str]
) -> None:
    """Incremental cooperative load balancing: two workers run four datagen tasks; a third joins and
    some of the running tasks move to it (revoked in one round, assigned in the next)."""
    suffix = uuid.uuid4().hex[:6]
    extra = {
        # short: a flake seen once (a follower's just-started connector reported lost by the leader,
        # held for the delay) then resolves in seconds; not what this test is about
        "scheduled.rebalance.max.delay.ms": "2000",
        "group.id": f"connect-balance-{suffix}",
        "config.storage.topic": f"balance-configs-{suffix}",
        "offset.storage.topic": f"balance-offsets-{suffix}",
        "status.storage.topic": f"balance-status-{suffix}",
    }
    started = [Worker(broker, tmp_path, i, extra) for i in range(2)]
    try:
        for w in started:
            wait_until(lambda w=w: httpx.get(f"{w.url}/").status_code == 200)
        config = {
            "connector.class": "DatagenConnector",
            "kafka.topic": make_topic(),
            "quickstart": "users",
            "max.interval": "200",
            "tasks.max": "4",
        }
        wait_until(
            lambda: (
                httpx.post(
                    f"{started[0].url}/connectors",
                    json={"name": "balance", "config": config},
                    timeout=30,
                ).status_code
                == 201
            )
        )

        def running_on() -> list[str] | None:
            status = httpx.get(f"{started[0].url}/connectors/balance/status").json()
            tasks = status.get("tasks", [])
            if len(tasks) == 4 and all(t["state"] == "RUNNING" for t in tasks):
                return [t["worker_id"] for t in tasks]
            return None

        before = wait_until(running_on, timeout_s=60)
        assert set(before) <= {w.worker_id for w in started}
        joiner = Worker(broker, tmp_path, 2, extra)
        started.append(joiner)
        after = wait_until(
            lambda: (ids := running_on()) is not None and joiner.worker_id in ids and ids,
            timeout_s=60,
        )
        assert sorted(after.count(w.worker_id) for w in started) == [1, 1, 2]
    finally:
        for w in started:
            w.stop()
