"""Auto-restart of FAILED tasks (riverlog's extension) and a worker whose Kafka is away at start."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from riverlog.connect.api import SourceConnector, SourceRecord, SourceTask, Task
from riverlog.connect.standalone import ConnectStandalone
from riverlog.testing import waiting
from riverlog.testing.broker import RunningBroker

ATTEMPTS: list[int] = []


class FlakyConnector(SourceConnector):
    def start(self, props: dict[str, str]) -> None:
        pass

    def task_class(self) -> type[Task]:
        return FlakyTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{}]


class FlakyTask(SourceTask):
    """Fails on its first two starts, then runs."""

    def start(self, props: dict[str, str]) -> None:
        ATTEMPTS.append(1)
        if len(ATTEMPTS) <= 2:
            raise RuntimeError(f"flaky start #{len(ATTEMPTS)}")

    def poll(self) -> list[SourceRecord] | None:
        time.sleep(0.1)
        return None


def wait_until(check: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    return waiting.wait_until(check, timeout_s, ignore=(httpx.HTTPError,))


def props(bootstrap: str, tmp: Path, **extra: str) -> dict[str, str]:
    return {
        "bootstrap.servers": bootstrap,
        "key.converter": "StringConverter",
        "value.converter": "StringConverter",
        "offset.storage.file.filename": str(tmp / "offsets"),
        "listeners": "http://127.0.0.1:0",
        **extra,
    }


def test_failed_task_is_restarted_automatically(broker: RunningBroker, tmp_path: Path) -> None:
    worker_props = props(
        broker.bootstrap_servers,
        tmp_path,
        **{
            "auto.restart.enabled": "true",
            "auto.restart.backoff.ms": "100",
            "auto.restart.max.attempts": "3",
        },
    )
    with ConnectStandalone(worker_props) as worker:
        httpx.post(
            f"{worker.url}/connectors",
            json={"name": "flaky", "config": {"connector.class": f"{__name__}.FlakyConnector"}},
        )
        task = wait_until(
            lambda: (
                (s := httpx.get(f"{worker.url}/connectors/flaky/tasks/0/status").json()).get(
                    "state"
                )
                == "RUNNING"
                and s
            )
        )
        assert task["restart_attempts"] == 2
        assert len(ATTEMPTS) == 3


def test_worker_reports_unreachable_kafka_and_recovers(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ConnectStandalone(props(f"127.0.0.1:{port}", tmp_path)) as worker:
        info = httpx.get(f"{worker.url}/").json()
        assert info["kafka_cluster_id"] is None
        with RunningBroker(tmp_path / "late", listeners=f"PLAINTEXT://127.0.0.1:{port}"):
            recovered = wait_until(
                lambda: (i := httpx.get(f"{worker.url}/").json())["kafka_cluster_id"] and i,
                timeout_s=60,
            )
            assert recovered["kafka_cluster_id"]


def test_distributed_worker_waits_for_kafka(tmp_path: Path) -> None:
    from riverlog.connect.distributed import ConnectDistributed

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    worker_props = {
        "bootstrap.servers": f"127.0.0.1:{port}",
        "group.id": "late-cluster",
        "key.converter": "StringConverter",
        "value.converter": "StringConverter",
        "config.storage.topic": "late-configs",
        "offset.storage.topic": "late-offsets",
        "status.storage.topic": "late-status",
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
        "offset.storage.partitions": "2",
        "status.storage.partitions": "2",
        "listeners": "http://127.0.0.1:0",
        "session.timeout.ms": "6000",
        "heartbeat.interval.ms": "1000",
    }
    worker = ConnectDistributed(worker_props).start()
    try:
        assert httpx.get(f"{worker.url}/").json()["kafka_cluster_id"] is None
        assert (
            httpx.get(f"{worker.url}/connectors").status_code == 409
        )  # not ready while Kafka is away
        with RunningBroker(tmp_path / "late", listeners=f"PLAINTEXT://127.0.0.1:{port}"):
            wait_until(
                lambda: httpx.get(f"{worker.url}/connectors").status_code == 200, timeout_s=60
            )
            assert httpx.get(f"{worker.url}/").json()["kafka_cluster_id"]
    finally:
        worker.stop()
