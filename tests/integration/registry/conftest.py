"""Registry fixtures: a real riverlog broker (the per-module `broker` fixture) and in-process schema
registries served by HttpService on free ports, each module with its own `_schemas` topic and group."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from riverlog.registry.server import RegistryServer
from riverlog.testing.broker import RunningBroker


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
