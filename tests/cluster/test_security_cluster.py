"""A three-broker ZooKeeper cluster whose brokers replicate over a SASL_SSL inter-broker listener,
and SCRAM users stored in ZooKeeper as Kafka stores them (`/config/users/<user>`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import (
    AdminClient,
    NewTopic,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from kazoo.client import KazooClient

from riverlog.security.certs import create_ca, issue
from riverlog.testing.cluster import LocalCluster
from riverlog.testing.zookeeper import ZooKeeperServer

pytestmark = pytest.mark.cluster

JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="broker" password="broker-secret" '
    'user_broker="broker-secret" user_alice="alice-secret";'
)


@pytest.fixture(scope="module")
def ca_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("cluster-certs")
    ca = create_ca()
    broker = issue(ca, "broker", server=True, hostnames=["127.0.0.1", "localhost"])
    (base / "ca.crt").write_bytes(ca.issued.cert_pem)
    (base / "broker.pem").write_bytes(broker.bundle_pem)
    return base / "ca.crt", base / "broker.pem"


def test_replication_over_a_sasl_ssl_inter_broker_listener(
    zookeeper: ZooKeeperServer, tmp_path: Path, ca_files: tuple[Path, Path]
) -> None:
    ca, keystore = ca_files
    settings = {
        "listeners": "PLAINTEXT://{bootstrap},SASL_SSL://127.0.0.1:0",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": JAAS,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(ca),
        "replica.lag.time.max.ms": "3000",
        "zookeeper.session.timeout.ms": "6000",
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
        "offsets.topic.replication.factor": "3",
        "group.initial.rebalance.delay.ms": "0",
    }
    with LocalCluster(zookeeper, tmp_path / "cluster", size=3, config=settings) as cluster:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
        topic = f"secure-{uuid.uuid4().hex[:8]}"
        admin.create_topics([NewTopic(topic, 3, 3)])[topic].result(timeout=30)

        # A SCRAM user, written to ZooKeeper in Kafka's format, then used by a client.
        upsert = UserScramCredentialUpsertion(
            "carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"carol-secret"
        )
        admin.alter_user_scram_credentials([upsert])["carol"].result(timeout=30)
        zk = KazooClient(hosts=cluster.zookeeper_connect)
        zk.start()
        try:
            data, _ = zk.get("/config/users/carol")
        finally:
            zk.stop()
            zk.close()
        stored = json.loads(data)
        assert stored["version"] == 1
        assert stored["config"]["SCRAM-SHA-512"].startswith("salt=")
        assert stored["config"]["SCRAM-SHA-512"].endswith(",iterations=4096")

        # The brokers advertise the SASL_SSL listener to clients that connect on it.
        sasl_port = _sasl_port(cluster)
        client = {
            "bootstrap.servers": f"127.0.0.1:{sasl_port}",
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": str(ca),
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "carol",
            "sasl.password": "carol-secret",
        }
        producer = Producer({**client, "acks": "all", "enable.idempotence": True})
        for i in range(300):
            producer.produce(topic, key=str(i).encode(), value=f"v{i}".encode())
        assert producer.flush(30) == 0

        # Every follower caught up through SASL_SSL replica fetches: all ISRs are full.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            partitions = cluster.metadata(topic)
            if all(len(p.isr) == 3 for p in partitions.values()):
                break
            time.sleep(0.5)
        assert all(len(p.isr) == 3 for p in cluster.metadata(topic).values())
        logs = "".join(
            (tmp_path / "cluster" / f"broker-{n}.log").read_text(errors="replace")
            for n in (1, 2, 3)
        )
        assert "SASL PLAIN authentication of User:broker" in logs  # followers logged in

        consumer = Consumer({**client, "group.id": "g", "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        seen: set[bytes] = set()
        deadline = time.monotonic() + 60
        while len(seen) < 300 and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen.add(message.value())
        consumer.close()
        assert seen == {f"v{i}".encode() for i in range(300)}


def _sasl_port(cluster: LocalCluster) -> int:
    """Read broker 1's SASL_SSL endpoint from its registration in ZooKeeper (Kafka's format)."""
    zk = KazooClient(hosts=cluster.zookeeper_connect)
    zk.start()
    try:
        data, _ = zk.get("/brokers/ids/1")
    finally:
        zk.stop()
        zk.close()
    registration = json.loads(data)
    assert registration["listener_security_protocol_map"]["SASL_SSL"] == "SASL_SSL"
    endpoint = next(e for e in registration["endpoints"] if e.startswith("SASL_SSL://"))
    return int(endpoint.rsplit(":", 1)[1])


def test_acls_live_in_zookeeper_and_apply_on_every_broker(
    zookeeper: ZooKeeperServer, tmp_path: Path
) -> None:
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    settings = {
        "listeners": "PLAINTEXT://{bootstrap},SASL_PLAINTEXT://127.0.0.1:0",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        # the test harness speaks PLAINTEXT (anonymous); brokers log in as User:broker
        "super.users": "User:ANONYMOUS;User:broker",
        "zookeeper.session.timeout.ms": "6000",
        "default.replication.factor": "3",
        "offsets.topic.replication.factor": "3",
    }
    with LocalCluster(zookeeper, tmp_path / "cluster", size=3, config=settings) as cluster:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
        topic = f"acl-{uuid.uuid4().hex[:8]}"
        admin.create_topics([NewTopic(topic, 3, 3)])[topic].result(timeout=30)
        ports = _listener_ports(cluster, "SASL_PLAINTEXT")

        def alice(port: int) -> KafkaError | None:
            errors: list[KafkaError | None] = []
            producer = Producer(
                {
                    "bootstrap.servers": f"127.0.0.1:{port}",
                    "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": "PLAIN",
                    "sasl.username": "alice",
                    "sasl.password": "alice-secret",
                    "message.timeout.ms": 8000,
                }
            )
            producer.produce(topic, b"x", on_delivery=lambda err, _m: errors.append(err))
            producer.flush(15)
            return errors[0] if errors else None

        denied = alice(ports[2])
        assert denied is not None and denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

        # Created through broker 1, stored in ZooKeeper in Kafka's layout, enforced by broker 2.
        broker1 = AdminClient({"bootstrap.servers": cluster.brokers[0].bootstrap})
        binding = AclBinding(
            ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*",
            AclOperation.WRITE, AclPermissionType.ALLOW,
        )  # fmt: skip
        broker1.create_acls([binding])[binding].result(timeout=30)
        zk = KazooClient(hosts=cluster.zookeeper_connect)
        zk.start()
        try:
            data, _ = zk.get(f"/kafka-acl/Topic/{topic}")
            changes = zk.get_children("/kafka-acl-changes")
        finally:
            zk.stop()
            zk.close()
        assert json.loads(data) == {
            "version": 1,
            "acls": [
                {
                    "principal": "User:alice",
                    "permissionType": "Allow",
                    "operation": "Write",
                    "host": "*",
                }
            ],
        }
        assert changes
        deadline = time.monotonic() + 30
        while alice(ports[2]) is not None:
            assert time.monotonic() < deadline, "the ACL never applied on broker 2"
            time.sleep(0.5)

        # Client quotas land in Kafka's znodes too, and every broker reads them back.
        done = subprocess.run(
            [sys.executable, "-m", "riverlog", "quotas", "alter", "--user", "alice",
             "--add-config", "producer_byte_rate=1048576", "-b", cluster.brokers[0].bootstrap],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        zk = KazooClient(hosts=cluster.zookeeper_connect)
        zk.start()
        try:
            data, _ = zk.get("/config/users/alice")
        finally:
            zk.stop()
            zk.close()
        assert json.loads(data)["config"]["producer_byte_rate"] == "1048576"
        described = subprocess.run(
            [sys.executable, "-m", "riverlog", "quotas", "describe",
             "-b", cluster.brokers[2].bootstrap],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert "user=alice\tproducer_byte_rate=1048576" in described.stdout


def _listener_ports(cluster: LocalCluster, listener: str) -> dict[int, int]:
    zk = KazooClient(hosts=cluster.zookeeper_connect)
    zk.start()
    try:
        ports = {}
        for broker in cluster.brokers:
            data, _ = zk.get(f"/brokers/ids/{broker.broker_id}")
            endpoints = json.loads(data)["endpoints"]
            endpoint = next(e for e in endpoints if e.startswith(f"{listener}://"))
            ports[broker.broker_id] = int(endpoint.rsplit(":", 1)[1])
        return ports
    finally:
        zk.stop()
        zk.close()
