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
# An authorizer that allows what no ACL mentions, as the suite's clusters run (0109, 0115 and 0119
# add DENY ACLs with kafka-acls.sh and expect them to apply; everything else runs unrestricted).
AUTHORIZER_SETTINGS = {
    "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
    "allow.everyone.if.no.acl.found": "true",
}
for _settings in SCENARIO_BROKER_SETTINGS.values():
    _settings.update(AUTHORIZER_SETTINGS)

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
        self.name = scenario  # in file names
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
        data = self.workdir / f"data-{self.name}-{self.starts}"
        log = self.log = (self.workdir / f"broker-{self.name}-{self.starts}.log").open("wb")
        cmd = [str(RIVERLOG), "broker", "start", *self.listen_args()]
        cmd += ["--data-dir", str(data)]
        for key, value in {**self.settings, **self.extra_settings()}.items():
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

    client_settings: dict[str, str] = {}  # what test.conf needs to connect (none for PLAINTEXT)

    def listen_args(self) -> list[str]:
        return ["--listen", self.bootstrap]

    def extra_settings(self) -> dict[str, str]:
        return {}

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
        for log in self.workdir.glob(f"broker-{self.name}-*.log"):
            shutil.move(log, results / log.name)


class SaslBroker(SingleBroker):
    """The same broker with one SASL_PLAINTEXT listener (PLAIN) instead of PLAINTEXT, and a `test.conf`
    that logs in: for the tests that need SASL (0135_sasl_credentials)."""

    USER, PASSWORD = "librdkafka", "librdkafka-secret"
    client_settings = {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": USER,
        "sasl.password": PASSWORD,
    }

    def __init__(self, scenario: str, workdir: Path) -> None:
        super().__init__(scenario, workdir)
        self.name = f"{scenario}-sasl"

    def listen_args(self) -> list[str]:
        return ["--set", f"listeners=SASL_PLAINTEXT://{self.bootstrap}"]

    def extra_settings(self) -> dict[str, str]:
        jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{self.USER}="{self.PASSWORD}";'
        )
        return {
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas,
        }


class SslBroker(SingleBroker):
    """The same broker with one SSL listener requiring client certificates, and the certificate set
    trivup gives the suite: `test.conf` settings and the `SSL_*` files (PEM, DER, PKCS#12, an encrypted
    key) that 0097_ssl_verify loads in every form. Made with `riverlog.security.certs`."""

    PASSWORD = "use-this-password"

    def __init__(self, scenario: str, workdir: Path) -> None:
        super().__init__(scenario, workdir)
        self.name = f"{scenario}-ssl"
        self.certs = workdir / f"certs-{scenario}"
        self.client_settings: dict[str, str] = {}
        self.test_env: dict[str, str] = {}

    def listen_args(self) -> list[str]:
        return ["--set", f"listeners=SSL://{self.bootstrap}"]

    def extra_settings(self) -> dict[str, str]:
        if not self.client_settings:
            self._make_certificates()
        return {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.certs / "broker.pem"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.certs / "ca.pem"),
            "ssl.client.auth": "required",
        }

    def _make_certificates(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization as ser
        from cryptography.hazmat.primitives.serialization import pkcs12

        from riverlog.security.certs import create_ca, issue

        self.certs.mkdir(parents=True, exist_ok=True)
        ca = create_ca("librdkafka-test-ca")
        broker = issue(ca, "localhost", server=True, hostnames=["localhost", "127.0.0.1"])
        client = issue(ca, "client", server=False)
        key = ser.load_pem_private_key(client.key_pem, None)
        cert = x509.load_pem_x509_certificate(client.cert_pem)
        ca_cert = x509.load_pem_x509_certificate(ca.issued.cert_pem)
        encrypt = ser.BestAvailableEncryption(self.PASSWORD.encode())
        files = {
            "broker.pem": broker.bundle_pem,
            "ca.pem": ca.issued.cert_pem,
            "ca.der": ca_cert.public_bytes(ser.Encoding.DER),
            "client.pem": client.cert_pem,
            "client.der": cert.public_bytes(ser.Encoding.DER),
            "client.key": key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, encrypt),  # type: ignore[union-attr]
            "client.key.der": key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, encrypt),  # type: ignore[union-attr]
            "client.p12": pkcs12.serialize_key_and_certificates(
                b"client",
                key,
                cert,
                [ca_cert],
                encrypt,  # type: ignore[arg-type]
            ),
        }
        for name, data in files.items():
            (self.certs / name).write_bytes(data)
        path = {name: str(self.certs / name) for name in files}
        self.client_settings = {
            "security.protocol": "SSL",
            "ssl.ca.location": path["ca.pem"],
            "ssl.certificate.location": path["client.pem"],
            "ssl.key.location": path["client.key"],
            "ssl.key.password": self.PASSWORD,
        }
        self.test_env = {
            "SSL_password": self.PASSWORD,
            "SSL_pkcs": path["client.p12"],
            "SSL_pub_der": path["client.der"],
            "SSL_pub_pem": path["client.pem"],
            "SSL_priv_der": path["client.key.der"],
            "SSL_priv_pem": path["client.key"],
            "SSL_ca_der": path["ca.der"],
            "SSL_all_cas_pem": path["ca.pem"],
        }


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
