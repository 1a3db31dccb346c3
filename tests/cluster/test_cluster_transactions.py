"""Transactions across brokers: the coordinator sends WriteTxnMarkers to each partition's leader."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from riverlog.testing.cluster import LocalCluster

pytestmark = pytest.mark.cluster


def read_committed(bootstrap: str, topic: str, partitions: int, expected: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "txn-reader",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while len(values) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                values.append(message.value())
        # Anything aborted would show up now, after the committed records.
        for message in consumer.consume(100, 2):
            if not message.error():
                values.append(message.value())
    finally:
        consumer.close()
    return values


def test_committed_and_aborted_transactions_span_partitions_led_by_different_brokers(
    cluster3: LocalCluster,
) -> None:
    topic = "ledger"
    cluster3.create_topic(topic, partitions=3, replication_factor=3)
    leaders = {state.leader for state in cluster3.metadata(topic).values()}
    assert len(leaders) > 1, "the partitions should be led by more than one broker"
    producer = Producer(
        {"bootstrap.servers": cluster3.bootstrap_servers, "transactional.id": "ledger-writer"}
    )
    producer.init_transactions(60)
    for round_ in range(4):
        producer.begin_transaction()
        for p in range(3):
            producer.produce(topic, f"{round_}-{p}".encode(), partition=p)
        if round_ % 2:
            producer.abort_transaction(60)
        else:
            producer.commit_transaction(60)
    values = read_committed(cluster3.bootstrap_servers, topic, 3, expected=6)
    assert sorted(values) == sorted(f"{r}-{p}".encode() for r in (0, 2) for p in range(3))
