"""The lab's feed partitions passages as Java's default partitioner does (murmur2 of the key), so a
plate's passages land on the partition the streams apps' producers and Kafka Connect put its vehicle
row on. (It used librdkafka's default, crc32, and the join missed vehicles with more than one
partition.)"""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from riverlog.labs.toll.generator import generate
from riverlog.labs.toll.model import TOPICS
from riverlog.labs.toll.platform.feed import produce_facts
from riverlog.streams.runtime.iq_metadata import murmur2_partition
from riverlog.testing.broker import RunningBroker


def test_passages_land_on_the_murmur2_partition_of_their_plate(broker: RunningBroker) -> None:
    bootstrap = broker.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [TOPICS["passages"], TOPICS["payments"]]
    for future in admin.create_topics([NewTopic(t, 3, 1) for t in topics]).values():
        future.result(10)
    world = generate(7, 200)
    produce_facts(world, bootstrap)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "toll-partitioning",
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(TOPICS["passages"], p, 0) for p in range(3)])
    seen, eof = 0, set()
    while len(eof) < 3:
        msg = consumer.poll(10)
        assert msg is not None, "the passages topic was not read to its end"
        if msg.error():
            eof.add(msg.partition())
            continue
        key = msg.key()
        assert key is not None
        assert msg.partition() == murmur2_partition(key, 3), key
        seen += 1
    consumer.close()
    assert seen == len(world.passages)
