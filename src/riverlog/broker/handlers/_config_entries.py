"""What DescribeConfigs and CreateTopics report for each config: value, source, synonyms, type.

Kafka's rules (its broker's ConfigHelper, KIP-226):
- A topic config's value is the topic's override, else the broker-supplied default. Its synonyms are the
  override (source TOPIC_CONFIG) followed by the broker synonyms of the config's primary broker name,
  level by level: dynamic per-broker, dynamic cluster default, static (the broker's file/flags), Kafka's
  default. Within a level, synonyms keep their order (`log.retention.ms`, `.minutes`, `.hours`); entries
  before the first one named after the primary broker name are dropped, exactly as Kafka does.
- An entry's source is its first synonym's source, or DEFAULT_CONFIG when it has none.
- A broker config is read-only unless Kafka can change it at run time (`DYNAMIC_BROKER_CONFIGS`).
- The broker resource "" (cluster default) lists only the dynamic cluster-default configs.

riverlog keeps one level of dynamic broker configs: whether set on resource "<id>" or "", they are
reported as DYNAMIC_DEFAULT_BROKER_CONFIG (the image does not yet keep them per broker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from riverlog.broker.admin.configs import DYNAMIC_BROKER_CONFIGS
from riverlog.broker.admin.group_configs import GROUP_CONFIGS
from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import (
    BROKER_CONFIGS,
    TOPIC_CONFIGS,
    ConfigDef,
    parse_bool,
    parse_cleanup_policy,
    parse_ratio,
)


class ConfigSource(IntEnum):
    """Kafka's DescribeConfigsResponse.ConfigSource ids."""

    UNKNOWN = 0
    TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    CLIENT_METRICS_CONFIG = 7
    GROUP_CONFIG = 8


class ConfigType(IntEnum):
    """Kafka's DescribeConfigsResponse.ConfigType ids (v3+)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


# Integer configs Kafka declares LONG or SHORT; every other integer config is an INT.
_LONG_CONFIGS = frozenset(
    {
        "delete.retention.ms",
        "file.delete.delay.ms",
        "flush.messages",
        "flush.ms",
        "max.compaction.lag.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.after.max.ms",
        "min.compaction.lag.ms",
        "retention.bytes",
        "retention.ms",
        "segment.jitter.ms",
        "segment.ms",
        "log.cleaner.delete.retention.ms",
        "log.cleaner.min.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms",
        "log.cleaner.backoff.ms",
        "log.segment.delete.delay.ms",
        "log.flush.interval.messages",
        "log.flush.interval.ms",
        "log.flush.scheduler.interval.ms",
        "log.message.timestamp.before.max.ms",
        "log.message.timestamp.after.max.ms",
        "log.retention.bytes",
        "log.retention.ms",
        "log.retention.check.interval.ms",
        "log.roll.ms",
        "log.roll.jitter.ms",
        "replica.lag.time.max.ms",
    }
)
_SHORT_CONFIGS = frozenset({"offsets.topic.replication.factor"})
_STRING_CONFIGS = frozenset({"compression.type", "message.timestamp.type"})

# Kafka's DynamicBrokerConfig.brokerConfigSynonyms: names that stand for one setting, most specific first.
_BROKER_SYNONYM_GROUPS = (
    ("log.roll.ms", "log.roll.hours"),
    ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
    ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
)
_BROKER_SYNONYMS = {
    name: [n for n in group if n in BROKER_CONFIGS]
    for group in _BROKER_SYNONYM_GROUPS
    for name in group
    if name != "log.flush.scheduler.interval.ms"
}


@dataclass(frozen=True, slots=True)
class Synonym:
    name: str
    value: str | None
    source: ConfigSource


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    name: str
    value: str | None
    source: ConfigSource
    read_only: bool
    is_sensitive: bool
    config_type: ConfigType
    synonyms: tuple[Synonym, ...]
    documentation: str | None


def config_type(name: str, definition: ConfigDef) -> ConfigType:
    """Kafka's declared type of a config."""
    if definition.sensitive:
        return ConfigType.PASSWORD
    if definition.parse is parse_bool:
        return ConfigType.BOOLEAN
    if definition.parse is parse_ratio:
        return ConfigType.DOUBLE
    if definition.parse is parse_cleanup_policy:
        return ConfigType.LIST
    if name in _LONG_CONFIGS:
        return ConfigType.LONG
    if name in _SHORT_CONFIGS:
        return ConfigType.SHORT
    qualname = getattr(definition.parse, "__qualname__", "")
    if name not in _STRING_CONFIGS and qualname.startswith(("parse_int", "parse_optional_int")):
        return ConfigType.INT
    return ConfigType.STRING


