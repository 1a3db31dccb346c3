"""Admin APIs without sockets: TopicAdmin's validation, config entries, and each handler end to end
through the Dispatcher (request bytes in, response bytes out, decoded again with kio)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode
from kio.static.primitive import i32Timedelta

from riverlog.broker.admin.configs import (
    APPEND,
    DELETE,
    DYNAMIC_BROKER_CONFIGS,
    SET,
    SUBTRACT,
    _list_op,
)
from riverlog.broker.admin.topics import MAX_RECORDS_PER_OP, AdminError, TopicAdmin
from riverlog.broker.config import BrokerConfig
from riverlog.broker.handlers import (
    alter_configs,
    create_partitions,
    create_topics,
    delete_records,
    delete_topics,
    describe_cluster,
    describe_configs,
    describe_log_dirs,
    incremental_alter_configs,
)
from riverlog.broker.handlers._config_entries import (
    ConfigSource,
    ConfigType,
    broker_entries,
    topic_entries,
)
from riverlog.broker.metrics import BrokerMetrics
from riverlog.broker.network.dispatch import Dispatcher
from riverlog.broker.replication.fetch_manager import FetchManager
from riverlog.broker.replication.replica_manager import ReplicaManager
from riverlog.broker.responses import request_schema
from riverlog.metadata.image import (
    BROKER_RESOURCE,
    TOPIC_RESOURCE,
    ClusterImage,
    ConfigRecord,
    ImageHolder,
    MetadataRecord,
    RegisterBrokerRecord,
    TopicImage,
)
from riverlog.protocol.codec import decode_response, encode_request
from riverlog.storage.clock import SYSTEM_CLOCK
from riverlog.storage.errors import OffsetOutOfRangeError

TIMEOUT = i32Timedelta.parse(timedelta(seconds=30))
ZERO_UUID = uuid.UUID(int=0)


# --- fakes: a metadata store that keeps records in memory, partitions with fake logs ---


class MemoryStore:
    def __init__(self, image: ClusterImage) -> None:
        self.holder = ImageHolder(image)
        self.on_commit: list[Any] = []
        self.commits: list[list[MetadataRecord]] = []

    @property
    def image(self) -> ClusterImage:
        return self.holder.image

    def commit(self, records: Any) -> ClusterImage:
        for record in records:
            self.holder.apply(record)
        self.commits.append(list(records))
        for listener in self.on_commit:
            listener(self.image)
        return self.image


@dataclass
class FakeLogConfig:
    delete: bool = True


@dataclass
class FakeLog:
    log_start_offset: int = 0
    log_end_offset: int = 100
    high_watermark: int = 80
    size_in_bytes: int = 4096
    config: FakeLogConfig = field(default_factory=FakeLogConfig)

    def delete_records_before(self, offset: int) -> int:
        if offset > self.high_watermark:
            raise OffsetOutOfRangeError("beyond the high watermark")
        self.log_start_offset = max(self.log_start_offset, offset)
        return self.log_start_offset


@dataclass
class FakePartition:
    topic: str
    index: int
    log: FakeLog
    leader: int = 0
    leader_epoch: int = 0

    @property
    def key(self) -> tuple[str, int]:
        return (self.topic, self.index)

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset


@dataclass
class FakeReplicas:
    """The partitions without logs on disk; the leader check and DeleteRecords are ReplicaManager's."""

    partitions: dict[tuple[str, int], FakePartition] = field(default_factory=dict)
    broker_id: int = 0

    def get(self, topic: str, partition: int) -> FakePartition | None:
        return self.partitions.get((topic, partition))

    check_partition = ReplicaManager.check_partition
    delete_records = ReplicaManager.delete_records


@dataclass
class FakeServices:
    config: BrokerConfig
    metadata: MemoryStore
    topics: TopicAdmin
    replicas: FakeReplicas
    broker_id: int = 0
    metrics: BrokerMetrics = field(default_factory=BrokerMetrics)

    @property
    def image(self) -> ClusterImage:
        return self.metadata.image

    @property
    def fetches(self) -> FetchManager:
        return FetchManager(self.replicas, self.config, SYSTEM_CLOCK)  # type: ignore[arg-type]


def make_services(tmp_path: Path | None = None, brokers: int = 1, **settings: str) -> FakeServices:
    explicit = dict(settings)
    if tmp_path is not None:
        explicit["log.dirs"] = str(tmp_path)
    config = BrokerConfig(explicit=explicit)
    store = MemoryStore(ClusterImage(cluster_id="test-cluster", controller_id=0))
    store.commit([RegisterBrokerRecord(b, "localhost", 9092 + b) for b in range(brokers)])
    return FakeServices(config, store, TopicAdmin(store, config, 0), FakeReplicas())


