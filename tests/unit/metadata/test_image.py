from __future__ import annotations

import uuid

from riverlog.metadata.image import (
    BROKER_RESOURCE,
    GROUP_RESOURCE,
    TOPIC_RESOURCE,
    ClusterImage,
    ConfigRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
    decode_record,
    encode_record,
    replay,
)


def _replay_all(records: list) -> ClusterImage:
    image = ClusterImage(cluster_id="c")
    for record in records:
        image = replay(image, decode_record(encode_record(record)))
    return image


def test_topic_lifecycle() -> None:
    tid = str(uuid.uuid4())
    image = _replay_all(
        [
            RegisterBrokerRecord(0, "localhost", 9092),
            TopicRecord("rides", tid),
            PartitionRecord(tid, 0, (0,), (0,), 0),
            PartitionRecord(tid, 1, (0,), (0,), 0),
            ConfigRecord(TOPIC_RESOURCE, "rides", "retention.ms", "1000"),
            ConfigRecord(BROKER_RESOURCE, "", "log.retention.ms", "5"),
            ProducerIdsRecord(1000),
        ]
    )
    topic = image.topic("rides")
    assert topic is not None and sorted(topic.partitions) == [0, 1]
    assert topic.configs == {"retention.ms": "1000"}
    assert image.topic_by_id(uuid.UUID(tid)) is topic
    assert image.broker_configs == {"log.retention.ms": "5"}
    assert image.next_producer_id == 1000
    assert image.brokers[0].port == 9092
    removed = replay(image, ConfigRecord(TOPIC_RESOURCE, "rides", "retention.ms", None))
    assert removed.topic("rides").configs == {}  # type: ignore[union-attr]
    gone = replay(image, RemoveTopicRecord(tid))
    assert gone.topic("rides") is None and uuid.UUID(tid) not in gone.topics_by_id
    # The old image is untouched: images are values.
    assert image.topic("rides") is topic


def test_producer_ids_never_go_backwards() -> None:
    image = _replay_all([ProducerIdsRecord(2000), ProducerIdsRecord(1000)])
    assert image.next_producer_id == 2000


def test_group_configs_replay_and_survive_the_record_codec() -> None:
    image = _replay_all(
        [
            ConfigRecord(GROUP_RESOURCE, "g", "consumer.session.timeout.ms", "50000"),
            ConfigRecord(GROUP_RESOURCE, "g", "consumer.heartbeat.interval.ms", "6000"),
            ConfigRecord(GROUP_RESOURCE, "h", "consumer.session.timeout.ms", "46000"),
            ConfigRecord(GROUP_RESOURCE, "g", "consumer.heartbeat.interval.ms", None),
            ConfigRecord(GROUP_RESOURCE, "h", "consumer.session.timeout.ms", None),
        ]
    )
    assert dict(image.group_configs) == {"g": {"consumer.session.timeout.ms": "50000"}}
    # A group config is not a topic config: no topic named "g" appears.
    assert image.topic("g") is None
