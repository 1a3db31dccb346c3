"""The cluster image: an immutable value of topics, partitions, brokers and configs, changed by records.

State (invariants):
- `ClusterImage` is never mutated; `replay(image, record)` returns a new image. Recovery is "replay every
  metadata record in order", the same code path as live operation (as Kafka's KRaft metadata image).
- Topic names and topic ids are both unique; `topics_by_id` always agrees with `topics`.
- Partition numbers of a topic are 0..n-1 with no gaps; CreatePartitions only appends.

Records are plain frozen dataclasses with a JSON encoding (`encode_record` / `decode_record`) so that a
single-node broker can keep them in a local log on the storage engine, and a ZooKeeper-backed broker can
build the same records from znodes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from types import MappingProxyType
from typing import Any


def _empty() -> Mapping[Any, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    """A live broker. `host`/`port` are its inter-broker listener's address; `endpoints` lists
    every advertised listener as (name, host, port)."""

    broker_id: int
    host: str
    port: int
    rack: str | None = None
    endpoints: tuple[tuple[str, str, int], ...] = ()

    def address(self, listener: str | None) -> tuple[str, int] | None:
        """The address clients of `listener` use; the inter-broker one when the broker
        registered no named endpoints; None when it has no such listener (Kafka leaves it out)."""
        if not self.endpoints or listener is None:
            return self.host, self.port
        for name, host, port in self.endpoints:
            if name == listener:
                return host, port
        return None


def format_endpoints(endpoints: tuple[tuple[str, str, int], ...]) -> str:
    return ",".join(f"{name}://{host}:{port}" for name, host, port in endpoints)


def parse_endpoints(text: str) -> tuple[tuple[str, str, int], ...]:
    result = []
    for item in filter(None, text.split(",")):
        name, _, address = item.partition("://")
        host, _, port = address.rpartition(":")
        result.append((name, host.strip("[]"), int(port)))
    return tuple(result)


@dataclass(frozen=True, slots=True)
class PartitionState:
    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    partition_epoch: int = 0
    adding_replicas: tuple[int, ...] = ()
    removing_replicas: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicImage:
    name: str
    topic_id: uuid.UUID
    partitions: Mapping[int, PartitionState] = field(default_factory=_empty)
    configs: Mapping[str, str] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class ClusterImage:
    cluster_id: str
    controller_id: int = -1
    brokers: Mapping[int, BrokerInfo] = field(default_factory=_empty)
    topics: Mapping[str, TopicImage] = field(default_factory=_empty)
    topics_by_id: Mapping[uuid.UUID, str] = field(default_factory=_empty)
    broker_configs: Mapping[str, str] = field(default_factory=_empty)
    # Dynamic group configs (KIP-848's GROUP resource): group id -> name -> value.
    group_configs: Mapping[str, Mapping[str, str]] = field(default_factory=_empty)
    next_producer_id: int = 0
    # user → {SCRAM mechanism name → credential text (Kafka's salt=...,iterations=... form)}
    scram_credentials: Mapping[str, Mapping[str, str]] = field(default_factory=_empty)
    # ACLs as (resource type, resource name, pattern type, principal, host, operation, permission)
    # with Kafka's codes (riverlog.security.acl gives them names).
    acls: frozenset[AclTuple] = frozenset()
    # client quotas: entity ((type, name or None for the default), ...) → {quota key → value}
    client_quotas: Mapping[QuotaEntity, Mapping[str, float]] = field(default_factory=_empty)

    def topic(self, name: str) -> TopicImage | None:
        return self.topics.get(name)

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicImage | None:
        name = self.topics_by_id.get(topic_id)
        return None if name is None else self.topics[name]

    def partition(self, topic: str, partition: int) -> PartitionState | None:
        image = self.topics.get(topic)
        return None if image is None else image.partitions.get(partition)


# --- records (deltas) ---


@dataclass(frozen=True, slots=True)
class TopicRecord:
    name: str
    topic_id: str


@dataclass(frozen=True, slots=True)
class PartitionRecord:
    topic_id: str
    partition: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int = 0
    partition_epoch: int = 0


@dataclass(frozen=True, slots=True)
class RemoveTopicRecord:
    topic_id: str


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """A topic (resource_type 2) or broker (resource_type 4) config; value None deletes the override."""

    resource_type: int
    resource_name: str
    name: str
    value: str | None


@dataclass(frozen=True, slots=True)
class ProducerIdsRecord:
    """Reserves producer ids below `next_producer_id` (Kafka allocates them in blocks)."""

    next_producer_id: int


@dataclass(frozen=True, slots=True)
class RegisterBrokerRecord:
    broker_id: int
    host: str
    port: int
    rack: str | None = None
    endpoints: str = ""  # every advertised listener, `NAME://host:port,...`


@dataclass(frozen=True, slots=True)
class FenceBrokerRecord:
    broker_id: int


AclTuple = tuple[int, str, int, str, str, int, int]
QuotaEntity = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class ClientQuotaRecord:
    """One client quota value of an entity (user and/or client-id); value None removes it."""

    entity: QuotaEntity
    key: str
    value: float | None


@dataclass(frozen=True, slots=True)
class AclRecord:
    """One ACL added (or, `removed`, deleted), with Kafka's codes."""

    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission: int
    removed: bool = False

    def key(self) -> AclTuple:
        return (
            self.resource_type,
            self.resource_name,
            self.pattern_type,
            self.principal,
            self.host,
            self.operation,
            self.permission,
        )