def call(services: FakeServices, module: ModuleType, version: int, request: Any) -> Any:
    """Encode the request, dispatch it, decode the response: the whole wire path minus sockets."""
    dispatcher = Dispatcher(services, [module])  # type: ignore[arg-type]
    frame = encode_request(7, "test", request)[4:]
    answer = asyncio.run(dispatcher.handle(frame, "127.0.0.1"))
    assert answer is not None
    decoded = decode_response(answer[4:], module.API_KEY, version)
    assert decoded.correlation_id == 7
    return decoded.body


def rq(module: ModuleType, version: int) -> Any:
    return request_schema(module.API_KEY, version)


def create(admin: TopicAdmin, name: str, **kwargs: Any) -> TopicImage:
    result = admin.create_topic(name, **kwargs)
    assert isinstance(result, TopicImage), result
    return result


def error_code(result: object) -> ErrorCode:
    assert isinstance(result, AdminError), result
    return result.code


# --- TopicAdmin: create ---


def test_create_commits_partitions_and_configs() -> None:
    services = make_services(brokers=3)
    topic = create(
        services.topics, "orders", num_partitions=3, replication_factor=2,
        configs={"cleanup.policy": "compact"},
    )  # fmt: skip
    assert sorted(topic.partitions) == [0, 1, 2]
    assert all(len(p.replicas) == 2 for p in topic.partitions.values())
    assert topic.configs == {"cleanup.policy": "compact"}
    assert services.image.topic("orders") == topic


def test_validate_only_answers_the_topic_but_commits_nothing() -> None:
    services = make_services(**{"num.partitions": "4"})
    commits = len(services.metadata.commits)
    topic = create(services.topics, "dry", configs={"retention.ms": "1000"}, validate_only=True)
    assert len(topic.partitions) == 4
    assert topic.configs == {"retention.ms": "1000"}
    assert services.image.topic("dry") is None
    assert len(services.metadata.commits) == commits


@pytest.mark.parametrize("name", ["", ".", "..", "a" * 250, "has space", "slash/y", "é"])
def test_illegal_topic_names(name: str) -> None:
    services = make_services()
    assert error_code(services.topics.create_topic(name)) == ErrorCode.invalid_topic_exception


def test_existing_and_colliding_names() -> None:
    services = make_services()
    create(services.topics, "a.b")
    assert error_code(services.topics.create_topic("a.b")) == ErrorCode.topic_already_exists
    assert error_code(services.topics.create_topic("a_b")) == ErrorCode.invalid_topic_exception


@pytest.mark.parametrize(
    ("partitions", "rf", "code"),
    [
        (0, -1, ErrorCode.invalid_partitions),
        (-2, -1, ErrorCode.invalid_partitions),
        (1, 0, ErrorCode.invalid_replication_factor),
        (1, -3, ErrorCode.invalid_replication_factor),
        (1, 2, ErrorCode.invalid_replication_factor),
    ],
)
def test_bad_partition_counts_and_replication_factors(
    partitions: int, rf: int, code: ErrorCode
) -> None:
    result = make_services().topics.create_topic("t", partitions, rf)
    assert error_code(result) == code


@pytest.mark.parametrize(
    "configs",
    [
        {"no.such.config": "1"},
        {"retention.ms": "soon"},
        {"cleanup.policy": "x"},
        {"preallocate": None},
    ],
)
def test_bad_configs_are_invalid_config(configs: dict[str, str | None]) -> None:
    result = make_services().topics.create_topic("t", configs=configs)
    assert error_code(result) == ErrorCode.invalid_config


@pytest.mark.parametrize(
    ("assignments", "code"),
    [
        ({0: [0], 2: [1]}, ErrorCode.invalid_replica_assignment),
        ({0: []}, ErrorCode.invalid_replica_assignment),
        ({0: [1, 1]}, ErrorCode.invalid_replica_assignment),
        ({0: [9]}, ErrorCode.invalid_replica_assignment),
        ({0: [0, 1], 1: [1]}, ErrorCode.invalid_replica_assignment),
    ],
)
def test_bad_manual_assignments(assignments: dict[int, list[int]], code: ErrorCode) -> None:
    result = make_services(brokers=2).topics.create_topic("t", assignments=assignments)
    assert error_code(result) == code


def test_manual_assignment_with_counts_is_invalid_request() -> None:
    result = make_services().topics.create_topic("t", 1, -1, assignments={0: [0]})
    assert error_code(result) == ErrorCode.invalid_request


def test_manual_assignment_places_replicas() -> None:
    topic = create(make_services(brokers=2).topics, "t", assignments={0: [1, 0], 1: [0, 1]})
    assert topic.partitions[0].replicas == (1, 0)
    assert topic.partitions[0].leader == 1


def test_excessively_large_creation_is_policy_violation() -> None:
    result = make_services().topics.create_topic("t", MAX_RECORDS_PER_OP + 1)
    assert error_code(result) == ErrorCode.policy_violation