def render(value: object) -> str | None:
    """A parsed config value as Kafka writes it (booleans in lower case, None as null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _levels(config: BrokerConfig) -> list[tuple[Mapping[str, str], ConfigSource]]:
    defaults = {n: d.default for n, d in BROKER_CONFIGS.items() if d.default is not None}
    return [
        ({}, ConfigSource.DYNAMIC_BROKER_CONFIG),
        (config.dynamic, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        (config.explicit, ConfigSource.STATIC_BROKER_CONFIG),
        (defaults, ConfigSource.DEFAULT_CONFIG),
    ]


def broker_synonyms(config: BrokerConfig, name: str, sensitive: bool = False) -> list[Synonym]:
    """Kafka's `configSynonyms(name, brokerConfigSynonyms(name))`."""
    names = _BROKER_SYNONYMS.get(name, [name])
    found = [
        Synonym(n, None if sensitive else level[n], source)
        for level, source in _levels(config)
        for n in names
        if n in level
    ]
    while found and found[0].name != name:
        found.pop(0)
    return found


def effective_topic_config(config: BrokerConfig, overrides: Mapping[str, str], name: str) -> str:
    return overrides[name] if name in overrides else config.topic_default(name)


def topic_entries(config: BrokerConfig, overrides: Mapping[str, str]) -> list[ConfigEntry]:
    """Every topic config of a topic with these overrides, sorted by name."""
    return [_topic_entry(config, overrides, name) for name in sorted(TOPIC_CONFIGS)]


def _topic_entry(config: BrokerConfig, overrides: Mapping[str, str], name: str) -> ConfigEntry:
    definition, primary = TOPIC_CONFIGS[name]
    value = effective_topic_config(config, overrides, name)
    synonyms: list[Synonym] = []
    if name in overrides:
        synonyms.append(Synonym(name, value, ConfigSource.TOPIC_CONFIG))
    if primary is not None and primary in BROKER_CONFIGS:
        synonyms += broker_synonyms(config, primary, definition.sensitive)
    return ConfigEntry(
        name=name,
        value=None if definition.sensitive else value,
        source=synonyms[0].source if synonyms else ConfigSource.DEFAULT_CONFIG,
        read_only=False,
        is_sensitive=definition.sensitive,
        config_type=config_type(name, definition),
        synonyms=tuple(synonyms),
        documentation=definition.doc or None,
    )


def broker_entries(config: BrokerConfig, per_broker: bool) -> list[ConfigEntry]:
    """This broker's configs ("<id>"), or only the dynamic cluster defaults ("")."""
    names = sorted(BROKER_CONFIGS) if per_broker else sorted(config.dynamic)
    return [_broker_entry(config, name, per_broker) for name in names if name in BROKER_CONFIGS]


def _broker_entry(config: BrokerConfig, name: str, per_broker: bool) -> ConfigEntry:
    definition = BROKER_CONFIGS[name]
    synonyms = broker_synonyms(config, name, definition.sensitive)
    if not per_broker:
        synonyms = [s for s in synonyms if s.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG]
        value = config.dynamic.get(name)
    else:
        value = render(config.get(name))
    return ConfigEntry(
        name=name,
        value=None if definition.sensitive else value,
        source=synonyms[0].source if synonyms else ConfigSource.DEFAULT_CONFIG,
        read_only=name not in DYNAMIC_BROKER_CONFIGS,
        is_sensitive=definition.sensitive,
        config_type=config_type(name, definition),
        synonyms=tuple(synonyms),
        documentation=definition.doc or None,
    )


def group_entries(config: BrokerConfig, overrides: Mapping[str, str]) -> list[ConfigEntry]:
    """Every group config (KIP-848) of a group with these overrides, sorted by name: the override
    (GROUP_CONFIG), then the broker synonym's levels (Kafka's ConfigHelper.createGroupConfigEntry)."""
    entries = []
    for name in sorted(GROUP_CONFIGS):
        primary = GROUP_CONFIGS[name][0]
        synonyms = broker_synonyms(config, primary)
        if name in overrides:
            synonyms.insert(0, Synonym(name, overrides[name], ConfigSource.GROUP_CONFIG))
        entries.append(
            ConfigEntry(
                name=name,
                value=synonyms[0].value if synonyms else None,
                source=synonyms[0].source if synonyms else ConfigSource.DEFAULT_CONFIG,
                read_only=False,
                is_sensitive=False,
                config_type=ConfigType.INT,
                synonyms=tuple(synonyms),
                documentation=None,
            )
        )
    return entries
