"""Admin APIs against a real riverlog broker, with confluent-kafka's AdminClient and kafka-python's
KafkaAdminClient: topics, partitions, configs (topic and broker), records, cluster and log dirs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import KafkaAdminClient
from kafka.errors import (
    InvalidConfigurationError,
    InvalidPartitionsError,
    TopicAlreadyExistsError,
    UnknownTopicIdError,
)
from kio.schema.errors import ErrorCode

from riverlog.broker.responses import request_schema
from riverlog.testing import wire
from riverlog.testing.broker import RunningBroker


def unique(prefix: str = "adm") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def admin(broker: RunningBroker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap_servers})


@pytest.fixture
def kp_admin(broker: RunningBroker) -> Any:
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers, request_timeout_ms=10_000)
    yield client
    client.close()


def kafka_error(future: Future[Any]) -> int:
    """The broker's error code for a failed admin future (fails the test if it succeeded)."""
    with pytest.raises(KafkaException) as raised:
        future.result(timeout=10)
    error: KafkaError = raised.value.args[0]
    return error.code()


def topic_names(admin: AdminClient) -> set[str]:
    return set(admin.list_topics(timeout=10).topics)


def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    for i in range(count):
        producer.produce(topic, value=f"v{i}".encode(), partition=0)
    assert producer.flush(15) == 0


def topic_configs(admin: AdminClient, topic: str) -> dict[str, ConfigEntry]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    result: dict[str, ConfigEntry] = admin.describe_configs([resource])[resource].result(10)
    return result


# --- CreateTopics ---


def test_create_topic_with_configs(admin: AdminClient) -> None:
    name = unique()
    topic = NewTopic(name, num_partitions=3, replication_factor=1, config={"retention.ms": "60000"})
    assert admin.create_topics([topic])[name].result(10) is None
    metadata = admin.list_topics(name, timeout=10).topics[name]
    assert sorted(metadata.partitions) == [0, 1, 2]
    assert topic_configs(admin, name)["retention.ms"].value == "60000"


def test_create_validate_only_creates_nothing(admin: AdminClient) -> None:
    name = unique()
    futures = admin.create_topics([NewTopic(name, 2, 1)], validate_only=True)
    assert futures[name].result(10) is None
    assert name not in topic_names(admin)


@pytest.mark.parametrize(
    ("topic", "code"),
    [
        (NewTopic("bad name!", 1, 1), KafkaError.TOPIC_EXCEPTION),
        (NewTopic("x" * 250, 1, 1), KafkaError.TOPIC_EXCEPTION),
        (NewTopic(unique(), 1, 3), KafkaError.INVALID_REPLICATION_FACTOR),
        (NewTopic(unique(), 1, 1, config={"no.such.config": "1"}), KafkaError.INVALID_CONFIG),
        (NewTopic(unique(), 1, 1, config={"retention.ms": "soon"}), KafkaError.INVALID_CONFIG),
        (NewTopic(unique(), 1, 1, config={"cleanup.policy": "shred"}), KafkaError.INVALID_CONFIG),
    ],
)
def test_create_errors(admin: AdminClient, topic: NewTopic, code: int) -> None:
    assert kafka_error(admin.create_topics([topic])[topic.topic]) == code
    assert topic.topic not in topic_names(admin)


def test_create_existing_topic(admin: AdminClient, make_topic: Callable[..., str]) -> None:
    name = make_topic()
    assert kafka_error(admin.create_topics([NewTopic(name, 1, 1)])[name]) == (
        KafkaError.TOPIC_ALREADY_EXISTS
    )


def test_kafka_python_create_topics(kp_admin: Any) -> None:
    name = unique()
    result = kp_admin.create_topics(
        {
            name: {
                "num_partitions": 2,
                "replication_factor": 1,
                "configs": {"segment.bytes": "1048576"},
            }
        },
        validate_only=True,
    )
    assert result["topics"][0]["error_code"] == 0
    assert name not in kp_admin.list_topics()
    kp_admin.create_topics({name: {"num_partitions": 2, "replication_factor": 1}})
    assert name in kp_admin.list_topics()
    with pytest.raises(TopicAlreadyExistsError):
        kp_admin.create_topics({name: {"num_partitions": 1, "replication_factor": 1}})
    with pytest.raises(InvalidConfigurationError):
        kp_admin.create_topics({unique(): {"configs": {"min.insync.replicas": "0"}}})


# --- DeleteTopics ---


def test_delete_topic_by_name(admin: AdminClient, make_topic: Callable[..., str]) -> None:
    name = make_topic()
    assert admin.delete_topics([name])[name].result(10) is None
    assert name not in topic_names(admin)
    missing = unique()
    assert kafka_error(admin.delete_topics([missing])[missing]) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_delete_topic_by_id(kp_admin: Any, make_topic: Callable[..., str]) -> None:
    name = make_topic()
    (described,) = kp_admin.describe_topics([name])
    topic_id = uuid.UUID(str(described["topic_id"]))
    result = kp_admin.delete_topics([topic_id])
    assert [(t["name"], t["error_code"]) for t in result["topics"]] == [(name, 0)]
    assert name not in kp_admin.list_topics()
    with pytest.raises(UnknownTopicIdError):
        kp_admin.delete_topics([uuid.uuid4()])


