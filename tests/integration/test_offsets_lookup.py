"""ListOffsets (max timestamp) and OffsetForLeaderEpoch against a real broker."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from kio.schema.errors import ErrorCode

from riverlog.broker.responses import request_schema
from riverlog.testing import wire
from riverlog.testing.broker import RunningBroker


def test_list_offsets_max_timestamp(broker: RunningBroker, make_topic) -> None:
    topic = make_topic()
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i, ts in enumerate([5_000, 9_000, 7_000, 8_000]):
        producer.produce(topic, value=f"{i}".encode(), timestamp=ts)
        producer.flush(10)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    tp = TopicPartition(topic, 0)
    result = admin.list_offsets({tp: OffsetSpec.max_timestamp()})[tp].result(10)
    assert (result.offset, result.timestamp) == (1, 9_000)
    latest = admin.list_offsets({tp: OffsetSpec.latest()})[tp].result(10)
    assert latest.offset == 4
    by_time = admin.list_offsets({tp: OffsetSpec.for_timestamp(6_000)})[tp].result(10)
    assert by_time.offset == 1


def _epoch_request(topic: str, epoch: int, current: int = -1) -> Any:
    schema = request_schema(23, 4)
    return schema.OffsetForLeaderEpochRequest(
        replica_id=-1,
        topics=(
            schema.OffsetForLeaderTopic(
                topic=topic,
                partitions=(
                    schema.OffsetForLeaderPartition(
                        partition=0, current_leader_epoch=current, leader_epoch=epoch
                    ),
                ),
            ),
        ),
    )


def test_offset_for_leader_epoch(broker: RunningBroker, make_topic) -> None:
    topic = make_topic()
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i in range(5):
        producer.produce(topic, value=f"{i}".encode())
    producer.flush(10)
    (answer,) = wire.call(broker.port, _epoch_request(topic, 0)).topics[0].partitions
    assert answer.error_code == ErrorCode.none
    # Single node: epoch 0 is the current epoch, so its end is the log end offset.
    assert (answer.leader_epoch, answer.end_offset) == (0, 5)
    (fenced,) = wire.call(broker.port, _epoch_request(topic, 0, current=7)).topics[0].partitions
    assert fenced.error_code == ErrorCode.unknown_leader_epoch
    (unknown,) = wire.call(broker.port, _epoch_request("no-such-topic", 0)).topics[0].partitions
    assert unknown.error_code == ErrorCode.unknown_topic_or_partition
