"""The riverlog deployments that librdkafka's tests run against: one broker, or a three-broker cluster.

`SingleBroker` is one `riverlog broker start` process on a free loopback port (standard library only).
`Cluster` is Debian's ZooKeeper plus three `riverlog broker start --zookeeper ... --broker-id N`
processes (ids 1, 2, 3; `broker.rack` RACK1..RACK3, the names librdkafka's test cluster uses), started
through `riverlog.testing` (imported on first use, so single-broker runs need only the standard
library). Both take the broker settings of one librdkafka test scenario (`default`, `noautocreate`).

Files (all under the run's scratch directory `workdir`, moved to the results directory by `collect_logs`):
- `data-<scenario>-<N>/` and `broker-<scenario>-<N>.log`: the N-th start of a single broker.
- `cluster-<scenario>-<N>/broker-<id>/` and `broker-<id>.log`: the N-th start of a cluster.
- `zookeeper/`: the one ZooKeeper shared by every cluster of the run; each cluster has its own chroot.

Invariants: every start uses fresh data directories and (for a cluster) a fresh ZooKeeper chroot, so a
restart after a death never inherits the dead deployment's topics. A deployment is alive only while
every one of its broker processes (and ZooKeeper) runs.

Crash behaviour: a deployment that died is stopped whole and started afresh for the next test; the
runner records the death against the test that was running. Cluster brokers get SIGKILL when the
runner dies (riverlog.testing's die-with-parent); a single broker runs in its own session and is
stopped by the runner's `finally`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from riverlog.testing.broker_process import BrokerProcess
    from riverlog.testing.cluster import LocalCluster
    from riverlog.testing.zookeeper import ZooKeeperServer

HERE = Path(__file__).resolve().parent
RIVERLOG = HERE.parents[1] / ".venv" / "bin" / "riverlog"

# Broker settings per librdkafka test scenario (tests/scenarios/*.json).
SCENARIO_BROKER_SETTINGS = {
    "default": {"auto.create.topics.enable": "true", "num.partitions": "4"},
    "noautocreate": {"auto.create.topics.enable": "false", "num.partitions": "4"},
}

# A replicated cluster as librdkafka's test scenarios describe it (replication_factor 3), with the
# short failure-detection timeouts of tests/cluster/conftest.py (Kafka's are 30 s and 18 s).
CLUSTER_SETTINGS = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "replica.lag.time.max.ms": "3000",
    "zookeeper.session.timeout.ms": "6000",
    # Fetch from follower (KIP-392), which 0101 tests with racks RACK1..3: Kafka needs this selector.
    "replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector",
}
CLUSTER_SIZE = 3


def log_level() -> str:
    return os.environ.get("COMPAT_BROKER_LOG_LEVEL", "WARNING")


class Deployment(Protocol):
    """What the runner needs of a deployment: start it, see whether it lives, stop it."""

    scenario: str

    @property
    def bootstrap(self) -> str: ...

    def alive(self) -> bool: ...

    def death(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def collect_logs(self, results: Path) -> None: ...


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SingleBroker:
    """A riverlog broker subprocess for one scenario, on a free port, data in a fresh directory."""

    def __init__(
        self, scenario: str, workdir: Path, settings: dict[str, str] | None = None
    ) -> None:
        self.scenario = scenario
        self.workdir = workdir
        # The broker settings: the scenario's, or (for the Python clients' suites) given.
        self.settings = SCENARIO_BROKER_SETTINGS[scenario] if settings is None else settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: BinaryIO | None = None
        self.port = 0
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def death(self) -> str:
        code = self.proc.poll() if self.proc is not None else None
        return f"broker exited with code {code}" if code is not None else ""

    def start(self) -> None:
        self.starts += 1
        self.port = free_port()
        data = self.workdir / f"data-{self.scenario}-{self.starts}"
        log = self.log = (self.workdir / f"broker-{self.scenario}-{self.starts}.log").open("wb")
        cmd = [str(RIVERLOG), "broker", "start", "--listen", self.bootstrap]
        cmd += ["--data-dir", str(data)]
        for key, value in self.settings.items():
            cmd += ["--set", f"{key}={value.replace('{port}', str(self.port))}"]
        cmd += ["--log-level", log_level()]
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}; see {log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"broker did not listen on {self.bootstrap} within 30 s; see {log.name}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def collect_logs(self, results: Path) -> None:
        for log in self.workdir.glob(f"broker-{self.scenario}-*.log"):
            shutil.move(log, results / log.name)


class ZooKeeperHolder:
    """The run's one ZooKeeper, started when the first cluster needs it and again if it died."""

    def __init__(self, workdir: Path) -> None:
        self.data_dir = workdir / "zookeeper"
        self.server: ZooKeeperServer | None = None

    def running(self) -> ZooKeeperServer:
        from riverlog.testing.zookeeper import ZooKeeperServer

        if self.server is None:
            self.server = ZooKeeperServer(self.data_dir)
        if not self.server.is_running:
            self.server.start()
        return self.server

    def alive(self) -> bool:
        return self.server is not None and self.server.is_running

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def collect_logs(self, results: Path) -> None:
        log = self.data_dir / "zookeeper.log"
        if log.exists():
            shutil.move(log, results / "zookeeper.log")


