"""Sink connector offsets over REST: the committed offsets of the consumer group `connect-<name>`,
shown, altered and reset as Kafka Connect does (KIP-875): partitions as
`{"kafka_topic": t, "kafka_partition": p}`, offsets as `{"kafka_offset": o}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient

from riverlog.connect.errors import ConnectRestError
from riverlog.connect.worker import Worker


def _group(name: str) -> str:
    return f"connect-{name}"


def _admin(worker: Worker) -> AdminClient:
    return AdminClient(worker.admin_config())


def sink_offsets(worker: Worker, name: str) -> list[dict[str, Any]]:
    admin = _admin(worker)
    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(_group(name))])
    result = futures[_group(name)].result(10)
    out = []
    for tp in sorted(result.topic_partitions or [], key=lambda t: (t.topic, t.partition)):
        if tp.offset >= 0:
            out.append(
                {
                    "partition": {"kafka_topic": tp.topic, "kafka_partition": tp.partition},
                    "offset": {"kafka_offset": tp.offset},
                }
            )
    return out


def alter_sink_offsets(worker: Worker, name: str, offsets: list[Mapping[str, Any]]) -> None:
    to_alter: list[KafkaTopicPartition] = []
    to_reset: list[KafkaTopicPartition] = []
    for entry in offsets:
        partition, offset = entry.get("partition") or {}, entry.get("offset")
        topic, part = partition.get("kafka_topic"), partition.get("kafka_partition")
        if not isinstance(topic, str) or not isinstance(part, int):
            raise ConnectRestError(
                400,
                "Sink connector partitions must contain 'kafka_topic' (string) and 'kafka_partition' (integer)",
            )
        if offset is None:
            to_reset.append(KafkaTopicPartition(topic, part))
            continue
        value = offset.get("kafka_offset") if isinstance(offset, dict) else None
        if not isinstance(value, int) or value < 0:
            raise ConnectRestError(
                400, "Sink connector offsets must contain 'kafka_offset' (non-negative integer)"
            )
        to_alter.append(KafkaTopicPartition(topic, part, value))
    admin = _admin(worker)
    if to_alter:
        admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(_group(name), to_alter)])[
            _group(name)
        ].result(10)
    if to_reset:
        _delete_offsets(admin, name, to_reset)


def reset_sink_offsets(worker: Worker, name: str) -> None:
    admin = _admin(worker)
    futures = admin.delete_consumer_groups([_group(name)])
    try:
        futures[_group(name)].result(10)
    except Exception as exc:
        if "GROUP_ID_NOT_FOUND" not in str(exc):
            raise ConnectRestError(
                500, f"Failed to reset offsets of the sink connector {name}: {exc}"
            ) from None


def _delete_offsets(admin: AdminClient, name: str, tps: list[KafkaTopicPartition]) -> None:
    # confluent-kafka has no OffsetDelete API: an offset of "reset" is written as the earliest position.
    earliest = [KafkaTopicPartition(tp.topic, tp.partition, 0) for tp in tps]
    admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(_group(name), earliest)])[
        _group(name)
    ].result(10)
