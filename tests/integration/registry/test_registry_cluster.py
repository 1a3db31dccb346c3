"""Several registry instances on one topic: one leader elected through the group, followers forwarding
writes, a second instance and a restarted one serving every id, and `riverlog registry start` as a
process. Clients are confluent-kafka's SchemaRegistryClient only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from riverlog.registry.server import RegistryServer
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

SRC = Path(__file__).resolve().parents[3] / "src"


def record(n: int) -> Schema:
    """Distinct schemas that evolve compatibly: record R with fields f0..fn (later ones defaulted)."""
    fields = [{"name": "f0", "type": "int"}] + [
        {"name": f"f{i}", "type": "int", "default": i} for i in range(1, n + 1)
    ]
    return Schema(json.dumps({"type": "record", "name": "R", "fields": fields}), "AVRO")


def wait_for_one_leader(servers: list[RegistryServer], timeout_s: float = 30) -> RegistryServer:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        leaders = [s for s in servers if s.elector is not None and s.elector.is_leader]
        if len(leaders) == 1:
            return leaders[0]
        time.sleep(0.1)
    raise AssertionError("no single leader was elected")


def serves_everything(server: RegistryServer, expected: dict[int, str]) -> None:
    client = SchemaRegistryClient({"url": server.url})
    for schema_id, text in expected.items():
        assert json.loads(client.get_schema(schema_id).schema_str) == json.loads(text)


def test_leader_follower_forwarding_failover_and_restart(
    start_registry: Callable[..., RegistryServer],
) -> None:
    first = start_registry()
    second = start_registry()
    leader = wait_for_one_leader([first, second])
    follower = second if leader is first else first
    registered: dict[int, str] = {}
    # A write through the follower is forwarded to the leader; both serve the id.
    for n, server in enumerate([follower, leader, follower]):
        schema = record(n)
        schema_id = SchemaRegistryClient({"url": server.url}).register_schema(
            "orders-value", schema
        )
        registered[schema_id] = schema.schema_str
    assert sorted(registered) == [1, 2, 3]
    serves_everything(follower, registered)
    serves_everything(leader, registered)

    # The leader goes away: the follower takes over and allocates ids after the existing ones.
    leader.stop()
    assert wait_for_one_leader([follower]) is follower
    schema = record(3)
    new_id = SchemaRegistryClient({"url": follower.url}).register_schema("orders-value", schema)
    assert new_id == 4
    registered[new_id] = schema.schema_str

    # A restarted instance replays the topic and serves every id and version.
    restarted = start_registry()
    serves_everything(restarted, registered)
    assert SchemaRegistryClient({"url": restarted.url}).get_versions("orders-value") == [1, 2, 3, 4]
    # A non-eligible instance never leads but forwards to whoever does.
    observer = start_registry(**{"leader.eligibility": "false"})
    observer_id = SchemaRegistryClient({"url": observer.url}).register_schema(
        "orders-value", record(4)
    )
    assert observer_id == 5
    assert observer.elector is not None and not observer.elector.is_leader


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def registry_process(broker: RunningBroker, schemas_topic: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "schema-registry.properties"
    config.write_text(
        f"listeners=http://127.0.0.1:{port}\n"
        f"kafkastore.bootstrap.servers={broker.bootstrap_servers}\n"
        f"kafkastore.topic={schemas_topic}\n"
        "host.name=127.0.0.1\n"
        "kafkastore.timeout.ms=10000\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "riverlog",
            "registry",
            "start",
            "--config",
            str(config),
            "--set",
            f"schema.registry.group.id={schemas_topic}-group",
            "--log-level",
            "WARNING",
        ],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_registry_start_process_serves_the_same_ids(
    start_registry: Callable[..., RegistryServer], registry_process: str
) -> None:
    in_process = start_registry()
    schema = Schema(json.dumps({"type": "enum", "name": "Color", "symbols": ["RED"]}), "AVRO")
    schema_id = SchemaRegistryClient({"url": in_process.url}).register_schema("colors", schema)
    client = SchemaRegistryClient({"url": registry_process})
    deadline = time.monotonic() + 10
    while "colors" not in client.get_subjects() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert json.loads(client.get_schema(schema_id).schema_str)["name"] == "Color"
    # A write through the process lands in the shared topic whoever leads.
    grown = Schema(
        json.dumps({"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}), "AVRO"
    )
    client.set_compatibility("colors", "BACKWARD")  # a symbol added: old data still reads
    grown_id = client.register_schema("colors", grown)
    assert grown_id > schema_id
    assert (
        SchemaRegistryClient({"url": in_process.url}).get_version("colors", 2).schema_id == grown_id
    )


def test_bad_config_fails_naming_the_key(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "riverlog", "registry", "start", "--set", "kafkastore.topik=x"],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "kafkastore.topik" in result.stderr
    assert "Traceback" not in result.stderr
