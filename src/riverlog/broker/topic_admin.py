"""Topic administration on the cluster image: create, delete, add partitions, change configs.

Each operation validates first (Kafka's rules and error codes), then commits metadata records through the
store; the replica manager follows the new image. Returns `AdminError` rather than raising for client
mistakes, so handlers can answer per topic.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kio.schema.errors import ErrorCode

from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import ConfigError, validate_topic_config
from riverlog.metadata.image import (
    TOPIC_RESOURCE,
    ClusterImage,
    ConfigRecord,
    MetadataRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicImage,
    TopicRecord,
)

MAX_TOPIC_NAME = 249
_LEGAL = re.compile(r"^[a-zA-Z0-9._-]+$")
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


class MetadataStore(Protocol):
    @property
    def image(self) -> ClusterImage: ...

    def commit(self, records: Sequence[MetadataRecord]) -> ClusterImage: ...


@dataclass(frozen=True, slots=True)
class AdminError:
    code: ErrorCode
    message: str


def topic_name_error(name: str) -> AdminError | None:
    if not name or name in (".", ".."):
        return AdminError(ErrorCode.invalid_topic_exception, f"topic name {name!r} is illegal")
    if len(name) > MAX_TOPIC_NAME:
        return AdminError(
            ErrorCode.invalid_topic_exception,
            f"topic name is longer than {MAX_TOPIC_NAME} characters",
        )
    if not _LEGAL.match(name):
        return AdminError(
            ErrorCode.invalid_topic_exception,
            f"topic name {name!r} is illegal: only ASCII alphanumerics, '.', '_' and '-'",
        )
    return None


class TopicAdmin:
    def __init__(self, store: MetadataStore, config: BrokerConfig, broker_id: int) -> None:
        self.store = store
        self.config = config
        self.broker_id = broker_id

    @property
    def image(self) -> ClusterImage:
        return self.store.image

    def live_brokers(self) -> list[int]:
        return sorted(self.image.brokers) or [self.broker_id]

    def create_topic(
        self,
        name: str,
        num_partitions: int = -1,
        replication_factor: int = -1,
        configs: Mapping[str, str | None] | None = None,
        assignments: Mapping[int, Sequence[int]] | None = None,
        validate_only: bool = False,
    ) -> AdminError | TopicImage:
        error = self._validate_new_topic(name, num_partitions, replication_factor, assignments)
        if error is None:
            error = self._validate_configs(configs or {})
        if error is not None:
            return error
        count = num_partitions if num_partitions > 0 else self.config.get_int("num.partitions")
        replicas = self._assign(count, replication_factor, assignments)
        topic_id = uuid.uuid4()
        records: list[MetadataRecord] = [TopicRecord(name, str(topic_id))]
        records += [
            PartitionRecord(str(topic_id), p, tuple(r), tuple(r), r[0]) for p, r in replicas.items()
        ]
        records += [
            ConfigRecord(TOPIC_RESOURCE, name, key, value)
            for key, value in (configs or {}).items()
            if value is not None
        ]
        if validate_only:
            return TopicImage(name=name, topic_id=topic_id)
        image = self.store.commit(records)
        created = image.topic(name)
        assert created is not None
        return created

    def _validate_new_topic(
        self,
        name: str,
        num_partitions: int,
        replication_factor: int,
        assignments: Mapping[int, Sequence[int]] | None,
    ) -> AdminError | None:
        error = topic_name_error(name)
        if error is not None:
            return error
        if name in self.image.topics:
            return AdminError(ErrorCode.topic_already_exists, f"topic {name!r} already exists")
        collides = [t for t in self.image.topics if t.replace(".", "_") == name.replace(".", "_")]
        if collides:
            return AdminError(
                ErrorCode.invalid_topic_exception,
                f"topic {name!r} collides with existing topic {collides[0]!r} ('.' and '_' collide)",
            )
        if assignments:
            if num_partitions != -1 or replication_factor != -1:
                return AdminError(
                    ErrorCode.invalid_request,
                    "both assignments and partitions/replication factor were given",
                )
            return self._validate_assignments(assignments, 0)
        if num_partitions == 0 or num_partitions < -1:
            return AdminError(
                ErrorCode.invalid_partitions, "number of partitions must be at least 1"
            )
        rf = replication_factor if replication_factor != -1 else self._default_rf()
        if rf <= 0:
            return AdminError(
                ErrorCode.invalid_replication_factor, "replication factor must be > 0"
            )
        if rf > len(self.live_brokers()):
            return AdminError(
                ErrorCode.invalid_replication_factor,
                f"replication factor {rf} is larger than the {len(self.live_brokers())} "
                "available brokers",
            )
        return None

    def _validate_assignments(
        self, assignments: Mapping[int, Sequence[int]], first: int
    ) -> AdminError | None:
        expected = list(range(first, first + len(assignments)))
        if sorted(assignments) != expected:
            return AdminError(
                ErrorCode.invalid_replica_assignment, "partitions must be consecutive"
            )
        live = set(self.live_brokers())
        for partition, replicas in assignments.items():
            if not replicas or len(set(replicas)) != len(replicas):
                return AdminError(
                    ErrorCode.invalid_replica_assignment,
                    f"partition {partition} has an empty or duplicated replica list",
                )
            if not set(replicas) <= live:
                return AdminError(
                    ErrorCode.invalid_replica_assignment,
                    f"partition {partition} names unknown brokers {sorted(set(replicas) - live)}",
                )
        return None

    def _validate_configs(self, configs: Mapping[str, str | None]) -> AdminError | None:
        for key, value in configs.items():
            try:
                validate_topic_config(key, value)
            except ConfigError as exc:
                return AdminError(ErrorCode.invalid_config, str(exc))
        return None

    def _default_rf(self) -> int:
        return min(self.config.get_int("default.replication.factor"), len(self.live_brokers()))

    def _assign(
        self,
        count: int,
        replication_factor: int,
        assignments: Mapping[int, Sequence[int]] | None,
        first: int = 0,
    ) -> dict[int, list[int]]:
        if assignments:
            return {p: list(r) for p, r in assignments.items()}
        brokers = self.live_brokers()
        rf = replication_factor if replication_factor != -1 else self._default_rf()
        return {
            p: [brokers[(p + i) % len(brokers)] for i in range(rf)]
            for p in range(first, first + count)
        }

    def delete_topic(self, name: str) -> AdminError | None:
        topic = self.image.topic(name)
        if topic is None:
            return AdminError(
                ErrorCode.unknown_topic_or_partition, f"topic {name!r} does not exist"
            )
        if not self.config.get_bool("delete.topic.enable"):
            return AdminError(ErrorCode.topic_deletion_disabled, "delete.topic.enable is false")
        self.store.commit([RemoveTopicRecord(str(topic.topic_id))])
        return None

    def create_partitions(
        self,
        name: str,
        count: int,
        assignments: Sequence[Sequence[int]] | None = None,
        validate_only: bool = False,
    ) -> AdminError | None:
        topic = self.image.topic(name)
        if topic is None:
            return AdminError(
                ErrorCode.unknown_topic_or_partition, f"topic {name!r} does not exist"
            )
        current = len(topic.partitions)
        if count <= current:
            return AdminError(
                ErrorCode.invalid_partitions,
                f"topic {name!r} has {current} partitions; the new count must be larger",
            )
        rf = len(next(iter(topic.partitions.values())).replicas) if topic.partitions else 1
        if assignments:
            if len(assignments) != count - current:
                return AdminError(
                    ErrorCode.invalid_replica_assignment,
                    f"expected {count - current} assignments, got {len(assignments)}",
                )
            by_partition = {current + i: list(r) for i, r in enumerate(assignments)}
            error = self._validate_assignments(by_partition, current)
            if error is not None:
                return error
        else:
            by_partition = self._assign(count - current, rf, None, first=current)
        if validate_only:
            return None
        self.store.commit(
            [
                PartitionRecord(str(topic.topic_id), p, tuple(r), tuple(r), r[0])
                for p, r in by_partition.items()
            ]
        )
        return None

    def alter_topic_configs(
        self,
        name: str,
        changes: Mapping[str, str | None],
        replace_all: bool,
        validate_only: bool,
    ) -> AdminError | None:
        """Set (value) or delete (None) overrides; `replace_all` is AlterConfigs' full replacement."""
        topic = self.image.topic(name)
        if topic is None:
            return AdminError(
                ErrorCode.unknown_topic_or_partition, f"topic {name!r} does not exist"
            )
        error = self._validate_configs({k: v for k, v in changes.items() if v is not None})
        if error is not None:
            return error
        records: list[MetadataRecord] = []
        if replace_all:
            records += [
                ConfigRecord(TOPIC_RESOURCE, name, key, None)
                for key in topic.configs
                if key not in changes
            ]
        records += [ConfigRecord(TOPIC_RESOURCE, name, k, v) for k, v in changes.items()]
        if not validate_only:
            self.store.commit(records)
        return None