@dataclass(frozen=True, slots=True)
class UserScramCredentialRecord:
    """A user's SCRAM credential for one mechanism (`SCRAM-SHA-256`...); None deletes it."""

    name: str
    mechanism: str
    credential: str | None


MetadataRecord = (
    TopicRecord
    | PartitionRecord
    | RemoveTopicRecord
    | ConfigRecord
    | ProducerIdsRecord
    | RegisterBrokerRecord
    | FenceBrokerRecord
    | UserScramCredentialRecord
    | AclRecord
    | ClientQuotaRecord
)
_RECORD_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        TopicRecord,
        PartitionRecord,
        RemoveTopicRecord,
        ConfigRecord,
        ProducerIdsRecord,
        RegisterBrokerRecord,
        FenceBrokerRecord,
        UserScramCredentialRecord,
        AclRecord,
        ClientQuotaRecord,
    )
}
TOPIC_RESOURCE = 2
BROKER_RESOURCE = 4
GROUP_RESOURCE = 32


class MetadataRecordError(ValueError):
    """A metadata record that cannot be decoded."""


def encode_record(record: MetadataRecord) -> bytes:
    body = asdict(record)
    body["type"] = type(record).__name__
    return json.dumps(body, separators=(",", ":")).encode()


def decode_record(data: bytes) -> MetadataRecord:
    try:
        body = json.loads(data)
        cls = _RECORD_TYPES[body.pop("type")]
        for key in ("replicas", "isr"):
            if key in body:
                body[key] = tuple(body[key])
        if "entity" in body:
            body["entity"] = tuple(tuple(part) for part in body["entity"])
        record: MetadataRecord = cls(**body)
    except (ValueError, KeyError, TypeError) as exc:
        raise MetadataRecordError(f"undecodable metadata record: {exc}") from None
    return record