# --- TopicAdmin: delete, partitions ---


def test_delete_topic() -> None:
    services = make_services()
    create(services.topics, "gone")
    assert services.topics.delete_topic("gone") is None
    assert services.image.topic("gone") is None
    assert error_code(services.topics.delete_topic("gone")) == ErrorCode.unknown_topic_or_partition


def test_delete_disabled() -> None:
    services = make_services(**{"delete.topic.enable": "false"})
    create(services.topics, "kept")
    assert error_code(services.topics.delete_topic("kept")) == ErrorCode.topic_deletion_disabled


def test_create_partitions() -> None:
    services = make_services(brokers=2)
    create(services.topics, "grow", num_partitions=2, replication_factor=2)
    admin = services.topics
    assert error_code(admin.create_partitions("grow", 1)) == ErrorCode.invalid_partitions
    assert error_code(admin.create_partitions("grow", 2)) == ErrorCode.invalid_partitions
    assert error_code(admin.create_partitions("nope", 3)) == ErrorCode.unknown_topic_or_partition
    assert admin.create_partitions("grow", 5, validate_only=True) is None
    assert len(services.image.topics["grow"].partitions) == 2
    assert admin.create_partitions("grow", 3, [[1, 0]]) is None
    assert services.image.topics["grow"].partitions[2].replicas == (1, 0)


@pytest.mark.parametrize(
    "assignments", [[[0, 1]], [[0, 1], [0]], [[0, 1], [0, 0]], [[0, 1], [0, 7]]]
)
def test_create_partitions_bad_assignments(assignments: list[list[int]]) -> None:
    services = make_services(brokers=2)
    create(services.topics, "t", num_partitions=1, replication_factor=2)
    result = services.topics.create_partitions("t", 3, assignments)
    assert error_code(result) == ErrorCode.invalid_replica_assignment


# --- TopicAdmin: configs ---


def test_alter_topic_configs_replace_all_and_incremental() -> None:
    services = make_services()
    create(services.topics, "t", configs={"retention.ms": "1", "segment.bytes": "1000"})
    admin = services.topics
    assert admin.alter_topic_configs("t", {"retention.ms": "2"}, True, False) is None
    assert services.image.topics["t"].configs == {"retention.ms": "2"}
    ops = [("cleanup.policy", APPEND, "compact"), ("retention.ms", DELETE, None)]
    assert admin.incremental_alter_topic_configs("t", ops, False) is None
    assert services.image.topics["t"].configs == {"cleanup.policy": "delete,compact"}
    ops = [("cleanup.policy", SUBTRACT, "delete"), ("preallocate", SET, "true")]
    assert admin.incremental_alter_topic_configs("t", ops, False) is None
    assert services.image.topics["t"].configs == {
        "cleanup.policy": "compact",
        "preallocate": "true",
    }


@pytest.mark.parametrize(
    ("ops", "code"),
    [
        ([("retention.ms", APPEND, "5")], ErrorCode.invalid_config),
        ([("retention.ms", SET, "1"), ("retention.ms", DELETE, None)], ErrorCode.invalid_request),
        ([("retention.ms", SET, None)], ErrorCode.invalid_request),
        ([("retention.ms", 9, "1")], ErrorCode.invalid_request),
        ([("retention.ms", SET, "x")], ErrorCode.invalid_config),
        ([("no.such", DELETE, None)], ErrorCode.invalid_config),
        ([("cleanup.policy", APPEND, "shred")], ErrorCode.invalid_config),
    ],
)
def test_incremental_errors(ops: list[Any], code: ErrorCode) -> None:
    services = make_services()
    create(services.topics, "t")
    assert error_code(services.topics.incremental_alter_topic_configs("t", ops, False)) == code
    assert services.image.topics["t"].configs == {}


def test_alter_configs_null_and_unknown_topic() -> None:
    services = make_services()
    create(services.topics, "t")
    admin = services.topics
    assert error_code(admin.alter_topic_configs("t", {"retention.ms": None}, True, False)) == (
        ErrorCode.invalid_config
    )
    assert error_code(admin.alter_topic_configs("x", {}, True, False)) == (
        ErrorCode.unknown_topic_or_partition
    )


def test_validate_only_config_changes_commit_nothing() -> None:
    services = make_services()
    create(services.topics, "t")
    commits = len(services.metadata.commits)
    assert services.topics.alter_topic_configs("t", {"retention.ms": "5"}, True, True) is None
    assert services.topics.alter_broker_configs("", {"log.retention.ms": "5"}, False, True) is None
    assert len(services.metadata.commits) == commits


