"""Config administration on the cluster image: topic overrides and dynamic broker configs
(AlterConfigs, IncrementalAlterConfigs), as Kafka's ConfigurationControlManager checks them.

`ConfigAdmin` is TopicAdmin's base: it works on the same metadata store and commits one batch of
`ConfigRecord`s per change. Dynamic broker configs (`ClusterImage.broker_configs`) are copied into
`BrokerConfig.dynamic` when the admin is built and after every commit (`_follow_broker_configs`).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.errors import AdminError, unknown_topic
from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import (
    BROKER_CONFIGS,
    EXTRA_DYNAMIC_BROKER_CONFIGS,
    TOPIC_CONFIGS,
    ConfigError,
    parse_cleanup_policy,
    validate_topic_config,
)
from riverlog.metadata.image import (
    BROKER_RESOURCE,
    TOPIC_RESOURCE,
    ClusterImage,
    ConfigRecord,
    MetadataRecord,
)

log = logging.getLogger(__name__)

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


class ConfigAdmin(ABC):
    """Topic config overrides and dynamic broker configs (TopicAdmin brings the store)."""

    config: BrokerConfig
    broker_id: int

    @property
    @abstractmethod
    def image(self) -> ClusterImage: ...

    @abstractmethod
    def _commit(self, records: Sequence[MetadataRecord]) -> AdminError | None: ...

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
            return unknown_topic(name)
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
            return unknown_topic(name)
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


def _topic_static_default(name: str) -> str | None:
    entry = TOPIC_CONFIGS.get(name)
    return None if entry is None else entry[0].default


def _broker_static_default(name: str) -> str | None:
    definition = BROKER_CONFIGS.get(name)
    return None if definition is None else definition.default
