"""Client quotas in ZooKeeper mode, on a real ZooKeeper and a three-broker cluster: every entity kind
(user+client-id pairs, defaults, ips) lands in the znodes Kafka uses, with Kafka's value formats and
`/config/changes` notifications; a quota written straight into ZooKeeper the way Kafka's tools write
it (sanitized names) is described by every broker (through kafka-python's own protocol classes); and
the leader enforces Kafka's precedence (user+client-id over user) on a real producer."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer
from kafka import KafkaAdminClient
from kafka.protocol.admin.client_quotas import DescribeClientQuotasRequest

from riverlog.metadata import zk_format as zf
from riverlog.testing.cluster import LocalCluster

pytestmark = pytest.mark.cluster


def riverlog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riverlog", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def alter(cluster: LocalCluster, *args: str) -> None:
    done = riverlog("quotas", "alter", *args, "-b", cluster.brokers[0].bootstrap)
    assert done.returncode == 0, done.stderr


def describe_with_kafka_python(
    bootstrap: str,
) -> dict[tuple[tuple[str, str | None], ...], dict[str, float]]:
    """DescribeClientQuotas (no filter) encoded by kafka-python, sent to the broker at `bootstrap`."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        manager: Any = admin._manager
        node = manager.least_loaded_node()

        async def call() -> Any:
            return await manager.send(
                DescribeClientQuotasRequest(components=[], strict=False), node_id=node
            )

        response = manager.run(call)
    finally:
        admin.close()
    assert response.error_code == 0, response.error_message
    return {
        tuple(sorted((e.entity_type, e.entity_name) for e in entry.entity)): {
            v.key: v.value for v in entry.values
        }
        for entry in response.entries
    }


def max_throttle(cluster: LocalCluster, client_id: str, topic: str) -> int:
    """Produce 600 kB with `client_id`; the largest broker throttle time librdkafka reported."""
    seen = [0]

    def stats(text: str) -> None:
        for b in json.loads(text)["brokers"].values():
            seen[0] = max(seen[0], int(b.get("throttle", {}).get("max", 0)))

    producer = Producer(
        {
            "bootstrap.servers": cluster.bootstrap_servers,
            "client.id": client_id,
            "statistics.interval.ms": 200,
            "stats_cb": stats,
            "linger.ms": 5,
            "acks": "1",
        }
    )
    for _ in range(600):
        producer.produce(topic, b"x" * 1000)
        producer.poll(0)
    assert producer.flush(60) == 0
    producer.poll(0.5)
    return seen[0]