@given(
    st.lists(st.sampled_from("abcde"), unique=True),
    st.lists(st.sampled_from("abcdef"), unique=True, min_size=1),
)
def test_list_append_and_subtract(old: list[str], parts: list[str]) -> None:
    appended = _list_op(",".join(old), ",".join(parts), append=True).split(",")
    assert appended[: len(old)] == old
    assert set(appended) == set(old) | set(parts)
    assert len(appended) == len(set(appended))
    subtracted = _list_op(",".join(old), ",".join(parts), append=False)
    assert (subtracted.split(",") if subtracted else []) == [p for p in old if p not in parts]


def test_dynamic_broker_configs_reach_broker_config() -> None:
    services = make_services()
    admin, config = services.topics, services.config
    assert admin.alter_broker_configs("0", {"log.retention.ms": "1234"}, False, False) is None
    assert config.get("log.retention.ms") == 1234
    assert config.topic_default("retention.ms") == "1234"
    assert (
        admin.incremental_alter_broker_configs("", [("log.retention.ms", DELETE, None)], False)
        is None
    )
    assert config.dynamic == {}
    assert config.topic_default("retention.ms") == "604800000"


def test_dynamic_broker_configs_survive_a_restart() -> None:
    store = MemoryStore(ClusterImage(cluster_id="c"))
    store.commit([ConfigRecord(BROKER_RESOURCE, "", "log.segment.bytes", "2048")])
    config = BrokerConfig()
    TopicAdmin(store, config, 0)
    assert config.get("log.segment.bytes") == 2048


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        ("0", {"auto.create.topics.enable": "false"}),  # read-only in Kafka
        ("0", {"num.partitions": "3"}),  # read-only in Kafka
        ("0", {"no.such.config": "1"}),
        ("0", {"log.retention.ms": "later"}),
        ("1", {"log.retention.ms": "1"}),  # another broker
        ("x", {"log.retention.ms": "1"}),
    ],
)
def test_broker_config_refusals_are_invalid_request(name: str, changes: dict[str, str]) -> None:
    services = make_services()
    result = services.topics.alter_broker_configs(name, changes, False, False)
    assert error_code(result) == ErrorCode.invalid_request
    assert services.config.dynamic == {}


def test_broker_configs_replace_all() -> None:
    services = make_services()
    admin = services.topics
    admin.alter_broker_configs(
        "", {"log.retention.ms": "1", "log.segment.bytes": "4096"}, True, False
    )
    admin.alter_broker_configs("", {"log.segment.bytes": "8192"}, True, False)
    assert services.config.dynamic == {"log.segment.bytes": "8192"}


def test_dynamic_broker_configs_are_log_defaults_only() -> None:
    assert "log.retention.ms" in DYNAMIC_BROKER_CONFIGS
    assert "log.cleanup.policy" in DYNAMIC_BROKER_CONFIGS
    assert "log.retention.hours" not in DYNAMIC_BROKER_CONFIGS
    assert "broker.id" not in DYNAMIC_BROKER_CONFIGS


# --- config entries (values, sources, synonyms, types) ---


def entries_by_name(entries: list[Any]) -> dict[str, Any]:
    return {e.name: e for e in entries}


def test_topic_entries_sources_and_synonyms() -> None:
    config = BrokerConfig(explicit={"log.segment.bytes": "2048", "log.retention.hours": "24"})
    config.set_dynamic("log.cleanup.policy", "compact")
    entries = entries_by_name(topic_entries(config, {"max.message.bytes": "100"}))
    override = entries["max.message.bytes"]
    assert (override.value, override.source) == ("100", ConfigSource.TOPIC_CONFIG)
    assert [(s.name, s.source) for s in override.synonyms] == [
        ("max.message.bytes", ConfigSource.TOPIC_CONFIG),
        ("message.max.bytes", ConfigSource.DEFAULT_CONFIG),
    ]
    static = entries["segment.bytes"]
    assert (static.value, static.source) == ("2048", ConfigSource.STATIC_BROKER_CONFIG)
    dynamic = entries["cleanup.policy"]
    assert (dynamic.value, dynamic.source) == (
        "compact",
        ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
    )
    assert [s.source for s in dynamic.synonyms] == [
        ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
        ConfigSource.DEFAULT_CONFIG,
    ]
    # Kafka drops synonyms before the primary broker name: log.retention.hours does not show.
    retention = entries["retention.ms"]
    assert (retention.value, retention.source, retention.synonyms) == (
        str(24 * 3_600_000), ConfigSource.DEFAULT_CONFIG, (),
    )  # fmt: skip
    assert entries["preallocate"].source == ConfigSource.DEFAULT_CONFIG
    assert not any(e.read_only or e.is_sensitive for e in entries.values())


