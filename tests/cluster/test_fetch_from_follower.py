"""Fetch from follower (KIP-392) on three brokers in three racks, with a real librdkafka consumer.

The brokers run with `broker.rack=RACK<id>` and Kafka's `RackAwareReplicaSelector`; a consumer whose
`client.rack` names a follower's rack is sent there by the leader's first Fetch answer (the preferred
read replica) and reads the records from the follower. librdkafka's 0101_fetch_from_follower checks the
same through the consumer's per-broker statistics.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from riverlog.broker.replication.replica_selector import RACK_AWARE
from riverlog.testing.cluster import BrokerProcess, LocalCluster
from riverlog.testing.zookeeper import ZooKeeperServer

pytestmark = pytest.mark.cluster

SETTINGS = {
    "replica.lag.time.max.ms": "3000",
    "zookeeper.session.timeout.ms": "6000",
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "group.initial.rebalance.delay.ms": "0",
    "replica.selector.class": RACK_AWARE,
}
MESSAGES = 300
VALUE = b"x" * 1000


@pytest.fixture
def racked_cluster(zookeeper: ZooKeeperServer, tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(zookeeper, tmp_path / "cluster", size=3, config=SETTINGS)
    cluster.brokers = [
        BrokerProcess(
            b.broker_id,
            b.data_dir,
            zookeeper=None,
            port=0,
            settings={**b.settings, "broker.rack": f"RACK{b.broker_id}"},
        )
        for b in cluster.brokers
    ]
    with cluster:
        yield cluster
        cluster.kill()


def test_a_consumer_reads_from_the_follower_in_its_rack(racked_cluster: LocalCluster) -> None:
    cluster = racked_cluster
    topic = "fff"
    leader = cluster.create_topic(topic, partitions=1, replication_factor=3)[0].leader
    follower = next(b.broker_id for b in cluster.brokers if b.broker_id != leader)
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all"})
    for i in range(MESSAGES):
        producer.produce(topic, key=str(i).encode(), value=VALUE)
    assert producer.flush(30) == 0
    cluster.wait_for_isr(topic, 0, [b.broker_id for b in cluster.brokers])

    rx_bytes: dict[int, int] = {}

    def on_stats(text: str) -> None:
        for broker in json.loads(text)["brokers"].values():
            if broker["nodeid"] >= 0:
                rx_bytes[broker["nodeid"]] = broker["rxbytes"]

    consumer = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap_servers,
            "group.id": "fff-group",
            "client.rack": f"RACK{follower}",
            "auto.offset.reset": "earliest",
            "statistics.interval.ms": 500,
            "stats_cb": on_stats,
        }
    )
    try:
        consumer.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 60
        while got < MESSAGES and time.monotonic() < deadline:
            batch = consumer.consume(num_messages=MESSAGES, timeout=1)
            got += sum(1 for message in batch if message.error() is None)
        assert got == MESSAGES
        consumer.poll(1.5)  # one more statistics round after the last fetch
    finally:
        consumer.close()
    data = MESSAGES * len(VALUE)
    # The records came from the follower in the consumer's rack, not from the leader.
    assert rx_bytes.get(follower, 0) >= data, rx_bytes
    assert rx_bytes.get(leader, 0) < data // 2, rx_bytes
