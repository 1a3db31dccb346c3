"""Client quotas with real clients: set and described through `riverlog quotas` (AlterClientQuotas /
DescribeClientQuotas), then a producer over its byte-rate quota is throttled (librdkafka reports the
broker's throttle time) while a client without a quota is not."""

from __future__ import annotations

import asyncio
import datetime
import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from riverlog.broker.replication.peer import PeerConnection, PeerSecurity
from riverlog.broker.responses import request_schema
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
THROTTLED = 89  # THROTTLING_QUOTA_EXCEEDED
JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'user_alice="alice-secret" user_bob="bob-secret";'
)


@pytest.fixture(scope="module")
def quota_broker(tmp_path_factory: pytest.TempPathFactory):
    config = {
        "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
    }
    with RunningBroker(tmp_path_factory.mktemp("quotas"), config=config) as running:
        yield running


def riverlog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riverlog", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def max_throttle(broker: RunningBroker, user: str, topic: str) -> int:
    """Produce 600 kB as `user`; the largest throttle time librdkafka saw from the broker."""
    seen: list[int] = [0]

    def stats(text: str) -> None:
        for b in json.loads(text)["brokers"].values():
            seen[0] = max(seen[0], int(b.get("throttle", {}).get("max", 0)))

    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap("SASL_PLAINTEXT"),
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": user,
            "sasl.password": f"{user}-secret",
            "statistics.interval.ms": 200,
            "stats_cb": stats,
            "linger.ms": 5,
        }
    )
    for _ in range(600):
        producer.produce(topic, b"x" * 1000)
        producer.poll(0)
    assert producer.flush(60) == 0
    producer.poll(0.5)  # one more statistics report
    return seen[0]


def test_a_producer_over_its_byte_rate_quota_is_throttled(quota_broker: RunningBroker) -> None:
    topic = f"quota-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": quota_broker.bootstrap_servers})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=10)
    bootstrap = ["-b", quota_broker.bootstrap_servers]
    done = riverlog(
        "quotas", "alter", "--user", "alice", "--add-config", "producer_byte_rate=20000", *bootstrap
    )
    assert done.returncode == 0, done.stderr
    listed = riverlog("quotas", "describe", "--user", "alice", *bootstrap)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "user=alice\tproducer_byte_rate=20000"
    as_json = riverlog("quotas", "describe", "--user", "alice", "--output", "json", *bootstrap)
    assert json.loads(as_json.stdout) == [
        {"entity": {"user": "alice"}, "quotas": {"producer_byte_rate": 20000.0}}
    ]
    assert max_throttle(quota_broker, "alice", topic) > 0
    assert max_throttle(quota_broker, "bob", topic) == 0  # no quota for bob