def test_config_types() -> None:
    entries = entries_by_name(topic_entries(BrokerConfig(), {}))
    types = {name: entries[name].config_type for name in entries}
    assert types["cleanup.policy"] == ConfigType.LIST
    assert types["retention.ms"] == ConfigType.LONG
    assert types["segment.bytes"] == ConfigType.INT
    assert types["preallocate"] == ConfigType.BOOLEAN
    assert types["min.cleanable.dirty.ratio"] == ConfigType.DOUBLE
    assert types["compression.type"] == ConfigType.STRING
    broker = entries_by_name(broker_entries(BrokerConfig(), per_broker=True))
    assert broker["offsets.topic.replication.factor"].config_type == ConfigType.SHORT
    assert broker["log.retention.hours"].config_type == ConfigType.INT
    assert broker["listeners"].config_type == ConfigType.STRING


def test_broker_entries() -> None:
    config = BrokerConfig(explicit={"num.partitions": "3"})
    config.set_dynamic("log.retention.ms", "1000")
    every = entries_by_name(broker_entries(config, per_broker=True))
    assert (every["num.partitions"].value, every["num.partitions"].source) == (
        "3", ConfigSource.STATIC_BROKER_CONFIG,
    )  # fmt: skip
    assert every["num.partitions"].read_only
    assert not every["log.retention.ms"].read_only
    assert every["log.retention.ms"].source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
    assert every["log.roll.ms"].value is None
    assert every["auto.create.topics.enable"].value == "true"
    hours = every["log.retention.hours"]
    assert [(s.name, s.source) for s in hours.synonyms] == [
        ("log.retention.hours", ConfigSource.DEFAULT_CONFIG)
    ]
    defaults = broker_entries(config, per_broker=False)
    assert [(e.name, e.value) for e in defaults] == [("log.retention.ms", "1000")]


# --- handlers through the dispatcher ---


def creatable(r: Any, name: str, partitions: int = 1, rf: int = 1, **kw: Any) -> Any:
    return r.CreatableTopic(
        name=name,
        num_partitions=partitions,
        replication_factor=rf,
        assignments=tuple(kw.get("assignments", ())),
        configs=tuple(
            r.CreatableTopicConfig(name=k, value=v) for k, v in kw.get("configs", {}).items()
        ),
    )


@pytest.mark.parametrize("version", [2, 4, 5, 7])
def test_create_topics_handler(version: int) -> None:
    services = make_services()
    r = rq(create_topics, version)
    request = r.CreateTopicsRequest(
        timeout=TIMEOUT,
        validate_only=False,
        topics=(
            creatable(r, "good", 2, configs={"retention.ms": "1000"}),
            creatable(r, "dup"),
            creatable(r, "dup"),
            creatable(r, "bad name"),
            creatable(r, "too-many-replicas", 1, 3),
            creatable(r, "bad-config", configs={"retention.ms": "x"}),
        ),
    )
    body = call(services, create_topics, version, request)
    results = {t.name: t for t in body.topics}
    assert [t.name for t in body.topics] == [
        "good",
        "dup",
        "bad name",
        "too-many-replicas",
        "bad-config",
    ]
    assert results["good"].error_code == ErrorCode.none
    assert results["dup"].error_code == ErrorCode.invalid_request
    assert results["bad name"].error_code == ErrorCode.invalid_topic_exception
    assert results["too-many-replicas"].error_code == ErrorCode.invalid_replication_factor
    assert results["bad-config"].error_code == ErrorCode.invalid_config
    assert results["bad-config"].error_message
    assert services.image.topic("dup") is None
    good = services.image.topic("good")
    assert good is not None and len(good.partitions) == 2
    if version >= 5:
        assert (results["good"].num_partitions, results["good"].replication_factor) == (2, 1)
        configs = {c.name: c for c in results["good"].configs}
        assert configs["retention.ms"].value == "1000"
        assert configs["retention.ms"].config_source == ConfigSource.TOPIC_CONFIG
        assert configs["cleanup.policy"].config_source == ConfigSource.DEFAULT_CONFIG
        assert results["bad name"].num_partitions == -1
    if version >= 7:
        assert results["good"].topic_id == good.topic_id


def test_create_topics_validate_only_and_assignments() -> None:
    services = make_services(brokers=2)
    r = rq(create_topics, 7)
    assignment = (r.CreatableReplicaAssignment(partition_index=0, broker_ids=(1, 0)),)
    request = r.CreateTopicsRequest(
        timeout=TIMEOUT,
        validate_only=True,
        topics=(creatable(r, "planned", -1, -1, assignments=assignment),),
    )
    body = call(services, create_topics, 7, request)
    (result,) = body.topics
    assert (result.error_code, result.num_partitions, result.replication_factor) == (
        ErrorCode.none, 1, 2,
    )  # fmt: skip
    assert services.image.topic("planned") is None


