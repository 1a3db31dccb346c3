"""Cluster fixtures: one real ZooKeeper per test module, a fresh three-broker cluster per test.

Each cluster lives under its own ZooKeeper chroot, so the clusters of one module never see each
other's brokers, controller or topics. When a test fails, the tail of every broker's log is printed
in the teardown output.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from riverlog.testing.cluster import LocalCluster
from riverlog.testing.netns import Network, available
from riverlog.testing.processes import log_tail
from riverlog.testing.zookeeper import ZooKeeperServer

# Short timeouts so that failures are detected in seconds (Kafka's defaults are 30 s and 18 s).
CLUSTER_SETTINGS = {
    "replica.lag.time.max.ms": "3000",
    "zookeeper.session.timeout.ms": "6000",
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "group.initial.rebalance.delay.ms": "0",
}


@pytest.fixture(scope="module")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperServer]:
    """One ZooKeeper for the module (a JVM start costs about half a second of both cores)."""
    with ZooKeeperServer(tmp_path_factory.mktemp("zookeeper")) as server:
        yield server


@pytest.fixture
def cluster3(
    zookeeper: ZooKeeperServer, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[LocalCluster]:
    """Three brokers (ids 1, 2, 3) in a fresh chroot, for tests that break them; killed afterwards."""
    failures_before = request.session.testsfailed
    with LocalCluster(zookeeper, tmp_path / "cluster", size=3, config=CLUSTER_SETTINGS) as cluster:
        yield cluster
        cluster.kill()
        maybe_print_logs(request, cluster, failures_before)


@pytest.fixture(scope="module")
def shared_cluster3(
    zookeeper: ZooKeeperServer,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[LocalCluster]:
    """Three brokers shared by a module's tests that leave them running (each uses its own topics)."""
    failures_before = request.session.testsfailed
    base = tmp_path_factory.mktemp("shared-cluster")
    with LocalCluster(zookeeper, base, size=3, config=CLUSTER_SETTINGS) as cluster:
        yield cluster
        cluster.kill()
        maybe_print_logs(request, cluster, failures_before)


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    """A bridge for brokers in network namespaces (needs root and iproute2)."""
    reason = available()
    if reason is not None:
        pytest.skip(reason)
    with Network() as net:
        yield net


@pytest.fixture(scope="module")
def bridged_zookeeper(
    network: Network, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ZooKeeperServer]:
    """ZooKeeper in the root namespace, listening on the bridge so namespaced brokers reach it."""
    with ZooKeeperServer(tmp_path_factory.mktemp("zookeeper"), host=network.gateway) as server:
        yield server


@pytest.fixture
def partitionable_cluster3(
    bridged_zookeeper: ZooKeeperServer,
    network: Network,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[LocalCluster]:
    """Three brokers, each in its own network namespace: `isolate(n)` / `heal(n)` partition them."""
    failures_before = request.session.testsfailed
    with LocalCluster(
        bridged_zookeeper, tmp_path / "cluster", size=3, config=CLUSTER_SETTINGS, network=network
    ) as cluster:
        yield cluster
        cluster.kill()
        maybe_print_logs(request, cluster, failures_before)


@pytest.fixture
def topic_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def maybe_print_logs(
    request: pytest.FixtureRequest, cluster: LocalCluster, failures_before: int
) -> None:
    # Shown in the teardown section of a failing test's report.
    if request.session.testsfailed == failures_before:
        return
    for broker in cluster.brokers:
        print(f"==== {broker.log_path} (tail)\n{log_tail(Path(broker.log_path), lines=40)}")


@pytest.fixture
def failover_timeout() -> float:
    """How long a leader election may take after a kill: session expiry plus a generous margin."""
    return int(CLUSTER_SETTINGS["zookeeper.session.timeout.ms"]) / 1000 + 14
