"""While ZooKeeper is away, admin writes fail fast with a retriable error and the broker keeps serving.

kazoo's blocking calls wait for the reconnection; a broker that made them on its event loop froze for
every client until ZooKeeper came back (found in the chaos run: a DeleteTopics during a ZooKeeper
restart held the loop, then closed the connection on the session-expired error it got).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from riverlog.testing.cluster import LocalCluster
from riverlog.testing.zookeeper import ZooKeeperServer

pytestmark = pytest.mark.cluster
# Longer than the outage, so the broker keeps its session and goes on leading meanwhile.
SETTINGS = {"zookeeper.session.timeout.ms": "20000", "offsets.topic.replication.factor": "1"}


@pytest.fixture
def single(zookeeper: ZooKeeperServer, tmp_path: Path) -> Iterator[LocalCluster]:
    with LocalCluster(zookeeper, tmp_path / "cluster", size=1, config=SETTINGS) as cluster:
        yield cluster
        cluster.kill()


def admin_error(future: object, timeout: float) -> int:
    try:
        future.result(timeout)  # type: ignore[attr-defined]
    except KafkaException as exc:
        return int(exc.args[0].code())
    return KafkaError.NO_ERROR


def test_admin_writes_fail_fast_and_produce_goes_on(
    single: LocalCluster, zookeeper: ZooKeeperServer
) -> None:
    single.create_topic("kept", partitions=1, replication_factor=1)
    bootstrap = single.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap})
    producer = Producer({"bootstrap.servers": bootstrap, "acks": 1})
    zookeeper.stop()
    try:
        time.sleep(1.0)  # the broker's ZooKeeper client notices (SUSPENDED)
        began = time.monotonic()
        created = admin.create_topics([NewTopic("new-topic", 1)], operation_timeout=5)
        assert admin_error(created["new-topic"], 8) == KafkaError.REQUEST_TIMED_OUT
        deleted = admin.delete_topics(["kept"], operation_timeout=5)
        assert admin_error(deleted["kept"], 8) == KafkaError.REQUEST_TIMED_OUT
        assert time.monotonic() - began < 6, "admin requests waited for ZooKeeper"
        # The event loop was never held: the leader still takes writes.
        producer.produce("kept", b"during the outage", partition=0)
        assert producer.flush(10) == 0
    finally:
        zookeeper.start()
    # Back: the same requests now work.
    created = admin.create_topics([NewTopic("new-topic", 1)], operation_timeout=10)
    deadline = time.monotonic() + 30
    while (code := admin_error(created["new-topic"], 15)) != KafkaError.NO_ERROR:
        assert code == KafkaError.REQUEST_TIMED_OUT and time.monotonic() < deadline
        time.sleep(0.5)  # the broker has not reconnected yet
        created = admin.create_topics([NewTopic("new-topic", 1)], operation_timeout=10)
    assert "new-topic" in admin.list_topics(timeout=10).topics
