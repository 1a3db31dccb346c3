"""IP connection creation rates (KIP-612) with real connections: set through `riverlog quotas --ip`,
an address opening connections faster than its quota has the extra ones held unanswered and closed
(Kafka's acceptor), while other addresses — and a real confluent-kafka client — carry on.

Loopback has the whole of 127.0.0.0/8, so connections bound to 127.0.0.2 / 127.0.0.3 come from
addresses of their own and the test's other clients (127.0.0.1) are not limited."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ip_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with RunningBroker(tmp_path_factory.mktemp("ipquotas")) as running:
        yield running


def riverlog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riverlog", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def api_versions_answered(broker: RunningBroker, source: str) -> bool:
    """Connect from `source`, send ApiVersions v0; whether an answer came (False: closed unanswered)."""
    host, port = broker.bootstrap_servers.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(20)
        sock.bind((source, 0))
        sock.connect((host, int(port)))
        client = b"ipq"
        body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
        sock.sendall(struct.pack(">i", len(body)) + body)
        head = sock.recv(8)
        if not head:
            return False
        size, correlation = struct.unpack(">ii", head)
        return size > 4 and correlation == 7


def alter(broker: RunningBroker, *args: str) -> subprocess.CompletedProcess[str]:
    return riverlog("quotas", "alter", *args, "-b", broker.bootstrap_servers)


def test_an_ip_over_its_connection_rate_is_throttled(ip_broker: RunningBroker) -> None:
    done = alter(ip_broker, "--ip", "127.0.0.2", "--add-config", "connection_creation_rate=1")
    assert done.returncode == 0, done.stderr
    listed = riverlog("quotas", "describe", "--ip", "127.0.0.2", "-b", ip_broker.bootstrap_servers)
    assert listed.stdout.strip() == "ip=127.0.0.2\tconnection_creation_rate=1"

    # 1 connection/s over Kafka's 11 one-second windows: ten at once fit, the eleventh does not.
    assert [api_versions_answered(ip_broker, "127.0.0.2") for _ in range(10)] == [True] * 10
    assert not api_versions_answered(ip_broker, "127.0.0.2")

    # Other addresses are not limited: a real client produces and consumes meanwhile.
    topic = f"ipq-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": ip_broker.bootstrap_servers})
    producer.produce(topic, b"still-served")
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": ip_broker.bootstrap_servers,
            "group.id": topic,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.subscribe([topic])
        message = None
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.value() == b"still-served"
    finally:
        consumer.close()

    removed = alter(ip_broker, "--ip", "127.0.0.2", "--delete-config", "connection_creation_rate")
    assert removed.returncode == 0, removed.stderr
    assert api_versions_answered(ip_broker, "127.0.0.2")


def test_the_default_ip_quota_applies_to_addresses_without_their_own(
    ip_broker: RunningBroker,
) -> None:
    # The test's own address gets a generous quota of its own, which wins over the default.
    assert (
        alter(
            ip_broker, "--ip", "127.0.0.1", "--add-config", "connection_creation_rate=1000"
        ).returncode
        == 0
    )
    assert (
        alter(ip_broker, "--ip-default", "--add-config", "connection_creation_rate=1").returncode
        == 0
    )
    try:
        described = riverlog("quotas", "describe", "-b", ip_broker.bootstrap_servers).stdout
        assert "ip=<default>\tconnection_creation_rate=1" in described
        assert [api_versions_answered(ip_broker, "127.0.0.3") for _ in range(10)] == [True] * 10
        assert not api_versions_answered(ip_broker, "127.0.0.3")
        assert api_versions_answered(ip_broker, "127.0.0.1")
    finally:
        alter(ip_broker, "--ip-default", "--delete-config", "connection_creation_rate")
        alter(ip_broker, "--ip", "127.0.0.1", "--delete-config", "connection_creation_rate")


def test_bad_ip_quotas_are_refused_with_kafkas_errors(ip_broker: RunningBroker) -> None:
    not_ip = alter(ip_broker, "--ip", "nowhere", "--add-config", "connection_creation_rate=1")
    assert not_ip.returncode != 0 and "nowhere is not a valid IP" in not_ip.stderr
    wrong_key = alter(ip_broker, "--ip", "10.1.1.1", "--add-config", "producer_byte_rate=1")
    assert wrong_key.returncode != 0
    assert "Invalid configuration key producer_byte_rate" in wrong_key.stderr
    fraction = alter(ip_broker, "--ip", "10.1.1.1", "--add-config", "connection_creation_rate=1.5")
    assert "must be a INT value" in fraction.stderr
    mixed = alter(
        ip_broker, "--ip", "10.1.1.1", "--user", "a", "--add-config", "connection_creation_rate=1"
    )
    assert mixed.returncode != 0 and "cannot be combined" in mixed.stderr
    assert len(mixed.stderr.strip().splitlines()) == 1


def test_a_real_client_over_the_rate_is_held_then_gets_through(tmp_path: Path) -> None:
    """librdkafka clients from an address limited to 1 connection/s: once the ten the windows allow
    are used, a new client's connections are held unanswered and closed, so a short Metadata call
    fails; librdkafka reconnects on its own and gets through once the rate has fallen back."""
    with RunningBroker(tmp_path / "data") as broker:
        done = alter(broker, "--ip", "127.0.0.1", "--add-config", "connection_creation_rate=1")
        assert done.returncode == 0, done.stderr
        outcomes = []
        for _ in range(12):  # each AdminClient opens at least one new connection
            admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
            try:
                admin.list_topics(timeout=0.5)
                outcomes.append("answered")
            except KafkaException:
                outcomes.append("held")
                # The same client carries on reconnecting, and is let in after the throttle time.
                admin.list_topics(timeout=30)
        assert outcomes[0] == "answered" and "held" in outcomes
