"""Dynamic group configs: the GROUP config resource (type 32) of KIP-848, as Kafka 4.0 serves it.

A consumer group can override `consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms`
(Kafka's GroupConfig; the share-group keys are not offered: riverlog has no share groups). The group need
not exist. Kafka's rules (GroupConfig.validate): an unknown name, a value that is not an integer, or one
outside the broker's bounds (`group.consumer.min/max.session.timeout.ms`,
`group.consumer.min/max.heartbeat.interval.ms`) is INVALID_CONFIG, and so is a heartbeat interval not
below the session timeout (each taken from the override, else the broker's value). An empty group name is
INVALID_REQUEST. Overrides are ConfigRecords with resource type 32 in the cluster metadata; ZooKeeper
mode keeps none (Kafka's ZooKeeper brokers had no group configs), so there the resource is
INVALID_REQUEST. DescribeConfigs lists every key: the override (source GROUP_CONFIG), else the broker
synonym's value and source (STATIC_BROKER_CONFIG when set at start, else DEFAULT_CONFIG).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.configs import ConfigOp, incremental_changes
from riverlog.broker.admin.topics import AdminError, TopicAdmin
from riverlog.broker.config import BrokerConfig
from riverlog.metadata.image import GROUP_RESOURCE, ConfigRecord, MetadataRecord

# group config -> (broker synonym, broker lower bound, broker upper bound)
GROUP_CONFIGS: Mapping[str, tuple[str, str, str]] = {
    "consumer.heartbeat.interval.ms": (
        "group.consumer.heartbeat.interval.ms",
        "group.consumer.min.heartbeat.interval.ms",
        "group.consumer.max.heartbeat.interval.ms",
    ),
    "consumer.session.timeout.ms": (
        "group.consumer.session.timeout.ms",
        "group.consumer.min.session.timeout.ms",
        "group.consumer.max.session.timeout.ms",
    ),
}


def group_resource_error(admin: TopicAdmin, name: str) -> AdminError | None:
    if name == "":
        return AdminError(ErrorCode.invalid_request, "Group name cannot be empty.")
    if not admin.keeps_group_configs():
        return AdminError(
            ErrorCode.invalid_request, "Group configs are not kept in ZooKeeper mode."
        )
    return None


def effective(config: BrokerConfig, overrides: Mapping[str, str], name: str) -> int:
    """The value a group runs with: its override, else the broker's."""
    if name in overrides:
        return int(overrides[name])
    return config.get_int(GROUP_CONFIGS[name][0])


def alter_group_configs(
    admin: TopicAdmin,
    group: str,
    changes: Mapping[str, str | None],
    replace_all: bool,
    validate_only: bool,
) -> AdminError | None:
    """Set (value) or delete (None) a group's overrides; `replace_all` is AlterConfigs'."""
    error = group_resource_error(admin, group)
    if error is not None:
        return error
    current = admin.image.group_configs.get(group, {})
    wanted = {} if replace_all else dict(current)
    for key, value in changes.items():
        if value is None:
            wanted.pop(key, None)
        else:
            wanted[key] = value
    error = _validate(admin.config, changes, wanted)
    if error is not None or validate_only:
        return error
    records: list[MetadataRecord] = [
        ConfigRecord(GROUP_RESOURCE, group, key, None) for key in current if key not in wanted
    ]
    records += [
        ConfigRecord(GROUP_RESOURCE, group, key, value)
        for key, value in wanted.items()
        if current.get(key) != value
    ]
    return admin.commit_records(records) if records else None


def incremental_alter_group_configs(
    admin: TopicAdmin, group: str, ops: Sequence[ConfigOp], validate_only: bool
) -> AdminError | None:
    current = admin.image.group_configs.get(group, {})
    changes = incremental_changes(current, ops, lambda name: None)
    if isinstance(changes, AdminError):
        return changes
    return alter_group_configs(admin, group, changes, False, validate_only)


def _validate(
    config: BrokerConfig, changes: Mapping[str, str | None], wanted: Mapping[str, str]
) -> AdminError | None:
    unknown = sorted(name for name in changes if name not in GROUP_CONFIGS)
    if unknown:
        return AdminError(
            ErrorCode.invalid_config, f"Unknown group config name: {', '.join(unknown)}"
        )
    for name, value in wanted.items():
        _, low, high = GROUP_CONFIGS[name]
        try:
            number = int(value)
        except ValueError:
            return AdminError(
                ErrorCode.invalid_config,
                f"Invalid value {value} for configuration {name}: Not a number of type INT",
            )
        if number < config.get_int(low):
            return AdminError(
                ErrorCode.invalid_config, f"{name} must be greater than or equal to {low}"
            )
        if number > config.get_int(high):
            return AdminError(
                ErrorCode.invalid_config, f"{name} must be less than or equal to {high}"
            )
    heartbeat = effective(config, wanted, "consumer.heartbeat.interval.ms")
    if heartbeat >= effective(config, wanted, "consumer.session.timeout.ms"):
        return AdminError(
            ErrorCode.invalid_config,
            "consumer.heartbeat.interval.ms must be less than consumer.session.timeout.ms",
        )
    return None