class Cluster:
    """ZooKeeper and three riverlog brokers with one scenario's settings; fresh on every start."""

    def __init__(self, scenario: str, workdir: Path, zookeeper: ZooKeeperHolder) -> None:
        self.scenario = scenario
        self.workdir = workdir
        self.zookeeper = zookeeper
        self.cluster: LocalCluster | None = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        assert self.cluster is not None
        return ",".join(b.bootstrap for b in self.cluster.brokers)

    def alive(self) -> bool:
        if self.cluster is None or not self.zookeeper.alive():
            return False
        return all(b.is_running for b in self.cluster.brokers)

    def death(self) -> str:
        if self.cluster is None:
            return ""
        dead = [
            f"broker {b.broker_id} exited with code {b.exit_code}"
            for b in self.cluster.brokers
            if b.exit_code is not None
        ]
        if self.zookeeper.server is not None and not self.zookeeper.alive():
            dead.append("ZooKeeper exited")
        return ", ".join(dead)

    def start(self) -> None:
        from riverlog.testing.broker_process import ClusterError
        from riverlog.testing.cluster import LocalCluster

        self.starts += 1
        base = self.workdir / f"cluster-{self.scenario}-{self.starts}"
        settings = {**CLUSTER_SETTINGS, **SCENARIO_BROKER_SETTINGS[self.scenario]}
        cluster = LocalCluster(self.zookeeper.running(), base, size=CLUSTER_SIZE, config=settings)
        cluster.brokers = [with_rack_and_log_level(b) for b in cluster.brokers]
        try:
            cluster.start()
        except ClusterError as exc:
            cluster.kill()
            raise RuntimeError(f"the cluster did not start: {exc}") from None
        self.cluster = cluster

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop(timeout=15)
            self.cluster = None

    def collect_logs(self, results: Path) -> None:
        for log in self.workdir.glob(f"cluster-{self.scenario}-*/broker-*.log"):
            shutil.move(log, results / f"{log.parent.name}-{log.name}")


def with_rack_and_log_level(broker: BrokerProcess) -> BrokerProcess:
    """The same broker, with `broker.rack=RACK<id>` (0101 looks for three racks named so) and the
    runner's log level on its command line."""
    from riverlog.testing.broker_process import BrokerProcess

    class CompatBrokerProcess(BrokerProcess):
        def command(self) -> list[str]:
            return [*super().command(), "--log-level", log_level()]

    return CompatBrokerProcess(
        broker.broker_id,
        broker.data_dir,
        zookeeper=None,
        port=0,
        settings={**broker.settings, "broker.rack": f"RACK{broker.broker_id}"},
    )
