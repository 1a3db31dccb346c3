"""LogConfig: a partition's topic-level configuration, with Kafka's names and defaults.

Every Kafka topic config is accepted by name (`segment.bytes`, `retention.ms`...) and held in a
snake_case field; values are validated as Kafka does (type, range, allowed strings). Configs that
storage does not act on (compression levels, throttled replicas, tiered storage) are still
validated and kept so that DescribeConfigs can report them. Defaults are Kafka 4.x's.

riverlog adds one topic config, `riverlog.strict.durability` (broker: `riverlog.durability=strict`):
when true the broker awaits `GroupCommitter.sync(log)` before acknowledging a produce, so an
acknowledged batch survives power loss. The default (false) is Kafka's policy: a batch is
acknowledged from the page cache, made durable by replication and by `flush.messages`/`flush.ms`.

`producer_id_expiration_ms` is the broker config `producer.id.expiration.ms`; it is not a topic
config and is set only through `from_broker_configs`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from riverlog.storage.errors import InvalidConfigError

LONG_MAX = 9_223_372_036_854_775_807

CLEANUP_POLICIES = frozenset({"delete", "compact"})
COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Per-partition log settings; field docs name the Kafka topic config."""

    segment_bytes: int = 1_073_741_824  # segment.bytes
    segment_ms: int = 604_800_000  # segment.ms
    segment_jitter_ms: int = 0  # segment.jitter.ms
    segment_index_bytes: int = 10_485_760  # segment.index.bytes
    index_interval_bytes: int = 4096  # index.interval.bytes
    flush_messages: int = LONG_MAX  # flush.messages
    flush_ms: int = LONG_MAX  # flush.ms
    retention_bytes: int = -1  # retention.bytes
    retention_ms: int = 604_800_000  # retention.ms
    max_message_bytes: int = 1_048_588  # max.message.bytes
    cleanup_policy: tuple[str, ...] = ("delete",)  # cleanup.policy
    delete_retention_ms: int = 86_400_000  # delete.retention.ms
    min_compaction_lag_ms: int = 0  # min.compaction.lag.ms
    max_compaction_lag_ms: int = LONG_MAX  # max.compaction.lag.ms
    min_cleanable_dirty_ratio: float = 0.5  # min.cleanable.dirty.ratio
    file_delete_delay_ms: int = 60_000  # file.delete.delay.ms
    message_timestamp_type: str = "CreateTime"  # message.timestamp.type
    message_timestamp_before_max_ms: int = LONG_MAX  # message.timestamp.before.max.ms
    message_timestamp_after_max_ms: int = 3_600_000  # message.timestamp.after.max.ms
    compression_type: str = "producer"  # compression.type
    compression_gzip_level: int = -1  # compression.gzip.level
    compression_lz4_level: int = 9  # compression.lz4.level
    compression_zstd_level: int = 3  # compression.zstd.level
    min_insync_replicas: int = 1  # min.insync.replicas
    unclean_leader_election_enable: bool = False  # unclean.leader.election.enable
    preallocate: bool = False  # preallocate
    leader_replication_throttled_replicas: str = ""  # leader.replication.throttled.replicas
    follower_replication_throttled_replicas: str = ""  # follower.replication.throttled.replicas
    remote_storage_enable: bool = False  # remote.storage.enable
    remote_log_copy_disable: bool = False  # remote.log.copy.disable
    remote_log_delete_on_disable: bool = False  # remote.log.delete.on.disable
    local_retention_ms: int = -2  # local.retention.ms
    local_retention_bytes: int = -2  # local.retention.bytes
    strict_durability: bool = False  # riverlog.strict.durability
    producer_id_expiration_ms: int = 86_400_000  # broker: producer.id.expiration.ms

    @property
    def delete(self) -> bool:
        """Whether time/size retention deletes old segments (cleanup.policy has `delete`)."""
        return "delete" in self.cleanup_policy

    @property
    def compact(self) -> bool:
        """Whether the cleaner compacts this log (cleanup.policy has `compact`)."""
        return "compact" in self.cleanup_policy

    @property
    def log_append_time(self) -> bool:
        """Whether the broker stamps batches with its own clock (LogAppendTime)."""
        return self.message_timestamp_type == "LogAppendTime"

    @classmethod
    def from_topic_configs(
        cls, configs: Mapping[str, str], base: LogConfig | None = None
    ) -> LogConfig:
        """`base` with the given Kafka topic configs applied; raises InvalidConfigError."""
        changes: dict[str, Any] = {}
        for name, raw in configs.items():
            spec = TOPIC_CONFIGS.get(name)
            if spec is None:
                raise InvalidConfigError(f"Unknown topic config name: {name}")
            changes[spec.field] = _parse(spec, name, raw)
        return dataclasses.replace(base or cls(), **changes)

    @classmethod
    def from_broker_configs(
        cls, configs: Mapping[str, str], base: LogConfig | None = None
    ) -> LogConfig:
        """Defaults from broker properties (`log.retention.hours`, `log.segment.bytes`...).

        Keys that are not log defaults are ignored (the broker validates its own keys).
        Precedence as in Kafka: `*.ms` over `*.minutes` over `*.hours`.
        """
        topic: dict[str, str] = {}
        for broker_name, topic_name in _BROKER_SYNONYMS.items():
            if broker_name in configs:
                topic[topic_name] = configs[broker_name]
        for topic_name, units in _BROKER_TIME_UNITS.items():
            for broker_name, factor in units:
                if broker_name in configs:
                    value = _int(broker_name, configs[broker_name]) * factor
                    # Kafka: any negative retention means "unlimited" (-1).
                    topic[topic_name] = str(
                        -1 if value < 0 and topic_name == "retention.ms" else value
                    )
                    break
        durability = configs.get("riverlog.durability")
        if durability is not None:
            if durability not in ("kafka", "strict"):
                raise InvalidConfigError(
                    f"riverlog.durability must be kafka or strict: {durability!r}"
                )
            topic["riverlog.strict.durability"] = str(durability == "strict").lower()
        config = cls.from_topic_configs(topic, base)
        if "producer.id.expiration.ms" in configs:
            value = _int("producer.id.expiration.ms", configs["producer.id.expiration.ms"])
            config = dataclasses.replace(config, producer_id_expiration_ms=value)
        return config

    def to_topic_configs(self) -> dict[str, str]:
        """Every topic config as Kafka names and string values (for DescribeConfigs)."""
        return {
            name: spec.render(getattr(self, spec.field)) for name, spec in TOPIC_CONFIGS.items()
        }


