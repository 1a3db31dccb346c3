"""Topic and config administration on the cluster image: create, delete, add partitions, change configs.

Each operation validates first (Kafka's rules and error codes, as its KRaft controller checks them), then
commits its metadata records through the store as one batch; the replica manager follows the new image
(it is a store listener), so partition logs appear, disappear and take new configs. Client mistakes return
`AdminError` rather than raising, so handlers can answer per topic or per resource.

Dynamic broker configs (AlterConfigs on the broker resource) are records in the image too
(`ClusterImage.broker_configs`). `TopicAdmin` copies them into `BrokerConfig.dynamic` when it is built
(after the metadata log was replayed) and after every commit. It registers that listener in `__init__`,
before the node registers the replica manager's, so partition logs see new broker defaults at once.

Crash behaviour: a change is one metadata batch, so after a restart it is wholly there or not at all.
Limits: one operation may write at most `MAX_RECORDS_PER_OP` records (Kafka's controller limit), which
bounds how many partitions one request may create.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import (
    BROKER_CONFIGS,
    EXTRA_DYNAMIC_BROKER_CONFIGS,
    TOPIC_CONFIGS,
    ConfigError,
    parse_cleanup_policy,
    validate_topic_config,
)
from riverlog.broker.metadata_store import (
    MetadataStore,
    MetadataUnavailableError,
    TopicExistsError,
)
from riverlog.metadata.image import (
    BROKER_RESOURCE,
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

log = logging.getLogger(__name__)

MAX_TOPIC_NAME = 249
MAX_RECORDS_PER_OP = 10_000  # Kafka's QuorumController.MAX_RECORDS_PER_USER_OP
_LEGAL = re.compile(r"^[a-zA-Z0-9._-]+$")
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})

# Broker configs Kafka can change at run time (its DynamicBrokerConfig): the broker synonym of every topic
# config (log defaults), unless riverlog marks it read-only. Everything else is read-only.
DYNAMIC_BROKER_CONFIGS = (
    frozenset(
        synonym
        for _, synonym in TOPIC_CONFIGS.values()
        if synonym is not None
        and synonym in BROKER_CONFIGS
        and not BROKER_CONFIGS[synonym].read_only
    )
    | EXTRA_DYNAMIC_BROKER_CONFIGS
)
# Configs whose type is LIST, the only ones IncrementalAlterConfigs may APPEND to or SUBTRACT from.
LIST_CONFIGS = frozenset(
    [name for name, (d, _) in TOPIC_CONFIGS.items() if d.parse is parse_cleanup_policy]
    + [name for name, d in BROKER_CONFIGS.items() if d.parse is parse_cleanup_policy]
)

# IncrementalAlterConfigs operations (Kafka's AlterConfigOp.OpType ids).
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
ConfigOp = tuple[str, int, str | None]  # (name, operation, value)


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


def _unknown_topic(name: str) -> AdminError:
    return AdminError(ErrorCode.unknown_topic_or_partition, f"topic {name!r} does not exist")


def _too_large() -> AdminError:
    return AdminError(
        ErrorCode.policy_violation, "Unable to perform excessively large batch operation."
    )


def incremental_changes(
    current: Mapping[str, str],
    ops: Sequence[ConfigOp],
    default_of: Callable[[str], str | None],
) -> dict[str, str | None] | AdminError:
    """Turn IncrementalAlterConfigs operations into new override values (None deletes one).

    APPEND and SUBTRACT start from the current override, else the config's static default (Kafka's
    ConfigurationControlManager); they are only for LIST configs.
    """
    names = [name for name, _, _ in ops]
    if len(set(names)) != len(names):
        return AdminError(ErrorCode.invalid_request, "Error due to duplicate config keys")
    nulls = [name for name, op, value in ops if op != DELETE and value is None]
    if nulls:
        return AdminError(
            ErrorCode.invalid_request, f"Null value not supported for : {', '.join(nulls)}"
        )
    changes: dict[str, str | None] = {}
    for name, op, value in ops:
        if op == SET:
            changes[name] = value
        elif op == DELETE:
            changes[name] = None
        elif op in (APPEND, SUBTRACT):
            if name not in LIST_CONFIGS:
                verb = "APPEND" if op == APPEND else "SUBTRACT"
                return AdminError(
                    ErrorCode.invalid_config,
                    f"Can't {verb} to key {name} because its type is not LIST.",
                )
            old = current.get(name, default_of(name))
            changes[name] = _list_op(old, value or "", append=op == APPEND)
        else:
            return AdminError(ErrorCode.invalid_request, f"Unknown operation type {op}")
    return changes


def _list_op(old: str | None, value: str, append: bool) -> str:
    items = [p.strip() for p in (old or "").split(",") if p.strip()]
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if append:
        items += [p for p in parts if p not in items]
    else:
        items = [p for p in items if p not in parts]
    return ",".join(items)


class TopicAdmin:
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
            return _unavailable(exc)
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

    def _validate_configs(self, configs: Mapping[str, str | None]) -> AdminError | None:
        nulls = [key for key, value in configs.items() if value is None]
        if nulls:
            return AdminError(
                ErrorCode.invalid_config,
                f"Null value not supported for topic configs: {','.join(nulls)}",
            )
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
            return _unavailable(exc)
        return None

    # --- delete ---

    def delete_topic(self, name: str) -> AdminError | None:
        topic = self.image.topic(name)
        if topic is None:
            return _unknown_topic(name)
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
            return _unknown_topic(name)
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

    # --- topic configs ---

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
            return _unknown_topic(name)
        if replace_all:
            error = self._validate_configs(changes)
        else:
            error = self._validate_configs({k: v for k, v in changes.items() if v is not None})
            error = error or _unknown_names(
                [k for k, v in changes.items() if v is None], TOPIC_CONFIGS
            )
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
        return None if validate_only else self._commit(records)

    def incremental_alter_topic_configs(
        self, name: str, ops: Sequence[ConfigOp], validate_only: bool
    ) -> AdminError | None:
        topic = self.image.topic(name)
        if topic is None:
            return _unknown_topic(name)
        changes = incremental_changes(topic.configs, ops, _topic_static_default)
        if isinstance(changes, AdminError):
            return changes
        return self.alter_topic_configs(name, changes, False, validate_only)

    # --- dynamic broker configs ---

    def broker_resource_error(self, resource_name: str) -> AdminError | None:
        """Kafka accepts this broker's id, or "" for the cluster-wide default."""
        if resource_name == "":
            return None
        try:
            broker_id = int(resource_name)
        except ValueError:
            return AdminError(
                ErrorCode.invalid_request,
                f"Broker id must be an integer, but it is: {resource_name}",
            )
        if broker_id != self.broker_id:
            return AdminError(
                ErrorCode.invalid_request,
                f"Unexpected broker id, expected {self.broker_id} or empty string, "
                f"but received {resource_name}",
            )
        return None

    def alter_broker_configs(
        self,
        resource_name: str,
        changes: Mapping[str, str | None],
        replace_all: bool,
        validate_only: bool,
    ) -> AdminError | None:
        """Set or delete dynamic broker configs; all of Kafka's refusals here are INVALID_REQUEST."""
        error = self.broker_resource_error(resource_name) or self._validate_broker_changes(
            changes, replace_all
        )
        if error is not None:
            return error
        records: list[MetadataRecord] = []
        if replace_all:
            records += [
                ConfigRecord(BROKER_RESOURCE, resource_name, key, None)
                for key in self.image.broker_configs
                if key not in changes
            ]
        records += [ConfigRecord(BROKER_RESOURCE, resource_name, k, v) for k, v in changes.items()]
        return None if validate_only else self._commit(records)

    def incremental_alter_broker_configs(
        self, resource_name: str, ops: Sequence[ConfigOp], validate_only: bool
    ) -> AdminError | None:
        changes = incremental_changes(self.image.broker_configs, ops, _broker_static_default)
        if isinstance(changes, AdminError):
            return changes
        return self.alter_broker_configs(resource_name, changes, False, validate_only)

    def _validate_broker_changes(
        self, changes: Mapping[str, str | None], replace_all: bool
    ) -> AdminError | None:
        nulls = [key for key, value in changes.items() if value is None]
        if replace_all and nulls:
            return AdminError(
                ErrorCode.invalid_request, f"Null value not supported for : {', '.join(nulls)}"
            )
        unknown = _unknown_names(list(changes), BROKER_CONFIGS)
        if unknown is not None:
            return AdminError(ErrorCode.invalid_request, unknown.message)
        fixed = sorted(name for name in changes if name not in DYNAMIC_BROKER_CONFIGS)
        if fixed:
            return AdminError(
                ErrorCode.invalid_request,
                f"Cannot update these configs dynamically: {', '.join(fixed)}",
            )
        for name, value in changes.items():
            if value is None:
                continue
            try:
                BROKER_CONFIGS[name].parse(value)
            except ValueError as exc:
                return AdminError(
                    ErrorCode.invalid_request,
                    f"Invalid value {value!r} for configuration {name}: {exc}",
                )
        return None

    def _follow_broker_configs(self, image: ClusterImage) -> None:
        """Make `BrokerConfig.dynamic` equal the image's dynamic broker configs."""
        wanted = image.broker_configs
        for name in [n for n in self.config.dynamic if n not in wanted]:
            self.config.set_dynamic(name, None)
        for name, value in wanted.items():
            if self.config.dynamic.get(name) == value:
                continue
            try:
                self.config.set_dynamic(name, value)
            except ConfigError as exc:
                log.warning("ignoring dynamic broker config %s: %s", name, exc)


def _unknown_names(names: Sequence[str], known: Mapping[str, object]) -> AdminError | None:
    unknown = sorted(name for name in names if name not in known)
    if unknown:
        return AdminError(ErrorCode.invalid_config, f"Unknown config name(s): {', '.join(unknown)}")
    return None


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


def _topic_static_default(name: str) -> str | None:
    entry = TOPIC_CONFIGS.get(name)
    return None if entry is None else entry[0].default


def _broker_static_default(name: str) -> str | None:
    definition = BROKER_CONFIGS.get(name)
    return None if definition is None else definition.default


def _unavailable(exc: MetadataUnavailableError) -> AdminError:
    """A controller that cannot complete a change answers REQUEST_TIMED_OUT in Kafka too."""
    return AdminError(ErrorCode.request_timed_out, str(exc))
