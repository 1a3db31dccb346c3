"""Three brokers on a real ZooKeeper: registration, replicated topics, acks=all, failover, min ISR.

The ZooKeeper layout checked here is Kafka's: /brokers/ids/N (ephemeral JSON with host, port and
endpoints), /controller ({"brokerid": N}), /brokers/topics/<t> (the assignment) and
/brokers/topics/<t>/partitions/<p>/state (leader, leader_epoch, isr, controller_epoch).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException
from kio.schema.errors import ErrorCode

from riverlog.testing.checker import AckRecorder, check, end_offset, read_all
from riverlog.testing.cluster import BrokerProcess, LocalCluster
from riverlog.testing.raw_produce import produce_one

pytestmark = pytest.mark.cluster

BROKERS = {1, 2, 3}


def produce_raw(broker: BrokerProcess, topic: str, partition: int, acks: int, value: bytes) -> Any:
    """One Produce with one record, straight to `broker`; returns the partition's response."""
    return produce_one(broker.host, broker.port, topic, partition, acks, value)


def assert_end_offset_not_behind(cluster: LocalCluster, topic: str, acknowledged_end: int) -> None:
    """KIP-207: a new leader answers OFFSET_NOT_AVAILABLE until its high watermark has caught up; it
    never reports an end offset below what its predecessor had acknowledged."""
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "kip-207"})
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                reported = end_offset(consumer, topic, 0, timeout=5)
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() == KafkaError.OFFSET_NOT_AVAILABLE:
                    return
                if not error.retriable() or time.monotonic() > deadline:
                    raise
                continue  # metadata still names the dead leader
            assert reported >= acknowledged_end, "the new leader's end offset went backwards"
            return
    finally:
        consumer.close()


def test_brokers_register_and_metadata_lists_them(shared_cluster3: LocalCluster) -> None:
    assert shared_cluster3.registered_broker_ids() == sorted(BROKERS)
    for broker in shared_cluster3.brokers:
        registration = shared_cluster3.zk_json(f"/brokers/ids/{broker.broker_id}")
        assert (registration["host"], registration["port"]) == ("127.0.0.1", broker.port)
        assert f"PLAINTEXT://127.0.0.1:{broker.port}" in registration["endpoints"]
    controller = shared_cluster3.controller_id()
    assert controller in BROKERS
    for broker in shared_cluster3.brokers:
        seen = broker.metadata([])
        assert seen.brokers == {b.broker_id: ("127.0.0.1", b.port) for b in shared_cluster3.brokers}
        assert seen.controller_id == controller


def test_a_topic_with_replication_factor_3_has_a_leader_and_a_full_isr(
    shared_cluster3: LocalCluster, topic_name: str
) -> None:
    partitions = shared_cluster3.create_topic(topic_name, partitions=3, replication_factor=3)
    assert sorted(partitions) == [0, 1, 2]
    for state in partitions.values():
        assert sorted(state.replicas) == sorted(BROKERS)
        assert state.leader in state.replicas
        assert sorted(state.isr) == sorted(BROKERS)
        assert state.offline_replicas == ()
    # Kafka spreads the preferred (first) replicas: on three brokers each leads one partition.
    assert {state.replicas[0] for state in partitions.values()} == BROKERS

    assignment = shared_cluster3.zk_json(f"/brokers/topics/{topic_name}")
    assert {int(p): tuple(r) for p, r in assignment["partitions"].items()} == {
        p: state.replicas for p, state in partitions.items()
    }
    for p, state in partitions.items():
        zk_state = shared_cluster3.partition_state(topic_name, p)
        assert zk_state["leader"] == state.leader
        assert zk_state["leader_epoch"] == state.leader_epoch
        assert sorted(zk_state["isr"]) == sorted(BROKERS)


