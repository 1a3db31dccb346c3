"""Integration fixtures: real in-process brokers on free ports, real clients, unique topics."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from riverlog.registry.server import RegistryServer
from riverlog.testing.broker import RunningBroker


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    """One broker per test module (starting one takes well under a second; sharing keeps CI short)."""
    with RunningBroker(tmp_path_factory.mktemp("broker")) as running:
        yield running


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[RunningBroker]:
    """A broker of the test's own, for tests that restart or break it."""
    with RunningBroker(tmp_path / "data") as running:
        yield running


@pytest.fixture
def make_topic(broker: RunningBroker) -> Callable[..., str]:
    """Create a uniquely named topic with confluent-kafka's AdminClient; returns its name."""

    def create(partitions: int = 1, config: dict[str, str] | None = None, prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]
        )
        futures[name].result(timeout=10)
        return name

    return create


# schema registries: in-process, on free ports, each module with its own `_schemas` topic and group
def registry_props(broker: RunningBroker, topic: str, **extra: str) -> dict[str, str]:
    return {
        "listeners": "http://127.0.0.1:0",
        "host.name": "127.0.0.1",
        "kafkastore.bootstrap.servers": broker.bootstrap_servers,
        "kafkastore.topic": topic,
        "schema.registry.group.id": f"{topic}-group",
        # Confluent's 500 ms default is tight on a loaded CI machine: no test is about it.
        "kafkastore.timeout.ms": "10000",
        **extra,
    }


@pytest.fixture(scope="module")
def schemas_topic() -> str:
    return f"_schemas-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def start_registry(
    broker: RunningBroker, schemas_topic: str
) -> Iterator[Callable[..., RegistryServer]]:
    """Start registry instances on the module's topic; all are stopped at the end of the module."""
    started: list[RegistryServer] = []

    def start(**extra: str) -> RegistryServer:
        server = RegistryServer(registry_props(broker, schemas_topic, **extra)).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture(scope="module")
def registry(start_registry: Callable[..., RegistryServer]) -> RegistryServer:
    return start_registry()