@pytest.mark.parametrize("version", [1, 4, 5])
def test_delete_topics_by_name(version: int) -> None:
    services = make_services()
    create(services.topics, "a")
    r = rq(delete_topics, version)
    body = call(
        services,
        delete_topics,
        version,
        r.DeleteTopicsRequest(topic_names=("a", "b"), timeout=TIMEOUT),
    )
    assert [(t.name, t.error_code) for t in body.responses] == [
        ("a", ErrorCode.none),
        ("b", ErrorCode.unknown_topic_or_partition),
    ]
    assert services.image.topic("a") is None


def test_delete_topics_by_id() -> None:
    services = make_services()
    a = create(services.topics, "a")
    create(services.topics, "b")
    r = rq(delete_topics, 6)
    unknown = uuid.uuid4()
    states = (
        r.DeleteTopicState(name=None, topic_id=a.topic_id),
        r.DeleteTopicState(name=None, topic_id=unknown),
        r.DeleteTopicState(name="b", topic_id=ZERO_UUID),
        r.DeleteTopicState(name="b", topic_id=unknown),
        r.DeleteTopicState(name=None, topic_id=ZERO_UUID),
    )
    body = call(services, delete_topics, 6, r.DeleteTopicsRequest(topics=states, timeout=TIMEOUT))
    got = [(t.name, t.error_code) for t in body.responses]
    assert got == [
        ("a", ErrorCode.none),
        (None, ErrorCode.unknown_topic_id),
        ("b", ErrorCode.none),
        ("b", ErrorCode.invalid_request),
        (None, ErrorCode.invalid_request),
    ]
    assert body.responses[0].topic_id == a.topic_id
    assert services.image.topics == {}


@pytest.mark.parametrize(
    ("version", "code"), [(2, ErrorCode.invalid_request), (3, ErrorCode.topic_deletion_disabled)]
)
def test_delete_topics_disabled(version: int, code: ErrorCode) -> None:
    services = make_services(**{"delete.topic.enable": "false"})
    create(services.topics, "a")
    r = rq(delete_topics, version)
    body = call(
        services, delete_topics, version, r.DeleteTopicsRequest(topic_names=("a",), timeout=TIMEOUT)
    )
    assert [t.error_code for t in body.responses] == [code]
    assert services.image.topic("a") is not None


@pytest.mark.parametrize("version", [0, 3])
def test_create_partitions_handler(version: int) -> None:
    services = make_services()
    create(services.topics, "t")
    r = rq(create_partitions, version)
    topics = (
        r.CreatePartitionsTopic(name="t", count=3, assignments=None),
        r.CreatePartitionsTopic(name="u", count=3, assignments=None),
        r.CreatePartitionsTopic(name="v", count=2, assignments=None),
        r.CreatePartitionsTopic(name="v", count=3, assignments=None),
    )
    request = r.CreatePartitionsRequest(topics=topics, timeout=TIMEOUT, validate_only=False)
    body = call(services, create_partitions, version, request)
    assert [(t.name, t.error_code) for t in body.results] == [
        ("t", ErrorCode.none),
        ("u", ErrorCode.unknown_topic_or_partition),
        ("v", ErrorCode.invalid_request),
    ]
    assert len(services.image.topics["t"].partitions) == 3


def describe(
    services: FakeServices, version: int, *resources: tuple[int, str, Any], **flags: bool
) -> Any:
    r = rq(describe_configs, version)
    request = r.DescribeConfigsRequest(
        resources=tuple(
            r.DescribeConfigsResource(resource_type=t, resource_name=n, configuration_keys=k)
            for t, n, k in resources
        ),
        include_synonyms=flags.get("synonyms", False),
        include_documentation=flags.get("docs", False),
    )
    return call(services, describe_configs, version, request)


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_describe_configs_topic(version: int) -> None:
    services = make_services()
    create(services.topics, "t", configs={"retention.ms": "1000"})
    body = describe(services, version, (TOPIC_RESOURCE, "t", None), synonyms=True, docs=True)
    (result,) = body.results
    assert result.error_code == ErrorCode.none
    configs = {c.name: c for c in result.configs}
    assert len(configs) >= 20
    assert (configs["retention.ms"].value, configs["retention.ms"].config_source) == ("1000", 1)
    assert [s.name for s in configs["retention.ms"].synonyms] == ["retention.ms"]
    assert configs["segment.bytes"].config_source == ConfigSource.DEFAULT_CONFIG
    if version >= 3:
        assert configs["cleanup.policy"].config_type == ConfigType.LIST


def test_describe_configs_filters_and_errors() -> None:
    services = make_services()
    create(services.topics, "t")
    body = describe(
        services,
        4,
        (TOPIC_RESOURCE, "t", ("retention.ms", "no.such")),
        (TOPIC_RESOURCE, "missing", None),
        (TOPIC_RESOURCE, "bad name", None),
        (BROKER_RESOURCE, "7", None),
        (BROKER_RESOURCE, "x", None),
        (8, "0", None),
    )
    assert [c.name for c in body.results[0].configs] == ["retention.ms"]
    assert body.results[0].configs[0].synonyms == ()
    assert [r.error_code for r in body.results[1:]] == [
        ErrorCode.unknown_topic_or_partition,
        ErrorCode.invalid_topic_exception,
        ErrorCode.invalid_request,
        ErrorCode.invalid_request,
        ErrorCode.invalid_request,
    ]
    assert all(r.configs == () for r in body.results[1:])