# --- CreatePartitions ---


def test_create_partitions(admin: AdminClient, make_topic: Callable[..., str]) -> None:
    name = make_topic(partitions=1)
    futures = admin.create_partitions([NewPartitions(name, 4)], validate_only=True)
    assert futures[name].result(10) is None
    assert len(admin.list_topics(name, timeout=10).topics[name].partitions) == 1
    assert admin.create_partitions([NewPartitions(name, 3, [[0], [0]])])[name].result(10) is None
    assert len(admin.list_topics(name, timeout=10).topics[name].partitions) == 3
    shrink = admin.create_partitions([NewPartitions(name, 2)])[name]
    assert kafka_error(shrink) == KafkaError.INVALID_PARTITIONS


def test_kafka_python_create_partitions(kp_admin: Any, make_topic: Callable[..., str]) -> None:
    name = make_topic(partitions=2)
    kp_admin.create_partitions({name: 5})
    (described,) = kp_admin.describe_topics([name])
    assert len(described["partitions"]) == 5
    with pytest.raises(InvalidPartitionsError):
        kp_admin.create_partitions({name: 5})


# --- DescribeConfigs / AlterConfigs / IncrementalAlterConfigs ---


def test_describe_topic_configs(admin: AdminClient, make_topic: Callable[..., str]) -> None:
    name = make_topic(config={"retention.ms": "123456"})
    configs = topic_configs(admin, name)
    assert configs["retention.ms"].value == "123456"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["cleanup.policy"].value == "delete"
    assert configs["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["cleanup.policy"].is_default
    assert not configs["cleanup.policy"].is_read_only


def test_describe_unknown_topic(admin: AdminClient) -> None:
    resource = ConfigResource(ResourceType.TOPIC, unique())
    assert kafka_error(admin.describe_configs([resource])[resource]) == (
        KafkaError.UNKNOWN_TOPIC_OR_PART
    )


def test_describe_broker_configs(admin: AdminClient) -> None:
    resource = ConfigResource(ResourceType.BROKER, "0")
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["num.partitions"].value == "1"
    assert configs["num.partitions"].is_read_only
    assert not configs["log.retention.ms"].is_read_only
    assert configs["listeners"].source == ConfigSource.STATIC_BROKER_CONFIG.value


def test_alter_configs_replaces_overrides(
    admin: AdminClient, make_topic: Callable[..., str]
) -> None:
    name = make_topic(config={"retention.ms": "1000", "segment.bytes": "1048576"})
    resource = ConfigResource(ResourceType.TOPIC, name, set_config={"retention.ms": "2000"})
    assert admin.alter_configs([resource])[resource].result(10) is None
    configs = topic_configs(admin, name)
    assert configs["retention.ms"].value == "2000"
    assert configs["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    bad = ConfigResource(ResourceType.TOPIC, name, set_config={"retention.ms": "x"})
    assert kafka_error(admin.alter_configs([bad])[bad]) == KafkaError.INVALID_CONFIG
    dry = ConfigResource(ResourceType.TOPIC, name, set_config={"retention.ms": "3000"})
    assert admin.alter_configs([dry], validate_only=True)[dry].result(10) is None
    assert topic_configs(admin, name)["retention.ms"].value == "2000"


def test_incremental_alter_configs(admin: AdminClient, make_topic: Callable[..., str]) -> None:
    name = make_topic(config={"retention.ms": "1000"})
    entries = [
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("max.message.bytes", "2048", incremental_operation=AlterConfigOpType.SET),
    ]
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)
    assert admin.incremental_alter_configs([resource])[resource].result(10) is None
    configs = topic_configs(admin, name)
    assert set(configs["cleanup.policy"].value.split(",")) == {"delete", "compact"}
    assert configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["max.message.bytes"].value == "2048"
    not_a_list = [ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.APPEND)]
    bad = ConfigResource(ResourceType.TOPIC, name, incremental_configs=not_a_list)
    assert kafka_error(admin.incremental_alter_configs([bad])[bad]) == KafkaError.INVALID_CONFIG


def test_kafka_python_configs(kp_admin: Any, make_topic: Callable[..., str]) -> None:
    name = make_topic()
    kp_admin.alter_configs([KpConfigResource("TOPIC", name, {"retention.ms": "7000"})])
    described = kp_admin.describe_configs([KpConfigResource("TOPIC", name)], include_synonyms=True)
    entry = described["topic"][name]["retention.ms"]
    assert entry["value"] == "7000"
    assert entry["config_source"] == "DYNAMIC_TOPIC_CONFIG"