def test_quotas_are_removed_and_bad_ones_refused(quota_broker: RunningBroker) -> None:
    bootstrap = ["-b", quota_broker.bootstrap_servers]
    sasl = [
        "--command-config", "security.protocol=SASL_PLAINTEXT",
        "--command-config", "sasl.mechanism=PLAIN",
        "--command-config", "sasl.username=bob",
        "--command-config", "sasl.password=bob-secret",
        "-b", quota_broker.bootstrap("SASL_PLAINTEXT"),
    ]  # fmt: skip
    added = riverlog(
        "quotas", "alter", "--user-default", "--client-id", "etl",
        "--add-config", "consumer_byte_rate=1000", *sasl,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = riverlog("quotas", "describe", "--client-id", "etl", *bootstrap)
    assert "client-id=etl, user=<default>\tconsumer_byte_rate=1000" in listed.stdout
    removed = riverlog(
        "quotas", "alter", "--user-default", "--client-id", "etl",
        "--delete-config", "consumer_byte_rate", *bootstrap,
    )  # fmt: skip
    assert removed.returncode == 0, removed.stderr
    assert "etl" not in riverlog("quotas", "describe", *bootstrap).stdout
    bad = riverlog("quotas", "alter", "--user", "x", "--add-config", "bogus_rate=1", *bootstrap)
    assert bad.returncode != 0 and "unknown quota" in bad.stderr


def test_request_percentage_counts_handler_cpu_time(quota_broker: RunningBroker) -> None:
    bootstrap = ["-b", quota_broker.bootstrap_servers]
    done = riverlog(
        "quotas", "alter", "--user", "bob", "--add-config", "request_percentage=0.01", *bootstrap
    )
    assert done.returncode == 0, done.stderr
    security = PeerSecurity(None, "PLAIN", "bob", "bob-secret")
    metadata = request_schema(3, 9).MetadataRequest(
        topics=None,
        allow_auto_topic_creation=False,
        include_cluster_authorized_operations=False,
        include_topic_authorized_operations=False,
    )

    async def run() -> list[int]:
        connection = PeerConnection(
            "127.0.0.1", quota_broker.listener_port("SASL_PLAINTEXT"), 20, security
        )
        try:
            throttles = []
            for _ in range(50):
                response = await connection.request(metadata)
                throttles.append(int(response.throttle_time.total_seconds() * 1000))
            return throttles
        finally:
            connection.close()

    try:
        # 50 Metadata requests use well over 0.01% of a thread's CPU over the quota window
        assert max(asyncio.run(run())) > 0
    finally:
        riverlog(
            "quotas", "alter", "--user", "bob", "--delete-config", "request_percentage", *bootstrap
        )


def test_controller_mutation_rate_refuses_topics_once_exceeded(quota_broker: RunningBroker) -> None:
    bootstrap = ["-b", quota_broker.bootstrap_servers]
    done = riverlog(
        "quotas",
        "alter",
        "--user",
        "alice",
        "--add-config",
        "controller_mutation_rate=1",
        *bootstrap,
    )
    assert done.returncode == 0, done.stderr
    security = PeerSecurity(None, "PLAIN", "alice", "alice-secret")
    ct, dt, cp = request_schema(19, 7), request_schema(20, 5), request_schema(37, 3)
    timeout = datetime.timedelta(seconds=10)
    first, second = (f"mut-{uuid.uuid4().hex[:8]}" for _ in range(2))

    def create(name: str, partitions: int) -> Any:
        topic = ct.CreatableTopic(
            name=name,
            num_partitions=partitions,
            replication_factor=1,
            assignments=(),
            configs=(),
        )
        return ct.CreateTopicsRequest(topics=(topic,), timeout=timeout, validate_only=False)

    async def run() -> list[Any]:
        connection = PeerConnection(
            "127.0.0.1", quota_broker.listener_port("SASL_PLAINTEXT"), 20, security
        )
        try:
            return [
                await connection.request(create(first, 30)),  # 30 partitions: over 1/s
                await connection.request(create(second, 1)),
                await connection.request(
                    cp.CreatePartitionsRequest(
                        topics=(cp.CreatePartitionsTopic(name=first, count=31, assignments=None),),
                        timeout=timeout,
                        validate_only=False,
                    )
                ),
                await connection.request(
                    dt.DeleteTopicsRequest(topic_names=(first,), timeout=timeout)
                ),
            ]
        finally:
            connection.close()

    try:
        created, refused, not_grown, not_deleted = asyncio.run(run())
        assert int(created.topics[0].error_code.value) == 0
        assert created.throttle_time.total_seconds() > 0
        assert int(refused.topics[0].error_code.value) == THROTTLED
        assert int(not_grown.results[0].error_code.value) == THROTTLED
        assert int(not_deleted.responses[0].error_code.value) == THROTTLED
        admin = AdminClient({"bootstrap.servers": quota_broker.bootstrap_servers})
        topics = admin.list_topics(timeout=10).topics
        assert first in topics and second not in topics
        assert len(topics[first].partitions) == 30
    finally:
        riverlog(
            "quotas",
            "alter",
            "--user",
            "alice",
            "--delete-config",
            "controller_mutation_rate",
            *bootstrap,
        )
