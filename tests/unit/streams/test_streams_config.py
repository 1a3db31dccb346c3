"""StreamsConfig: Kafka Streams' keys and defaults, client pass-through, refusal of unknown keys."""

from __future__ import annotations

import os
import tempfile

import pytest

from riverlog.common.configdef import ConfigError
from riverlog.streams.config import StreamsConfig

BASE = {"application.id": "app", "bootstrap.servers": "localhost:9092"}


def test_defaults_are_kafka_streams_defaults() -> None:
    config = StreamsConfig(BASE)
    assert config["processing.guarantee"] == "at_least_once"
    assert config["commit.interval.ms"] == 30000
    assert config["num.stream.threads"] == 1
    assert config["state.dir"] == os.path.join(tempfile.gettempdir(), "kafka-streams")
    assert config["statestore.cache.max.bytes"] == 10 * 1024 * 1024
    assert config["replication.factor"] == -1
    assert config["max.task.idle.ms"] == 0
    assert config["default.key.serde"] is None
    assert config["default.timestamp.extractor"] == "FailOnInvalidTimestamp"
    assert config["default.deserialization.exception.handler"] == "log-and-fail"


def test_commit_interval_is_100_under_eos_unless_set() -> None:
    eos = {**BASE, "processing.guarantee": "exactly_once_v2"}
    assert StreamsConfig(eos)["commit.interval.ms"] == 100
    assert StreamsConfig({**eos, "commit.interval.ms": "250"})["commit.interval.ms"] == 250


@pytest.mark.parametrize(
    ("props", "key"),
    [
        ({"no.such.key": "1"}, "no.such.key"),
        ({"producer.no.such.key": "1"}, "producer.no.such.key"),
        ({"main.consumer.max.poll.recordz": "1"}, "main.consumer.max.poll.recordz"),
        ({"processing.guarantee": "exactly_once"}, "processing.guarantee"),
        ({"num.stream.threads": "0"}, "num.stream.threads"),
        ({"commit.interval.ms": "soon"}, "commit.interval.ms"),
        (
            {"default.deserialization.exception.handler": "ignore"},
            "default.deserialization.exception.handler",
        ),
    ],
)
def test_bad_keys_and_values_are_refused_naming_the_key(props: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        StreamsConfig({**BASE, **props})
    assert caught.value.key == key
    assert key in str(caught.value)


def test_required_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        StreamsConfig({"bootstrap.servers": "x:1"})
    assert caught.value.key == "application.id"


def test_java_handler_class_names_map_to_behaviours() -> None:
    config = StreamsConfig(
        {
            **BASE,
            "default.deserialization.exception.handler": "org.apache.kafka.streams.errors.LogAndContinueExceptionHandler",
            "default.timestamp.extractor": "org.apache.kafka.streams.processor.WallclockTimestampExtractor",
        }
    )
    assert config["default.deserialization.exception.handler"] == "log-and-continue"
    assert config["default.timestamp.extractor"] == "WallclockTimestampExtractor"


def test_serde_objects_pass_through_unchanged() -> None:
    class Serde:
        def serializer(self) -> object:
            return self

        def deserializer(self) -> object:
            return self

    serde = Serde()
    assert StreamsConfig({**BASE, "default.value.serde": serde})["default.value.serde"] is serde


def test_client_configs_carry_streams_overrides_and_prefixes() -> None:
    config = StreamsConfig(
        {
            **BASE,
            "linger.ms": "5",
            "consumer.fetch.wait.max.ms": "50",
            "main.consumer.fetch.wait.max.ms": "20",
            "restore.consumer.fetch.min.bytes": "7",
            "global.consumer.max.partition.fetch.bytes": "65536",
            "producer.batch.size": "1000",
            "admin.socket.timeout.ms": "9000",
            "topic.min.insync.replicas": "2",
        }
    )
    main = config.main_consumer_configs("c")
    assert main["group.id"] == "app"
    assert main["enable.auto.commit"] is False
    assert main["auto.offset.reset"] == "earliest"
    assert main["partition.assignment.strategy"] == "cooperative-sticky"
    assert main["fetch.wait.max.ms"] == "20"  # main.consumer. beats consumer.
    assert "isolation.level" not in main
    restore = config.restore_consumer_configs("r")
    assert restore["fetch.wait.max.ms"] == "50"
    assert restore["fetch.min.bytes"] == "7"
    glob = config.global_consumer_configs("g")  # consumer. and global.consumer., not restore.
    assert glob["fetch.wait.max.ms"] == "50" and "fetch.min.bytes" not in glob
    assert glob["group.id"] == "app-global"
    assert glob["max.partition.fetch.bytes"] == "65536"
    assert "max.partition.fetch.bytes" not in main and "max.partition.fetch.bytes" not in restore
    producer = config.producer_configs("p", 1)
    assert producer["partitioner"] == "murmur2_random"
    assert producer["linger.ms"] == "5"  # the user's plain key beats Kafka Streams' default 100
    assert producer["batch.size"] == "1000"
    assert "transactional.id" not in producer
    assert config.admin_configs("a")["socket.timeout.ms"] == "9000"
    assert config.topic_configs() == {"min.insync.replicas": "2"}


def test_eos_client_configs() -> None:
    config = StreamsConfig({**BASE, "processing.guarantee": "exactly_once_v2"})
    producer = config.producer_configs("p", 2)
    assert producer["transactional.id"] == f"app-{config.process_id}-2"
    assert producer["enable.idempotence"] is True
    assert producer["transaction.timeout.ms"] == 10000
    assert config.main_consumer_configs("c")["isolation.level"] == "read_committed"
    assert config.restore_consumer_configs("r")["isolation.level"] == "read_committed"


def test_eos_refuses_read_uncommitted() -> None:
    with pytest.raises(ConfigError) as caught:
        StreamsConfig(
            {
                **BASE,
                "processing.guarantee": "exactly_once_v2",
                "consumer.isolation.level": "read_uncommitted",
            }
        )
    assert caught.value.key == "consumer.isolation.level"


def test_kip848_consumer_protocol_uses_the_range_server_assignor() -> None:
    config = StreamsConfig({**BASE, "main.consumer.group.protocol": "consumer"})
    main = config.main_consumer_configs("c")
    assert "partition.assignment.strategy" not in main
    assert main["group.remote.assignor"] == "range"
    assert config.group_protocol() == "consumer"
    assert StreamsConfig(BASE).group_protocol() is None


def test_eos_transaction_timeout_must_exceed_the_commit_interval() -> None:
    with pytest.raises(ConfigError) as caught:
        StreamsConfig(
            {
                **BASE,
                "processing.guarantee": "exactly_once_v2",
                "commit.interval.ms": 5000,
                "producer.transaction.timeout.ms": 1000,
            }
        )
    assert caught.value.key == "producer.transaction.timeout.ms"