def test_dynamic_broker_config(fresh_broker: RunningBroker) -> None:
    admin = AdminClient({"bootstrap.servers": fresh_broker.bootstrap_servers})
    entries = [
        ConfigEntry("log.retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)
    ]
    resource = ConfigResource(ResourceType.BROKER, "0", incremental_configs=entries)
    assert admin.incremental_alter_configs([resource])[resource].result(10) is None
    name = unique()
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(10)
    retention = topic_configs(admin, name)["retention.ms"]
    assert retention.value == "3600000"
    assert retention.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    fixed = [ConfigEntry("broker.id", "5", incremental_operation=AlterConfigOpType.SET)]
    refused = ConfigResource(ResourceType.BROKER, "0", incremental_configs=fixed)
    assert kafka_error(admin.incremental_alter_configs([refused])[refused]) == (
        KafkaError.INVALID_REQUEST
    )
    fresh_broker.restart()
    admin = AdminClient({"bootstrap.servers": fresh_broker.bootstrap_servers})
    assert topic_configs(admin, name)["retention.ms"].value == "3600000"


# --- DeleteRecords ---


def test_delete_records(
    broker: RunningBroker, admin: AdminClient, make_topic: Callable[..., str]
) -> None:
    name = make_topic()
    produce(broker.bootstrap_servers, name, 10)
    deleted = admin.delete_records([TopicPartition(name, 0, 4)])
    assert next(iter(deleted.values())).result(10).low_watermark == 4
    earliest = admin.list_offsets({TopicPartition(name, 0): OffsetSpec.earliest()})
    assert next(iter(earliest.values())).result(10).offset == 4
    too_far = admin.delete_records([TopicPartition(name, 0, 11)])
    assert kafka_error(next(iter(too_far.values()))) == KafkaError.OFFSET_OUT_OF_RANGE
    everything = admin.delete_records([TopicPartition(name, 0, -1)])
    assert next(iter(everything.values())).result(10).low_watermark == 10


def test_delete_records_on_compacted_topic(
    broker: RunningBroker, admin: AdminClient, make_topic: Callable[..., str]
) -> None:
    name = make_topic(config={"cleanup.policy": "compact"})
    produce(broker.bootstrap_servers, name, 1)
    refused = admin.delete_records([TopicPartition(name, 0, 1)])
    assert kafka_error(next(iter(refused.values()))) == KafkaError.POLICY_VIOLATION


# --- DescribeCluster / DescribeLogDirs ---


def test_describe_cluster(broker: RunningBroker, admin: AdminClient) -> None:
    # librdkafka answers describe_cluster from a Metadata request; the cluster must agree with it.
    result = admin.describe_cluster().result(10)
    assert result.cluster_id
    assert result.cluster_id == admin.list_topics(timeout=10).cluster_id
    assert [node.id for node in result.nodes] == [0]
    assert result.nodes[0].port == broker.port
    assert result.controller.id == 0


def raw_call(broker: RunningBroker, request: Any) -> Any:
    """One request over a plain socket, for APIs the Python clients do not send (DescribeCluster)."""
    return wire.call(broker.port, request)


@pytest.mark.parametrize("version", [0, 1, 2])
def test_describe_cluster_wire(broker: RunningBroker, version: int) -> None:
    schema = request_schema(60, version)
    request = schema.DescribeClusterRequest(
        include_cluster_authorized_operations=True, endpoint_type=1, include_fenced_brokers=True
    )
    body = raw_call(broker, request)
    assert body.error_code == ErrorCode.none
    assert [(b.broker_id, b.port) for b in body.brokers] == [(0, broker.port)]
    assert body.controller_id == 0
    assert body.cluster_authorized_operations > 0
    if version >= 1:
        controller = schema.DescribeClusterRequest(
            include_cluster_authorized_operations=False,
            endpoint_type=2,
            include_fenced_brokers=False,
        )
        assert raw_call(broker, controller).error_code == ErrorCode.mismatched_endpoint_type


def test_describe_log_dirs(
    broker: RunningBroker, kp_admin: Any, make_topic: Callable[..., str]
) -> None:
    name = make_topic(partitions=2)
    produce(broker.bootstrap_servers, name, 20)
    (per_broker,) = kp_admin.describe_log_dirs({name: [0, 1]})
    (log_dir,) = per_broker["log_dirs"]
    assert log_dir["error_code"] == 0
    assert log_dir["log_dir"] == str(broker.config.data_dir.absolute())
    assert log_dir["total_bytes"] >= log_dir["usable_bytes"] > 0
    (topic,) = [t for t in log_dir["topics"] if t["name"] == name]
    sizes = {p["partition_index"]: p["partition_size"] for p in topic["partitions"]}
    assert sizes[0] > 0
    assert sizes[1] == 0


def test_authorized_operations_through_metadata(admin: AdminClient, make_topic) -> None:
    """librdkafka answers describe_cluster/describe_topics from Metadata's operation bitfields."""
    from confluent_kafka import TopicCollection

    topic = make_topic()
    cluster = admin.describe_cluster(include_authorized_operations=True).result(10)
    assert cluster.authorized_operations and len(cluster.authorized_operations) == 7
    described = admin.describe_topics(TopicCollection([topic]), include_authorized_operations=True)
    ops = described[topic].result(10).authorized_operations
    assert ops and {op.name for op in ops} >= {"READ", "WRITE", "DESCRIBE"}