def test_acks_all_records_are_read_back(shared_cluster3: LocalCluster, topic_name: str) -> None:
    shared_cluster3.create_topic(topic_name, partitions=3, replication_factor=3)
    producer = AckRecorder(shared_cluster3.bootstrap_servers, topic_name)
    producer.produce_values(300)
    assert producer.flush(30) == 0
    assert not producer.refused, producer.refused
    result = check(producer.acked, read_all(shared_cluster3.bootstrap_servers, topic_name))
    assert result.ok, result.summary()
    assert result.acknowledged == 300


def test_killing_a_leader_elects_a_new_one_from_the_isr_without_loss(
    cluster3: LocalCluster, topic_name: str, failover_timeout: float
) -> None:
    before = cluster3.create_topic(topic_name, partitions=3, replication_factor=3)[0]
    producer = AckRecorder(cluster3.bootstrap_servers, topic_name)
    producer.produce_values(200)
    assert producer.flush(30) == 0

    acked_in_0 = [a.offset for a in producer.acked if a.partition == 0]

    cluster3.broker(before.leader).kill()
    killed_at = time.monotonic()
    producer.produce_values(200)  # sent during the failover: librdkafka retries them
    leader = cluster3.wait_for_leader(
        topic_name, 0, exclude={before.leader}, timeout=failover_timeout
    )
    print(f"new leader {leader} after {time.monotonic() - killed_at:.1f} s")
    assert leader in before.isr
    assert_end_offset_not_behind(cluster3, topic_name, max(acked_in_0, default=-1) + 1)
    after = cluster3.metadata(topic_name)[0]
    assert after.leader_epoch > before.leader_epoch
    assert before.leader not in after.isr

    assert producer.flush(60) == 0
    assert not producer.refused, producer.refused
    result = check(producer.acked, read_all(cluster3.bootstrap_servers, topic_name))
    assert result.ok, result.summary()
    assert result.acknowledged == 400


def test_too_few_in_sync_replicas_refuse_acks_all_writes(
    cluster3: LocalCluster, topic_name: str, failover_timeout: float
) -> None:
    state = cluster3.create_topic(
        topic_name, partitions=1, replication_factor=3, config={"min.insync.replicas": "2"}
    )[0]
    producer = AckRecorder(cluster3.bootstrap_servers, topic_name)
    producer.produce_values(20)
    assert producer.flush(30) == 0
    assert len(producer.acked) == 20

    # Kill both followers: the leader stays, alone in the ISR.
    leader = cluster3.broker(state.leader)
    followers = [b for b in cluster3.brokers if b is not leader]
    for follower in followers:
        follower.kill()
    cluster3.wait_for_isr(topic_name, 0, {leader.broker_id}, timeout=failover_timeout)

    refused = produce_raw(leader, topic_name, 0, acks=-1, value=b"refused-raw")
    assert refused.error_code == ErrorCode.not_enough_replicas
    accepted = produce_raw(
        leader, topic_name, 0, acks=1, value=b"acks-1"
    )  # min ISR is for acks=all
    assert accepted.error_code == ErrorCode.none

    refused_producer = AckRecorder(
        leader.bootstrap, topic_name, config={"message.timeout.ms": 1500}
    )
    refused_values = set(refused_producer.produce_values(5))
    assert refused_producer.flush(30) == 0
    assert refused_producer.acked == []
    assert sum(refused_producer.refused.values()) == 5

    read = read_all(leader.bootstrap, topic_name)
    result = check(producer.acked, read)
    assert result.ok, result.summary()
    assert {r.value for r in read} & (refused_values | {b"refused-raw"}) == set()
    assert b"acks-1" in {r.value for r in read}

    # One follower back: it catches up, rejoins the ISR, and acks=all writes succeed again.
    followers[0].start()
    cluster3.wait_for_isr(
        topic_name, 0, {leader.broker_id, followers[0].broker_id}, timeout=failover_timeout
    )
    assert produce_raw(leader, topic_name, 0, acks=-1, value=b"after").error_code == ErrorCode.none
