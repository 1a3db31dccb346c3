"""Transactions across brokers: the coordinator sends WriteTxnMarkers to each partition's leader."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from kio.schema.errors import ErrorCode

from riverlog.testing.cluster import LocalCluster
from riverlog.testing.txn_v2 import TxnV2Producer

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


def test_transactions_v2_and_kip890_checks_reach_a_coordinator_on_another_broker(
    cluster3: LocalCluster,
) -> None:
    """Transactions V2 (KIP-890 part 2) and part 1's check, when the partitions' leaders are not
    the transaction coordinator: each leader asks the coordinator's broker with AddPartitionsToTxn
    v5 (an add for V2 clients, a verify_only check for V1 ones)."""
    topic = "ledger-v2"
    cluster3.create_topic(topic, partitions=3, replication_factor=3)
    first = cluster3.broker(1)
    txn = TxnV2Producer((first.host, first.port), "v2-ledger")
    assert txn.init() is ErrorCode.none
    coordinator_port = txn.coordinator()[1]
    by_port = {cluster3.broker(i).port: i for i in (1, 2, 3)}
    leaders = {p: state.leader for p, state in cluster3.metadata(topic).items()}
    remote = [p for p, leader in leaders.items() if leader != by_port[coordinator_port]]
    assert remote, f"leaders {leaders} spread over the brokers: some are not the coordinator"
    expected: list[bytes] = []
    for round_ in range(3):
        epoch = txn.producer_epoch
        for p in range(3):
            assert txn.send(topic, p, [f"{round_}-{p}".encode()]) is ErrorCode.none
        commit = round_ != 1
        if commit:
            expected += [f"{round_}-{p}".encode() for p in range(3)]
        assert txn.end(commit) == (ErrorCode.none, txn.producer_id, epoch + 1)
    values = read_committed(cluster3.bootstrap_servers, topic, 3, expected=len(expected))
    assert sorted(values) == sorted(expected)
    # A V1 client's produce to a remote-led partition it never added: refused by the check.
    assert txn.send(topic, remote[0], [b"unadded"], version=11) is ErrorCode.invalid_txn_state
    # The old epoch after a commit: fenced on the remote-led partition by the bumped marker.
    late = txn.batch(topic, remote[0], [b"late"])
    assert txn.send(topic, remote[0], [b"ok"]) is ErrorCode.none
    assert txn.end(commit=True)[0] is ErrorCode.none
    assert txn.send_batch(topic, remote[0], late) is ErrorCode.invalid_producer_epoch
    # __transaction_state carries transaction.state.log.min.isr (default 2) as its min ISR.
    config = cluster3.zk_json("/config/topics/__transaction_state")["config"]
    assert config["min.insync.replicas"] == "2"