def wait_until(what: str, check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_quota_entities_live_in_kafkas_znodes(shared_cluster3: LocalCluster) -> None:
    cluster = shared_cluster3
    alter(
        cluster, "--user", "alice", "--client-id", "etl", "--add-config", "producer_byte_rate=1000"
    )
    alter(
        cluster, "--user", "alice", "--client-id-default", "--add-config", "consumer_byte_rate=2000"
    )
    alter(cluster, "--user-default", "--client-id", "etl", "--add-config", "request_percentage=150")
    alter(
        cluster, "--user-default", "--client-id-default", "--add-config", "producer_byte_rate=3000"
    )
    alter(cluster, "--user-default", "--add-config", "controller_mutation_rate=10")
    alter(cluster, "--client-id-default", "--add-config", "consumer_byte_rate=4000")
    alter(cluster, "--ip", "10.0.0.7", "--add-config", "connection_creation_rate=5")
    alter(cluster, "--ip-default", "--add-config", "connection_creation_rate=500")

    expected_znodes = {
        "/config/users/alice/clients/etl": {"producer_byte_rate": "1000"},
        "/config/users/alice/clients/<default>": {"consumer_byte_rate": "2000"},
        "/config/users/<default>/clients/etl": {"request_percentage": "150.0"},
        "/config/users/<default>/clients/<default>": {"producer_byte_rate": "3000"},
        "/config/users/<default>": {"controller_mutation_rate": "10.0"},
        "/config/clients/<default>": {"consumer_byte_rate": "4000"},
        "/config/ips/10.0.0.7": {"connection_creation_rate": "5"},
        "/config/ips/<default>": {"connection_creation_rate": "500"},
    }
    for path, config in expected_znodes.items():
        assert cluster.zk_json(path) == {"version": 1, "config": config}, path
    notified = {
        cluster.zk_json(f"{zf.CONFIG_CHANGES}/{name}")["entity_path"]
        for name in cluster.zk_client.get_children(zf.CONFIG_CHANGES)
    }
    assert {
        "users/alice/clients/etl",
        "users/<default>/clients/<default>",
        "ips/10.0.0.7",
    } <= notified

    # What Kafka's tools write (sanitized names, a change notification) every broker reads.
    zk = cluster.zk_client
    zk.create(
        "/config/users/bob%40corp/clients/svc%2A",
        zf.encode_config({"producer_byte_rate": "777"}),
        makepath=True,
    )
    zk.create(
        f"{zf.CONFIG_CHANGES}/config_change_",
        zf.encode_config_change("users/bob%40corp/clients/svc%2A"),
        sequence=True,
    )

    wanted = {
        (("client-id", "etl"), ("user", "alice")): {"producer_byte_rate": 1000.0},
        (("client-id", None), ("user", "alice")): {"consumer_byte_rate": 2000.0},
        (("client-id", "etl"), ("user", None)): {"request_percentage": 150.0},
        (("client-id", None), ("user", None)): {"producer_byte_rate": 3000.0},
        (("user", None),): {"controller_mutation_rate": 10.0},
        (("client-id", None),): {"consumer_byte_rate": 4000.0},
        (("ip", "10.0.0.7"),): {"connection_creation_rate": 5.0},
        (("ip", None),): {"connection_creation_rate": 500.0},
        (("client-id", "svc*"), ("user", "bob@corp")): {"producer_byte_rate": 777.0},
    }
    for broker in cluster.brokers:
        wait_until(
            f"broker {broker.broker_id} to describe every quota",
            lambda b=broker: describe_with_kafka_python(b.bootstrap) == wanted,
        )
    # riverlog quotas filters the same way kafka-configs.sh does.
    listed = riverlog(
        "quotas", "describe", "--user", "bob@corp", "-b", cluster.brokers[2].bootstrap
    ).stdout  # fmt: skip
    assert listed.strip() == "client-id=svc*, user=bob@corp\tproducer_byte_rate=777"

    # Removing values leaves Kafka's (empty) znodes, and the brokers forget the quotas.
    alter(cluster, "--ip-default", "--delete-config", "connection_creation_rate")
    alter(cluster, "--user", "alice", "--client-id", "etl", "--delete-config", "producer_byte_rate")
    assert cluster.zk_json("/config/users/alice/clients/etl") == {"version": 1, "config": {}}
    for broker in cluster.brokers:
        wait_until(
            f"broker {broker.broker_id} to drop the removed quotas",
            lambda b=broker: (
                (("ip", None),) not in describe_with_kafka_python(b.bootstrap)
                and (("client-id", "etl"), ("user", "alice"))
                not in describe_with_kafka_python(b.bootstrap)
            ),
        )


def test_the_leader_enforces_user_and_client_id_over_user(shared_cluster3: LocalCluster) -> None:
    """PLAINTEXT clients are User:ANONYMOUS: a tight quota for (ANONYMOUS, slow) wins over a generous
    one for ANONYMOUS alone, so only the producer with client.id=slow is throttled."""
    cluster = shared_cluster3
    topic = f"zkquota-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, partitions=1, replication_factor=3)
    alter(cluster, "--user", "ANONYMOUS", "--add-config", "producer_byte_rate=100000000")
    alter(
        cluster,
        "--user",
        "ANONYMOUS",
        "--client-id",
        "slow",
        "--add-config",
        "producer_byte_rate=20000",
    )
    for broker in cluster.brokers:
        wait_until(
            f"broker {broker.broker_id} to see the pair quota",
            lambda b=broker: (
                (("client-id", "slow"), ("user", "ANONYMOUS"))
                in describe_with_kafka_python(b.bootstrap)
            ),
        )
    assert max_throttle(cluster, "slow", topic) > 0
    assert max_throttle(cluster, "fast", topic) == 0