def test_describe_configs_broker() -> None:
    services = make_services(**{"num.partitions": "3"})
    services.topics.alter_broker_configs("", {"log.retention.ms": "1000"}, False, False)
    body = describe(services, 4, (BROKER_RESOURCE, "0", None), (BROKER_RESOURCE, "", None))
    every = {c.name: c for c in body.results[0].configs}
    assert every["num.partitions"].value == "3"
    assert every["num.partitions"].read_only
    assert every["num.partitions"].config_source == ConfigSource.STATIC_BROKER_CONFIG
    assert every["log.retention.ms"].value == "1000"
    assert [c.name for c in body.results[1].configs] == ["log.retention.ms"]


@pytest.mark.parametrize("version", [0, 1, 2])
def test_alter_configs_handler(version: int) -> None:
    services = make_services()
    create(services.topics, "t", configs={"segment.bytes": "1000"})
    r = rq(alter_configs, version)

    def resource(t: int, name: str, **configs: str) -> Any:
        items = tuple(
            r.AlterableConfig(name=k.replace("_", "."), value=v) for k, v in configs.items()
        )
        return r.AlterConfigsResource(resource_type=t, resource_name=name, configs=items)

    request = r.AlterConfigsRequest(
        resources=(
            resource(TOPIC_RESOURCE, "t", retention_ms="5"),
            resource(TOPIC_RESOURCE, "missing", retention_ms="5"),
            resource(TOPIC_RESOURCE, "", retention_ms="5"),
            resource(BROKER_RESOURCE, "0", log_retention_ms="7"),
            resource(BROKER_RESOURCE, "0", log_retention_hours="7"),
            resource(TOPIC_RESOURCE, "t", bogus="1"),
        ),
        validate_only=False,
    )
    body = call(services, alter_configs, version, request)
    assert [(x.resource_name, x.error_code) for x in body.responses] == [
        ("t", ErrorCode.invalid_request),  # named twice: neither applied
        ("missing", ErrorCode.unknown_topic_or_partition),
        ("", ErrorCode.invalid_request),
        ("0", ErrorCode.invalid_request),  # named twice too
    ]
    single = r.AlterConfigsRequest(
        resources=(
            resource(TOPIC_RESOURCE, "t", retention_ms="5"),
            resource(BROKER_RESOURCE, "", log_retention_ms="7"),
        ),
        validate_only=False,
    )
    body = call(services, alter_configs, version, single)
    assert [x.error_code for x in body.responses] == [ErrorCode.none, ErrorCode.none]
    assert services.image.topics["t"].configs == {"retention.ms": "5"}
    assert services.config.get("log.retention.ms") == 7


@pytest.mark.parametrize("version", [0, 1])
def test_incremental_alter_configs_handler(version: int) -> None:
    services = make_services()
    create(services.topics, "t")
    r = rq(incremental_alter_configs, version)

    def resource(t: int, name: str, *ops: tuple[str, int, str | None]) -> Any:
        items = tuple(r.AlterableConfig(name=n, config_operation=o, value=v) for n, o, v in ops)
        return r.AlterConfigsResource(resource_type=t, resource_name=name, configs=items)

    request = r.IncrementalAlterConfigsRequest(
        resources=(
            resource(
                TOPIC_RESOURCE,
                "t",
                ("cleanup.policy", APPEND, "compact"),
                ("retention.ms", SET, "9"),
            ),
            resource(BROKER_RESOURCE, "0", ("log.cleanup.policy", APPEND, "compact")),
            resource(BROKER_RESOURCE, "", ("broker.id", SET, "3")),
            resource(TOPIC_RESOURCE, "missing", ("retention.ms", SET, "9")),
        ),
        validate_only=False,
    )
    body = call(services, incremental_alter_configs, version, request)
    assert [x.error_code for x in body.responses] == [
        ErrorCode.none,
        ErrorCode.none,
        ErrorCode.invalid_request,
        ErrorCode.unknown_topic_or_partition,
    ]
    assert services.image.topics["t"].configs == {
        "cleanup.policy": "delete,compact",
        "retention.ms": "9",
    }
    assert services.config.get("log.cleanup.policy") == "compact,delete"


