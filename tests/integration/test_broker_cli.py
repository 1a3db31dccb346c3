"""`riverlog broker start` as users run it: a subprocess, Kafka's config names, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

RIVERLOG = [sys.executable, "-m", "riverlog"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("broker did not start listening")


def _start(tmp_path: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *RIVERLOG,
            "broker",
            "start",
            "--listen",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(tmp_path / "data"),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigterm_shuts_down_cleanly_and_restart_serves_all_data(tmp_path: Path) -> None:
    port = _free_port()
    proc = _start(tmp_path, port, "--set", "num.partitions=2")
    _wait_listening(port, proc)
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{port}"})
    for i in range(1000):
        producer.produce("auto-created", key=str(i).encode(), value=b"x" * 100)
    assert producer.flush(15) == 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert "stopped cleanly" in err
    assert "Traceback" not in err

    proc = _start(tmp_path, port)
    try:
        _wait_listening(port, proc)
        consumer = Consumer(
            {
                "bootstrap.servers": f"127.0.0.1:{port}",
                "group.id": "restart",
                "enable.auto.commit": False,
            }
        )
        consumer.assign(
            [TopicPartition("auto-created", 0, 0), TopicPartition("auto-created", 1, 0)]
        )
        keys = set()
        deadline = time.monotonic() + 20
        while len(keys) < 1000 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                keys.add(int(msg.key()))
        consumer.close()
        assert keys == set(range(1000))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    err = proc.stderr.read().decode() if proc.stderr else ""
    # Clean shutdown means nothing to recover on the next start.
    assert "truncat" not in err.lower()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "log.retention.bogus=1"], "log.retention.bogus"),
        (["--set", "num.partitions=zero"], "num.partitions"),
        (["--set", "log.cleanup.policy=sometimes"], "log.cleanup.policy"),
        (["--config", "/nonexistent/server.properties"], "/nonexistent/server.properties"),
    ],
)
def test_invalid_config_fails_at_start_naming_the_key(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    done = subprocess.run(
        [
            *RIVERLOG,
            "broker",
            "start",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(tmp_path),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert needle in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_unreachable_zookeeper_fails_at_start_in_one_line(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    done = subprocess.run(
        [
            *RIVERLOG,
            "broker",
            "start",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(tmp_path),
            "--zookeeper",
            f"127.0.0.1:{port}",
            "--set",
            "zookeeper.connection.timeout.ms=500",
            "--log-level",
            "WARNING",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("riverlog: error: cannot connect to ZooKeeper at 127.0.0.1:")
    assert "zookeeper.connection.timeout.ms" in last


def test_config_from_environment_is_validated(tmp_path: Path) -> None:
    env = {**os.environ, "RIVERLOG_NUM_PARTITIONS": "-3"}
    done = subprocess.run(
        [*RIVERLOG, "broker", "start", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert done.returncode != 0
    assert "num.partitions" in done.stderr


def test_properties_file(tmp_path: Path) -> None:
    port = _free_port()
    props = tmp_path / "server.properties"
    props.write_text(
        f"# a Kafka-style file\nlisteners=PLAINTEXT://127.0.0.1:{port}\nnum.partitions=3\nlog.dirs={tmp_path / 'd'}\n"
    )
    proc = subprocess.Popen(
        [*RIVERLOG, "broker", "start", "--config", str(props)], stderr=subprocess.PIPE
    )
    try:
        _wait_listening(port, proc)
        producer = Producer({"bootstrap.servers": f"127.0.0.1:{port}"})
        producer.produce("from-file", b"v")
        assert producer.flush(10) == 0
        meta = producer.list_topics("from-file", timeout=10)
        assert len(meta.topics["from-file"].partitions) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_pytest_plugin_fixture(riverlog_broker) -> None:
    producer = Producer({"bootstrap.servers": riverlog_broker.bootstrap_servers})
    producer.produce("from-fixture", b"v")
    assert producer.flush(10) == 0