@dataclass(frozen=True, slots=True)
class _Spec:
    field: str
    parse: Callable[[str, str], object]
    render: Callable[[object], str] = str


def _parse(spec: _Spec, name: str, raw: str) -> object:
    try:
        return spec.parse(name, raw.strip())
    except InvalidConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidConfigError(f"Invalid value {raw!r} for configuration {name}: {exc}") from None


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise InvalidConfigError(f"Invalid value {raw!r} for configuration {name}") from None


def _int_at_least(minimum: int) -> Callable[[str, str], object]:
    def parse(name: str, raw: str) -> object:
        value = _int(name, raw)
        if value < minimum:
            raise InvalidConfigError(
                f"Invalid value {raw} for configuration {name}: must be >= {minimum}"
            )
        return value

    return parse


def _bool(name: str, raw: str) -> object:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise InvalidConfigError(
            f"Invalid value {raw!r} for configuration {name}: expected true/false"
        )
    return lowered == "true"


def _ratio(name: str, raw: str) -> object:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise InvalidConfigError(f"Invalid value {raw} for configuration {name}: must be in [0,1]")
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[str, str], object]:
    def parse(name: str, raw: str) -> object:
        if raw not in choices:
            raise InvalidConfigError(
                f"Invalid value {raw!r} for configuration {name}: one of {choices}"
            )
        return raw

    return parse


def _cleanup_policy(name: str, raw: str) -> object:
    items = tuple(sorted({item.strip() for item in raw.split(",") if item.strip()}))
    unknown = [item for item in items if item not in CLEANUP_POLICIES]
    if unknown:
        raise InvalidConfigError(f"Invalid value {raw!r} for configuration {name}: {unknown[0]}")
    return items


def _text(name: str, raw: str) -> object:
    return raw


def _render_bool(value: object) -> str:
    return "true" if value else "false"


def _render_list(value: object) -> str:
    assert isinstance(value, tuple)
    return ",".join(value)


_LONG = _int_at_least(-(2**63))