@pytest.mark.parametrize("version", [0, 2])
def test_delete_records_handler(version: int) -> None:
    module = delete_records
    services = make_services()
    logs = {i: FakeLog() for i in range(5)}
    logs[4].config.delete = False
    services.replicas.partitions = {("t", i): FakePartition("t", i, log) for i, log in logs.items()}
    services.replicas.partitions[("t", 5)] = FakePartition("t", 5, FakeLog(), leader=1)
    services.replicas.partitions[("__consumer_offsets", 0)] = FakePartition(
        "__consumer_offsets", 0, FakeLog()
    )
    r = rq(module, version)
    wanted = [(0, 50), (1, -1), (2, 81), (3, -7), (4, 10), (5, 10), (6, 10)]
    request = r.DeleteRecordsRequest(
        topics=(
            r.DeleteRecordsTopic(
                name="t",
                partitions=tuple(
                    r.DeleteRecordsPartition(partition_index=p, offset=o) for p, o in wanted
                ),
            ),
            r.DeleteRecordsTopic(
                name="__consumer_offsets",
                partitions=(r.DeleteRecordsPartition(partition_index=0, offset=1),),
            ),
        ),
        timeout=TIMEOUT,
    )
    body = call(services, module, version, request)
    got = [(p.partition_index, p.error_code, p.low_watermark) for p in body.topics[0].partitions]
    assert got == [
        (0, ErrorCode.none, 50),
        (1, ErrorCode.none, 80),
        (2, ErrorCode.offset_out_of_range, -1),
        (3, ErrorCode.offset_out_of_range, -1),
        (4, ErrorCode.policy_violation, -1),
        (5, ErrorCode.not_leader_or_follower, -1),
        (6, ErrorCode.unknown_topic_or_partition, -1),
    ]
    assert body.topics[1].partitions[0].error_code == ErrorCode.invalid_topic_exception
    assert (logs[0].log_start_offset, logs[2].log_start_offset) == (50, 0)


@pytest.mark.parametrize("version", [0, 1, 2])
def test_describe_cluster_handler(version: int) -> None:
    services = make_services(brokers=2)
    r = rq(describe_cluster, version)
    request = r.DescribeClusterRequest(
        include_cluster_authorized_operations=True, endpoint_type=1, include_fenced_brokers=False
    )
    body = call(services, describe_cluster, version, request)
    assert (body.error_code, body.cluster_id, body.controller_id) == (
        ErrorCode.none,
        "test-cluster",
        0,
    )
    assert [(b.broker_id, b.host, b.port) for b in body.brokers] == [
        (0, "localhost", 9092),
        (1, "localhost", 9093),
    ]
    assert body.cluster_authorized_operations == describe_cluster.CLUSTER_OPERATIONS
    plain = call(
        services,
        describe_cluster,
        version,
        r.DescribeClusterRequest(
            include_cluster_authorized_operations=False, include_fenced_brokers=False
        ),
    )
    assert plain.cluster_authorized_operations == -(2**31)


@pytest.mark.parametrize(
    ("endpoint", "code"),
    [(2, ErrorCode.mismatched_endpoint_type), (5, ErrorCode.unsupported_endpoint_type)],
)
def test_describe_cluster_endpoint_types(endpoint: int, code: ErrorCode) -> None:
    r = rq(describe_cluster, 1)
    request = r.DescribeClusterRequest(
        include_cluster_authorized_operations=False,
        endpoint_type=endpoint,
        include_fenced_brokers=False,
    )
    body = call(make_services(), describe_cluster, 1, request)
    assert (body.error_code, body.brokers) == (code, ())


@pytest.mark.parametrize("version", [1, 3, 4])
def test_describe_log_dirs_handler(version: int, tmp_path: Path) -> None:
    services = make_services(tmp_path)
    services.replicas.partitions = {
        ("a", 1): FakePartition("a", 1, FakeLog(size_in_bytes=10)),
        ("a", 0): FakePartition("a", 0, FakeLog(size_in_bytes=20)),
        ("b", 0): FakePartition("b", 0, FakeLog(size_in_bytes=30)),
    }
    r = rq(describe_log_dirs, version)
    body = call(services, describe_log_dirs, version, r.DescribeLogDirsRequest(topics=None))
    (result,) = body.results
    assert result.error_code == ErrorCode.none
    assert result.log_dir == str(tmp_path.absolute())
    got = [
        (t.name, [(p.partition_index, p.partition_size, p.offset_lag) for p in t.partitions])
        for t in result.topics
    ]
    assert got == [("a", [(0, 20, 0), (1, 10, 0)]), ("b", [(0, 30, 0)])]
    if version >= 4:
        assert result.total_bytes > 0 and 0 <= result.usable_bytes <= result.total_bytes
    some = r.DescribeLogDirsRequest(
        topics=(r.DescribableLogDirTopic(topic="a", partitions=(1, 7)),)
    )
    body = call(services, describe_log_dirs, version, some)
    got = [(t.name, [p.partition_index for p in t.partitions]) for t in body.results[0].topics]
    assert got == [("a", [1]), ("b", [])]
