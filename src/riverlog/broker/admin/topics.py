"""Topic administration on the cluster image: create, delete, add partitions (configs: admin.configs).

Each operation validates first (Kafka's rules and error codes, as its KRaft controller checks them), then
commits its metadata records through the store as one batch; the replica manager follows the new image
(it is a store listener), so partition logs appear, disappear and take new configs. Client mistakes return
`AdminError` rather than raising, so handlers can answer per topic or per resource.

Dynamic broker configs (AlterConfigs on the broker resource) are records in the image too
(`ClusterImage.broker_configs`). `TopicAdmin` (through its base, `admin.configs.ConfigAdmin`) copies them
into `BrokerConfig.dynamic` when it is built (after the metadata log was replayed) and after every commit.
It registers that listener in `__init__`, before the node registers the replica manager's, so partition
logs see new broker defaults at once.

Crash behaviour: a change is one metadata batch, so after a restart it is wholly there or not at all.
Limits: one operation may write at most `MAX_RECORDS_PER_OP` records (Kafka's controller limit), which
bounds how many partitions one request may create.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.configs import (
    ConfigAdmin,
)
from riverlog.broker.admin.errors import AdminError, unavailable, unknown_topic
from riverlog.broker.config import BrokerConfig
from riverlog.broker.metadata_store import (
    MetadataStore,
    MetadataUnavailableError,
    TopicExistsError,
)
from riverlog.metadata.image import (
    TOPIC_RESOURCE,
    ClusterImage,
    ConfigRecord,
    MetadataRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicImage,
    TopicRecord,
    replay,
)

__all__ = [
    "INTERNAL_TOPICS",
    "MAX_RECORDS_PER_OP",
    "AdminError",
    "TopicAdmin",
    "topic_name_error",
]

log = logging.getLogger(__name__)

MAX_TOPIC_NAME = 249
MAX_RECORDS_PER_OP = 10_000  # Kafka's QuorumController.MAX_RECORDS_PER_USER_OP
_LEGAL = re.compile(r"^[a-zA-Z0-9._-]+$")
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


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


def _too_large() -> AdminError:
    return AdminError(
        ErrorCode.policy_violation, "Unable to perform excessively large batch operation."
    )


class TopicAdmin(ConfigAdmin):
    """Topics (create, delete, add partitions) and, from ConfigAdmin, their configs and the
    dynamic broker configs."""

    def __init__(self, store: MetadataStore, config: BrokerConfig, broker_id: int) -> None:
        self.store = store
        self.config = config
        self.broker_id = broker_id
        self._follow_broker_configs(store.image)
        store.on_commit.append(self._follow_broker_configs)

    @property
    def image(self) -> ClusterImage:
        return self.store.image

    def live_brokers(self) -> list[int]:
        return sorted(self.image.brokers) or [self.broker_id]

    # --- create ---

    def create_topic(
        self,
        name: str,
        num_partitions: int = -1,
        replication_factor: int = -1,
        configs: Mapping[str, str | None] | None = None,
        assignments: Mapping[int, Sequence[int]] | None = None,
        validate_only: bool = False,
    ) -> AdminError | TopicImage:
        """Create a topic; `validate_only` answers with the topic as it would be, committing nothing."""
        error = self._validate_new_topic(name, num_partitions, replication_factor, assignments)
        if error is None:
            error = self._validate_configs(configs or {})
        if error is not None:
            return error
        count = num_partitions if num_partitions > 0 else self.config.get_int("num.partitions")
        if not assignments and count > MAX_RECORDS_PER_OP:
            return _too_large()
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
        try:
            image = self._preview(records) if validate_only else self.store.commit(records)
        except TopicExistsError as exc:
            return AdminError(ErrorCode.topic_already_exists, str(exc))
        except MetadataUnavailableError as exc:
            return unavailable(exc)
        created = image.topic(name)
        assert created is not None
        return created

    def _preview(self, records: Sequence[MetadataRecord]) -> ClusterImage:
        image = self.image
        for record in records:
            image = replay(image, record)
        return image

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
            return AdminError(ErrorCode.topic_already_exists, f"Topic '{name}' already exists.")
        collides = [t for t in self.image.topics if t.replace(".", "_") == name.replace(".", "_")]
        if collides:
            return AdminError(
                ErrorCode.invalid_topic_exception,
                f"Topic '{name}' collides with existing topic: {collides[0]}",
            )
        if assignments:
            if num_partitions != -1 or replication_factor != -1:
                return AdminError(
                    ErrorCode.invalid_request,
                    "A manual partition assignment was specified, but numPartitions or "
                    "replicationFactor was not set to -1.",
                )
            if len(assignments) > MAX_RECORDS_PER_OP:
                return _too_large()
            return self._validate_assignments(assignments, 0, None)
        if num_partitions == 0 or num_partitions < -1:
            return AdminError(
                ErrorCode.invalid_partitions,
                "Number of partitions was set to an invalid non-positive value.",
            )
        if replication_factor == 0 or replication_factor < -1:
            return AdminError(
                ErrorCode.invalid_replication_factor,
                "Replication factor must be larger than 0, or -1 to use the default value.",
            )
        rf = replication_factor if replication_factor != -1 else self._default_rf()
        if rf > len(self.live_brokers()):
            return AdminError(
                ErrorCode.invalid_replication_factor,
                f"Unable to replicate the partition {rf} time(s): the target replication factor "
                f"of {rf} cannot be reached because only {len(self.live_brokers())} broker(s) "
                "are registered.",
            )
        return None

    def _validate_assignments(
        self, assignments: Mapping[int, Sequence[int]], first: int, replication_factor: int | None
    ) -> AdminError | None:
        """Kafka's checks on a manual assignment: consecutive partitions, known distinct brokers."""
        expected = list(range(first, first + len(assignments)))
        if sorted(assignments) != expected:
            return AdminError(
                ErrorCode.invalid_replica_assignment,
                f"partitions of a manual assignment must be consecutive from {first}",
            )
        live = set(self.live_brokers())
        for partition in expected:
            replicas = assignments[partition]
            error = _replica_list_error(partition, replicas, live)
            if error is not None:
                return error
            if replication_factor is not None and len(replicas) != replication_factor:
                return AdminError(
                    ErrorCode.invalid_replica_assignment,
                    "The manual partition assignment includes a partition with "
                    f"{len(replicas)} replica(s), but this is not consistent with previous "
                    f"partitions, which have {replication_factor} replica(s).",
                )
            replication_factor = len(replicas)
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
            return {p: list(r) for p, r in sorted(assignments.items())}
        brokers = self._rack_alternated(self.live_brokers())
        rf = replication_factor if replication_factor != -1 else self._default_rf()
        return {
            p: [brokers[(p + i) % len(brokers)] for i in range(rf)]
            for p in range(first, first + count)
        }

    def _rack_alternated(self, brokers: list[int]) -> list[int]:
        """Kafka's rack-aware order: brokers taken from each rack in turn, so that the replicas of a
        partition (consecutive entries) land on different racks when `broker.rack` is set."""
        racks: dict[str, list[int]] = {}
        for broker_id in brokers:
            info = self.image.brokers.get(broker_id)
            rack = info.rack if info is not None and info.rack else None
            if rack is None:
                return brokers  # Kafka: rack-aware only when every broker has a rack
            racks.setdefault(rack, []).append(broker_id)
        queues = [racks[r] for r in sorted(racks)]
        order: list[int] = []
        for i in range(max((len(q) for q in queues), default=0)):
            order += [q[i] for q in queues if i < len(q)]
        return order

    def keeps_group_configs(self) -> bool:
        return self.store.keeps_group_configs

    def commit_records(self, records: Sequence[MetadataRecord]) -> AdminError | None:
        return self._commit(records)

    def _commit(self, records: Sequence[MetadataRecord]) -> AdminError | None:
        """Write the change; an unreachable store is Kafka's REQUEST_TIMED_OUT (retriable)."""
        try:
            self.store.commit(records)
        except MetadataUnavailableError as exc:
            return unavailable(exc)
        return None

    # --- delete ---

    def delete_topic(self, name: str) -> AdminError | None:
        topic = self.image.topic(name)
        if topic is None:
            return unknown_topic(name)
        if not self.config.get_bool("delete.topic.enable"):
            return AdminError(ErrorCode.topic_deletion_disabled, "Topic deletion is disabled.")
        return self._commit([RemoveTopicRecord(str(topic.topic_id))])

    # --- add partitions ---

    def create_partitions(
        self,
        name: str,
        count: int,
        assignments: Sequence[Sequence[int]] | None = None,
        validate_only: bool = False,
    ) -> AdminError | None:
        topic = self.image.topic(name)
        if topic is None:
            return unknown_topic(name)
        current = len(topic.partitions)
        if count < current:
            return AdminError(
                ErrorCode.invalid_partitions,
                f"The topic {name} currently has {current} partition(s); {count} would not be "
                "an increase.",
            )
        if count == current:
            return AdminError(
                ErrorCode.invalid_partitions, f"Topic already has {current} partition(s)."
            )
        if count - current > MAX_RECORDS_PER_OP:
            return _too_large()
        rf = len(topic.partitions[0].replicas) if 0 in topic.partitions else 1
        if assignments:
            if len(assignments) != count - current:
                return AdminError(
                    ErrorCode.invalid_replica_assignment,
                    f"Attempted to add {count - current} additional partition(s), but only "
                    f"{len(assignments)} assignment(s) were specified.",
                )
            by_partition = {current + i: list(r) for i, r in enumerate(assignments)}
            error = self._validate_assignments(by_partition, current, rf)
            if error is not None:
                return error
        else:
            by_partition = self._assign(count - current, rf, None, first=current)
        if validate_only:
            return None
        return self._commit(
            [
                PartitionRecord(str(topic.topic_id), p, tuple(r), tuple(r), r[0])
                for p, r in by_partition.items()
            ]
        )


def _replica_list_error(
    partition: int, replicas: Sequence[int], live: set[int]
) -> AdminError | None:
    if not replicas:
        return AdminError(
            ErrorCode.invalid_replica_assignment,
            f"The manual partition assignment of partition {partition} includes an empty "
            "replica list.",
        )
    if len(set(replicas)) != len(replicas):
        return AdminError(
            ErrorCode.invalid_replica_assignment,
            f"The manual partition assignment of partition {partition} includes a broker "
            "more than once.",
        )
    unknown = sorted(set(replicas) - live)
    if unknown:
        return AdminError(
            ErrorCode.invalid_replica_assignment,
            f"The manual partition assignment includes broker {unknown[0]}, but no such "
            "broker is registered.",
        )
    return None
