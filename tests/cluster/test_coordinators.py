"""The group coordinator moves with the leadership of its `__consumer_offsets` partition.

Kafka's rule: a group's coordinator is the leader of partition `hash(group) % 50` of
`__consumer_offsets`. When that broker dies, the partition's new leader (from the ISR) loads the
partition and becomes the coordinator, with every committed offset, because commits are written with
acks=all.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from riverlog.broker.coordinators.runtime import partition_for
from riverlog.testing.cluster import LocalCluster

pytestmark = pytest.mark.cluster


def consume(bootstrap: str, topic: str, group: str, count: int, timeout: float = 60) -> list[int]:
    """Join `group`, read `count` records, commit them synchronously, leave."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    values: list[int] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            values.append(int(message.value()))
            if len(values) == count:
                consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


def test_committed_offsets_survive_the_coordinators_death(cluster3: LocalCluster) -> None:
    topic, group = "orders", "billing"
    cluster3.create_topic(topic, partitions=1, replication_factor=3)
    producer = Producer({"bootstrap.servers": cluster3.bootstrap_servers, "acks": "all"})
    for i in range(100):
        producer.produce(topic, str(i).encode())
    assert producer.flush(30) == 0

    assert consume(cluster3.bootstrap_servers, topic, group, 40) == list(range(40))
    offsets_partition = partition_for(group, 50)
    coordinator = cluster3.metadata("__consumer_offsets")[offsets_partition].leader
    cluster3.broker(coordinator).kill()
    cluster3.wait_for_leader(
        "__consumer_offsets", offsets_partition, exclude={coordinator}, timeout=30
    )

    # The new coordinator knows the commit: the group resumes at 40, nothing is read twice.
    assert consume(cluster3.bootstrap_servers, topic, group, 60) == list(range(40, 100))
    check = Consumer({"bootstrap.servers": cluster3.bootstrap_servers, "group.id": group})
    try:
        committed = check.committed([TopicPartition(topic, 0)], timeout=30)
    finally:
        check.close()
    assert committed[0].offset == 100