def replay(image: ClusterImage, record: MetadataRecord) -> ClusterImage:
    """Apply one record; the only way an image changes."""
    match record:
        case TopicRecord(name=name, topic_id=raw_id):
            topic_id = uuid.UUID(raw_id)
            topic = TopicImage(name=name, topic_id=topic_id)
            return replace(
                image,
                topics=_with(image.topics, name, topic),
                topics_by_id=_with(image.topics_by_id, topic_id, name),
            )
        case PartitionRecord():
            return _replay_partition(image, record)
        case RemoveTopicRecord(topic_id=raw_id):
            topic_id = uuid.UUID(raw_id)
            removed = image.topics_by_id.get(topic_id)
            if removed is None:
                return image
            return replace(
                image,
                topics=_without(image.topics, removed),
                topics_by_id=_without(image.topics_by_id, topic_id),
            )
        case ConfigRecord():
            return _replay_config(image, record)
        case ProducerIdsRecord(next_producer_id=next_id):
            return replace(image, next_producer_id=max(next_id, image.next_producer_id))
        case RegisterBrokerRecord(
            broker_id=broker_id, host=host, port=port, rack=rack, endpoints=endpoints
        ):
            info = BrokerInfo(broker_id, host, port, rack, parse_endpoints(endpoints))
            return replace(image, brokers=_with(image.brokers, broker_id, info))
        case FenceBrokerRecord(broker_id=broker_id):
            return replace(image, brokers=_without(image.brokers, broker_id))
        case UserScramCredentialRecord(name=name, mechanism=mechanism, credential=credential):
            user = _set_or_remove(
                image.scram_credentials.get(name, _empty()), mechanism, credential
            )
            users = (
                _with(image.scram_credentials, name, user)
                if user
                else _without(image.scram_credentials, name)
            )
            return replace(image, scram_credentials=users)
        case ClientQuotaRecord(entity=entity, key=quota_key, value=value):
            values = dict(image.client_quotas.get(entity, {}))
            if value is None:
                values.pop(quota_key, None)
            else:
                values[quota_key] = value
            quotas = (
                _with(image.client_quotas, entity, MappingProxyType(values))
                if values
                else _without(image.client_quotas, entity)
            )
            return replace(image, client_quotas=quotas)
        case AclRecord():
            acl = record.key()
            acls = image.acls - {acl} if record.removed else image.acls | {acl}
            return replace(image, acls=acls)
    raise MetadataRecordError(f"unknown metadata record {record!r}")


def _replay_partition(image: ClusterImage, record: PartitionRecord) -> ClusterImage:
    name = image.topics_by_id.get(uuid.UUID(record.topic_id))
    if name is None:
        return image
    topic = image.topics[name]
    state = PartitionState(
        partition=record.partition,
        leader=record.leader,
        leader_epoch=record.leader_epoch,
        replicas=record.replicas,
        isr=record.isr,
        partition_epoch=record.partition_epoch,
    )
    topic = replace(topic, partitions=_with(topic.partitions, record.partition, state))
    return replace(image, topics=_with(image.topics, name, topic))


def _replay_config(image: ClusterImage, record: ConfigRecord) -> ClusterImage:
    if record.resource_type == BROKER_RESOURCE:
        configs = _set_or_remove(image.broker_configs, record.name, record.value)
        return replace(image, broker_configs=configs)
    if record.resource_type == GROUP_RESOURCE:
        group = image.group_configs.get(record.resource_name, {})
        group = _set_or_remove(group, record.name, record.value)
        if not group:
            return replace(image, group_configs=_without(image.group_configs, record.resource_name))
        return replace(image, group_configs=_with(image.group_configs, record.resource_name, group))
    topic = image.topics.get(record.resource_name)
    if topic is None:
        return image
    topic = replace(topic, configs=_set_or_remove(topic.configs, record.name, record.value))
    return replace(image, topics=_with(image.topics, topic.name, topic))


def _with(mapping: Mapping[Any, Any], key: Any, value: Any) -> Mapping[Any, Any]:
    copy = dict(mapping)
    copy[key] = value
    return MappingProxyType(copy)


def _without(mapping: Mapping[Any, Any], key: Any) -> Mapping[Any, Any]:
    copy = dict(mapping)
    copy.pop(key, None)
    return MappingProxyType(copy)


def _set_or_remove(mapping: Mapping[str, str], key: str, value: str | None) -> Mapping[str, str]:
    return _with(mapping, key, value) if value is not None else _without(mapping, key)


@dataclass
class ImageHolder:
    """The broker's one seam to read the current image; replaced atomically on each change."""

    image: ClusterImage
    listeners: list[Any] = field(default_factory=list)

    def apply(self, record: MetadataRecord) -> ClusterImage:
        self.image = replay(self.image, record)
        for listener in self.listeners:
            listener(record, self.image)
        return self.image
