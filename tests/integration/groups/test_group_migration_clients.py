"""KIP-848 online migration with real librdkafka consumers (confluent-kafka) on a real broker.

Two classic consumers share a topic; a `group.protocol=consumer` consumer joins the same group, which
becomes a consumer group with the classic members in it; when that consumer leaves, the group is a
classic group again and the classic members take everything back. No record is lost, offsets committed
by either kind of member count.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupType, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

SETTINGS = {
    "offsets.topic.num.partitions": "1",
    "group.min.session.timeout.ms": "1000",
    "group.consumer.heartbeat.interval.ms": "300",
    "group.consumer.session.timeout.ms": "4000",
}
COMMON = {"auto.offset.reset": "earliest", "enable.auto.commit": False}
CLASSIC = {**COMMON, "session.timeout.ms": 6000, "heartbeat.interval.ms": 300}
CONSUMER = {**COMMON, "group.protocol": "consumer"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with RunningBroker(tmp_path_factory.mktemp("migration"), **SETTINGS) as running:
        yield running


@pytest.fixture
def opened() -> Iterator[list[Consumer]]:
    """Consumers a test opens; closed after it, pass or fail (closing twice is harmless)."""
    consumers: list[Consumer] = []
    yield consumers
    for consumer in consumers:
        try:
            consumer.close()
        except RuntimeError:
            pass  # already closed


class Member:
    def __init__(self, bootstrap: str, group: str, topic: str, settings: dict[str, Any]) -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **settings})
        self.consumer.subscribe([topic])
        self.values: list[str] = []

    def poll(self) -> None:
        msg = self.consumer.poll(0.05)
        if msg is None or msg.error():
            return
        self.values.append(msg.value().decode())
        try:
            self.consumer.commit(message=msg, asynchronous=False)
        except KafkaException:
            pass  # a rebalance under way: it may be consumed again (at least once)

    @property
    def partitions(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}


def poll_until(members: list[Member], done: Callable[[], bool], timeout: float = 60) -> None:
    start = time.monotonic()
    while not done():
        assert time.monotonic() - start < timeout, "timed out waiting for the group"
        for member in members:
            member.poll()


def produce(bootstrap: str, topic: str, values: list[str]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i, value in enumerate(values):
        producer.produce(topic, value.encode(), partition=i % 4)
    assert producer.flush(10) == 0


def group_type(admin: AdminClient, group: str) -> Any:
    return admin.describe_consumer_groups([group])[group].result(10).type


def test_classic_group_upgrades_and_downgrades_with_real_consumers(
    broker: RunningBroker, make_topic: Callable[..., str], opened: list[Consumer]
) -> None:
    topic, group = make_topic(partitions=4), f"mig-{uuid.uuid4().hex[:8]}"
    bootstrap = broker.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap})
    batches = [[f"{n}{i}" for i in range(40)] for n in "abc"]
    classic = [Member(bootstrap, group, topic, CLASSIC) for _ in range(2)]
    opened += [m.consumer for m in classic]

    def seen(members: list[Member]) -> set[str]:
        return {v for m in members for v in m.values}

    def covered(members: list[Member]) -> bool:
        owned = [m.partitions for m in members]
        return all(owned) and set().union(*owned) == {0, 1, 2, 3}

    # 1. A classic group of two.
    produce(bootstrap, topic, batches[0])
    poll_until(classic, lambda: seen(classic) >= set(batches[0]) and covered(classic))
    assert group_type(admin, group) == ConsumerGroupType.CLASSIC
    # 2. A consumer-protocol member joins: the group is upgraded and shared by all three.
    modern = Member(bootstrap, group, topic, CONSUMER)
    opened.append(modern.consumer)
    everyone = [*classic, modern]
    produce(bootstrap, topic, batches[1])
    poll_until(everyone, lambda: seen(everyone) >= set(batches[1]) and covered(everyone))
    assert group_type(admin, group) == ConsumerGroupType.CONSUMER
    # 3. It leaves: the group is classic again and its two members take everything back.
    modern.consumer.close()
    produce(bootstrap, topic, batches[2])
    poll_until(classic, lambda: seen(classic) >= set(batches[2]) and covered(classic))
    assert group_type(admin, group) == ConsumerGroupType.CLASSIC
    for member in classic:
        member.consumer.close()
    checker = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    committed = checker.committed([TopicPartition(topic, p) for p in range(4)], timeout=10)
    checker.close()
    assert [tp.offset for tp in committed] == [30] * 4


def test_kafka_python_classic_member_through_an_upgrade_and_back(
    broker: RunningBroker, make_topic: Callable[..., str], opened: list[Consumer]
) -> None:
    from kafka import KafkaConsumer

    topic, group = make_topic(partitions=4), f"mig-kp-{uuid.uuid4().hex[:8]}"
    bootstrap = broker.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap})
    kp = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=300,
        metadata_max_age_ms=1000,
    )
    try:
        deadline = time.monotonic() + 10
        while not kp.partitions_for_topic(topic):  # learn the topic before subscribing
            assert time.monotonic() < deadline
            time.sleep(0.05)
        kp.subscribe([topic])
        got: list[str] = []

        def poll_kp() -> None:
            for records in kp.poll(timeout_ms=50).values():
                got.extend(r.value.decode() for r in records)
                kp.commit()

        def until(done: Callable[[], bool], *others: Member) -> None:
            deadline = time.monotonic() + 60
            while not done():
                assert time.monotonic() < deadline, "timed out waiting for the group"
                poll_kp()
                for other in others:
                    other.poll()

        first = [f"a{i}" for i in range(20)]
        produce(bootstrap, topic, first)
        until(lambda: set(got) >= set(first) and len(kp.assignment()) == 4)
        modern = Member(bootstrap, group, topic, CONSUMER)
        opened.append(modern.consumer)
        second = [f"b{i}" for i in range(20)]
        produce(bootstrap, topic, second)
        until(
            lambda: (
                set(got) | set(modern.values) >= set(first + second)
                and bool(modern.partitions)
                and len(kp.assignment()) + len(modern.partitions) == 4
            ),
            modern,
        )
        assert group_type(admin, group) == ConsumerGroupType.CONSUMER
        modern.consumer.close()
        third = [f"c{i}" for i in range(20)]
        produce(bootstrap, topic, third)
        until(lambda: set(got) >= set(third) and len(kp.assignment()) == 4)
        assert group_type(admin, group) == ConsumerGroupType.CLASSIC
    finally:
        kp.close()