TOPIC_CONFIGS: dict[str, _Spec] = {
    "segment.bytes": _Spec("segment_bytes", _int_at_least(14)),
    "segment.ms": _Spec("segment_ms", _int_at_least(1)),
    "segment.jitter.ms": _Spec("segment_jitter_ms", _int_at_least(0)),
    "segment.index.bytes": _Spec("segment_index_bytes", _int_at_least(4)),
    "index.interval.bytes": _Spec("index_interval_bytes", _int_at_least(0)),
    "flush.messages": _Spec("flush_messages", _int_at_least(1)),
    "flush.ms": _Spec("flush_ms", _int_at_least(0)),
    "retention.bytes": _Spec("retention_bytes", _LONG),
    "retention.ms": _Spec("retention_ms", _int_at_least(-1)),
    "max.message.bytes": _Spec("max_message_bytes", _int_at_least(0)),
    "cleanup.policy": _Spec("cleanup_policy", _cleanup_policy, _render_list),
    "delete.retention.ms": _Spec("delete_retention_ms", _int_at_least(0)),
    "min.compaction.lag.ms": _Spec("min_compaction_lag_ms", _int_at_least(0)),
    "max.compaction.lag.ms": _Spec("max_compaction_lag_ms", _int_at_least(1)),
    "min.cleanable.dirty.ratio": _Spec("min_cleanable_dirty_ratio", _ratio),
    "file.delete.delay.ms": _Spec("file_delete_delay_ms", _int_at_least(0)),
    "message.timestamp.type": _Spec("message_timestamp_type", _one_of(TIMESTAMP_TYPES)),
    "message.timestamp.before.max.ms": _Spec("message_timestamp_before_max_ms", _int_at_least(0)),
    "message.timestamp.after.max.ms": _Spec("message_timestamp_after_max_ms", _int_at_least(0)),
    "compression.type": _Spec("compression_type", _one_of(COMPRESSION_TYPES)),
    "compression.gzip.level": _Spec("compression_gzip_level", _int_at_least(-1)),
    "compression.lz4.level": _Spec("compression_lz4_level", _int_at_least(1)),
    "compression.zstd.level": _Spec("compression_zstd_level", _int_at_least(-131072)),
    "min.insync.replicas": _Spec("min_insync_replicas", _int_at_least(1)),
    "unclean.leader.election.enable": _Spec("unclean_leader_election_enable", _bool, _render_bool),
    "preallocate": _Spec("preallocate", _bool, _render_bool),
    "leader.replication.throttled.replicas": _Spec("leader_replication_throttled_replicas", _text),
    "follower.replication.throttled.replicas": _Spec(
        "follower_replication_throttled_replicas", _text
    ),
    "remote.storage.enable": _Spec("remote_storage_enable", _bool, _render_bool),
    "remote.log.copy.disable": _Spec("remote_log_copy_disable", _bool, _render_bool),
    "remote.log.delete.on.disable": _Spec("remote_log_delete_on_disable", _bool, _render_bool),
    "local.retention.ms": _Spec("local_retention_ms", _int_at_least(-2)),
    "local.retention.bytes": _Spec("local_retention_bytes", _int_at_least(-2)),
    "riverlog.strict.durability": _Spec("strict_durability", _bool, _render_bool),
}

# Broker property -> topic config it defaults (Kafka's "synonyms").
_BROKER_SYNONYMS: dict[str, str] = {
    "log.segment.bytes": "segment.bytes",
    "log.index.size.max.bytes": "segment.index.bytes",
    "log.index.interval.bytes": "index.interval.bytes",
    "log.flush.interval.messages": "flush.messages",
    "log.flush.interval.ms": "flush.ms",
    "log.retention.bytes": "retention.bytes",
    "message.max.bytes": "max.message.bytes",
    "log.cleanup.policy": "cleanup.policy",
    "log.cleaner.delete.retention.ms": "delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms": "min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms": "max.compaction.lag.ms",
    "log.cleaner.min.cleanable.ratio": "min.cleanable.dirty.ratio",
    "log.segment.delete.delay.ms": "file.delete.delay.ms",
    "log.message.timestamp.type": "message.timestamp.type",
    "log.message.timestamp.before.max.ms": "message.timestamp.before.max.ms",
    "log.message.timestamp.after.max.ms": "message.timestamp.after.max.ms",
    "compression.type": "compression.type",
    "min.insync.replicas": "min.insync.replicas",
    "unclean.leader.election.enable": "unclean.leader.election.enable",
    "log.preallocate": "preallocate",
}

_HOUR = 3_600_000
_BROKER_TIME_UNITS: dict[str, tuple[tuple[str, int], ...]] = {
    "retention.ms": (
        ("log.retention.ms", 1),
        ("log.retention.minutes", 60_000),
        ("log.retention.hours", _HOUR),
    ),
    "segment.ms": (("log.roll.ms", 1), ("log.roll.hours", _HOUR)),
    "segment.jitter.ms": (("log.roll.jitter.ms", 1), ("log.roll.jitter.hours", _HOUR)),
}


# Log cleaner sizes (here, not in cleaner.py, so that importing storage does not import the cleaner).
DEFAULT_DEDUPE_BUFFER_SIZE = 128 * 1024 * 1024  # log.cleaner.dedupe.buffer.size
DEFAULT_STEP_BYTES = 256 * 1024  # segment bytes one cleaner step reads
