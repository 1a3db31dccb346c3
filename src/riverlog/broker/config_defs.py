"""Kafka's configuration definitions: names, types, defaults, validators, topic↔broker synonyms.

The tables here are data, in Kafka's vocabulary; `config.py` turns them into a validated `BrokerConfig`.
Values are kept as strings on the wire (DescribeConfigs) and parsed once into Python values here.
Defaults are Kafka 4.0's unless a comment says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class ConfigError(ValueError):
    """An invalid or unknown configuration key or value; the message names the key."""


Parser = Callable[[str], object]


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError(f"expected true or false, got {text!r}")


def parse_int(low: int = -(2**63), high: int = INT64_MAX) -> Parser:
    def parse(text: str) -> int:
        value = int(text.strip())
        if not low <= value <= high:
            raise ValueError(f"value {value} is out of range [{low}, {high}]")
        return value

    return parse


def parse_ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"value {value} must be between 0 and 1")
    return value


def parse_choice(*choices: str) -> Parser:
    def parse(text: str) -> str:
        value = text.strip()
        if value not in choices:
            raise ValueError(f"value {value!r} is not one of {', '.join(choices)}")
        return value

    return parse


def parse_cleanup_policy(text: str) -> str:
    """A LIST of `delete` and `compact`. An empty list is valid, as in Kafka (its ValidList checks
    each item only; Kafka 4.2 documents it as infinite retention): no retention, no compaction."""
    parts = sorted({p.strip() for p in text.split(",") if p.strip()})
    if any(p not in ("compact", "delete") for p in parts):
        raise ValueError(f"value {text!r} must be delete, compact, compact,delete or empty")
    return ",".join(parts)


def parse_str(text: str) -> str:
    return text


def parse_optional_int(text: str) -> int | None:
    stripped = text.strip()
    return None if stripped in ("", "null") else int(stripped)


@dataclass(frozen=True, slots=True)
class ConfigDef:
    name: str
    parse: Parser
    default: str | None
    doc: str = ""
    sensitive: bool = False
    read_only: bool = False


COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")


# Topic-level configs with the broker config that supplies their default (Kafka's "synonyms").
TOPIC_CONFIGS: dict[str, tuple[ConfigDef, str | None]] = {
    d.name: (d, synonym)
    for d, synonym in (
        (ConfigDef("cleanup.policy", parse_cleanup_policy, "delete"), "log.cleanup.policy"),
        (
            ConfigDef("compression.type", parse_choice(*COMPRESSION_TYPES), "producer"),
            "compression.type",
        ),
        (
            ConfigDef("delete.retention.ms", parse_int(0), "86400000"),
            "log.cleaner.delete.retention.ms",
        ),
        (ConfigDef("file.delete.delay.ms", parse_int(0), "60000"), "log.segment.delete.delay.ms"),
        (ConfigDef("flush.messages", parse_int(1), str(INT64_MAX)), "log.flush.interval.messages"),
        (ConfigDef("flush.ms", parse_int(0), str(INT64_MAX)), "log.flush.interval.ms"),
        (
            ConfigDef("index.interval.bytes", parse_int(0, INT32_MAX), "4096"),
            "log.index.interval.bytes",
        ),
        (
            ConfigDef("max.compaction.lag.ms", parse_int(1), str(INT64_MAX)),
            "log.cleaner.max.compaction.lag.ms",
        ),
        (ConfigDef("max.message.bytes", parse_int(0, INT32_MAX), "1048588"), "message.max.bytes"),
        (
            ConfigDef("message.timestamp.type", parse_choice(*TIMESTAMP_TYPES), "CreateTime"),
            "log.message.timestamp.type",
        ),
        (
            ConfigDef("message.timestamp.before.max.ms", parse_int(0), str(INT64_MAX)),
            "log.message.timestamp.before.max.ms",
        ),
        (
            ConfigDef("message.timestamp.after.max.ms", parse_int(0), "3600000"),
            "log.message.timestamp.after.max.ms",
        ),
        (
            ConfigDef("min.cleanable.dirty.ratio", parse_ratio, "0.5"),
            "log.cleaner.min.cleanable.ratio",
        ),
        (
            ConfigDef("min.compaction.lag.ms", parse_int(0), "0"),
            "log.cleaner.min.compaction.lag.ms",
        ),
        (ConfigDef("min.insync.replicas", parse_int(1, INT32_MAX), "1"), "min.insync.replicas"),
        (ConfigDef("preallocate", parse_bool, "false"), "log.preallocate"),
        (ConfigDef("retention.bytes", parse_int(-1), "-1"), "log.retention.bytes"),
        (ConfigDef("retention.ms", parse_int(-1), "604800000"), "log.retention.ms"),
        (ConfigDef("segment.bytes", parse_int(14, INT32_MAX), "1073741824"), "log.segment.bytes"),
        (
            ConfigDef("segment.index.bytes", parse_int(4, INT32_MAX), "10485760"),
            "log.index.size.max.bytes",
        ),
        (ConfigDef("segment.jitter.ms", parse_int(0), "0"), "log.roll.jitter.ms"),
        (ConfigDef("segment.ms", parse_int(1), "604800000"), "log.roll.ms"),
        (
            ConfigDef("unclean.leader.election.enable", parse_bool, "false"),
            "unclean.leader.election.enable",
        ),
    )
}


def parse_password(text: str) -> str:
    return text


# Listener and security configs (Kafka's names and defaults). Every `ssl.*` and `sasl.*` one may also
# be set per listener as `listener.name.<listener>.<name>` (see `listener_setting_name`).
SECURITY_DEFS: tuple[ConfigDef, ...] = (
    ConfigDef(
        "listener.security.protocol.map",
        parse_str,
        "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        read_only=True,
    ),
    ConfigDef("inter.broker.listener.name", parse_str, None, read_only=True),
    ConfigDef(
        "security.inter.broker.protocol",
        parse_choice("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
        "PLAINTEXT",
        read_only=True,
    ),
    ConfigDef("ssl.keystore.type", parse_choice("JKS", "PKCS12", "PEM"), "JKS", read_only=True),
    ConfigDef("ssl.keystore.location", parse_str, None, read_only=True),
    ConfigDef("ssl.keystore.password", parse_password, None, sensitive=True, read_only=True),
    ConfigDef("ssl.key.password", parse_password, None, sensitive=True, read_only=True),
    ConfigDef(
        "ssl.keystore.certificate.chain", parse_password, None, sensitive=True, read_only=True
    ),
    ConfigDef("ssl.keystore.key", parse_password, None, sensitive=True, read_only=True),
    ConfigDef("ssl.truststore.type", parse_choice("JKS", "PKCS12", "PEM"), "JKS", read_only=True),
    ConfigDef("ssl.truststore.location", parse_str, None, read_only=True),
    ConfigDef("ssl.truststore.password", parse_password, None, sensitive=True, read_only=True),
    ConfigDef("ssl.truststore.certificates", parse_password, None, sensitive=True, read_only=True),
    ConfigDef(
        "ssl.client.auth", parse_choice("none", "requested", "required"), "none", read_only=True
    ),
    ConfigDef("ssl.protocol", parse_str, "TLSv1.3", read_only=True),
    ConfigDef("ssl.enabled.protocols", parse_str, "TLSv1.2,TLSv1.3", read_only=True),
    ConfigDef("ssl.cipher.suites", parse_str, "", read_only=True),
    ConfigDef("ssl.principal.mapping.rules", parse_str, "DEFAULT", read_only=True),
    ConfigDef("ssl.endpoint.identification.algorithm", parse_str, "https", read_only=True),
    ConfigDef("sasl.enabled.mechanisms", parse_str, "GSSAPI", read_only=True),
    ConfigDef("sasl.mechanism.inter.broker.protocol", parse_str, "GSSAPI", read_only=True),
    ConfigDef("sasl.jaas.config", parse_password, None, sensitive=True, read_only=True),
    ConfigDef("sasl.server.max.receive.size", parse_int(1, INT32_MAX), "524288", read_only=True),
    ConfigDef("connections.max.reauth.ms", parse_int(0), "0", read_only=True),
    # Kerberos (GSSAPI) settings: accepted and reported with Kafka's defaults (Kafka updates them
    # dynamically per listener); riverlog offers no GSSAPI, so nothing reads them.
    ConfigDef("sasl.kerberos.service.name", parse_str, None),
    ConfigDef("sasl.kerberos.kinit.cmd", parse_str, "/usr/bin/kinit"),
    ConfigDef("sasl.kerberos.min.time.before.relogin", parse_int(0), "60000"),
    ConfigDef("sasl.kerberos.ticket.renew.jitter", parse_ratio, "0.05"),
    ConfigDef("sasl.kerberos.ticket.renew.window.factor", parse_ratio, "0.8"),
    ConfigDef("sasl.kerberos.principal.to.local.rules", parse_str, "DEFAULT"),
    ConfigDef("authorizer.class.name", parse_str, "", read_only=True),
    ConfigDef("super.users", parse_str, None, read_only=True),
    ConfigDef("allow.everyone.if.no.acl.found", parse_bool, "false", read_only=True),
)

# Broker configs AlterConfigs may change at run time besides the topic configs' synonyms (Kafka updates
# the SASL/Kerberos ones per listener without a restart).
EXTRA_DYNAMIC_BROKER_CONFIGS = frozenset(
    {
        "sasl.kerberos.service.name",
        "sasl.kerberos.kinit.cmd",
        "sasl.kerberos.min.time.before.relogin",
        "sasl.kerberos.ticket.renew.jitter",
        "sasl.kerberos.ticket.renew.window.factor",
        "sasl.kerberos.principal.to.local.rules",
    }
)

# `listener.name.<listener>.<setting>`: settings a listener may override (Kafka's rule: the ssl.*
# and sasl.* ones, and `<mechanism>.sasl.jaas.config` per SASL mechanism).
LISTENER_PREFIX = "listener.name."
LISTENER_OVERRIDABLE = ("ssl.", "sasl.", "connections.max.reauth.ms")


def listener_setting_name(name: str) -> tuple[str, str] | None:
    """`listener.name.sasl_ssl.ssl.client.auth` → ("SASL_SSL", "ssl.client.auth"); None if not
    listener-prefixed. A mechanism-scoped JAAS config keeps its mechanism:
    `listener.name.x.plain.sasl.jaas.config` → ("X", "plain.sasl.jaas.config")."""
    if not name.startswith(LISTENER_PREFIX):
        return None
    listener, _, setting = name[len(LISTENER_PREFIX) :].partition(".")
    if not listener or not setting:
        return None
    return listener.upper(), setting


# Broker-level configs. Log defaults carry the same defaults as their topic synonyms.
_BROKER_DEFS: tuple[ConfigDef, ...] = (
    ConfigDef("broker.id", parse_int(-1, INT32_MAX), "0", read_only=True),
    ConfigDef("node.id", parse_int(-1, INT32_MAX), None, read_only=True),
    ConfigDef("broker.rack", parse_str, None, read_only=True),
    # Fetch from follower (KIP-392): unset (leaders serve consumers) or Kafka's rack-aware selector.
    ConfigDef(
        "replica.selector.class",
        parse_choice(
            "org.apache.kafka.common.replica.LeaderSelector",
            "org.apache.kafka.common.replica.RackAwareReplicaSelector",
        ),
        None,
        read_only=True,
    ),
    ConfigDef("listeners", parse_str, "PLAINTEXT://localhost:9092", read_only=True),
    ConfigDef("advertised.listeners", parse_str, None, read_only=True),
    ConfigDef("log.dirs", parse_str, None, read_only=True),
    ConfigDef("log.dir", parse_str, "./data", read_only=True),
    ConfigDef("num.partitions", parse_int(1, INT32_MAX), "1"),
    ConfigDef("default.replication.factor", parse_int(1, 32767), "1"),
    ConfigDef("auto.create.topics.enable", parse_bool, "true", read_only=True),
    ConfigDef("delete.topic.enable", parse_bool, "true", read_only=True),
    ConfigDef("socket.request.max.bytes", parse_int(1, INT32_MAX), "104857600", read_only=True),
    # The most partitions one DescribeTopicPartitions response carries (KIP-966).
    ConfigDef("max.request.partition.size.limit", parse_int(1, INT32_MAX), "2000", read_only=True),
    ConfigDef("log.cleanup.policy", parse_cleanup_policy, "delete"),
    ConfigDef("compression.type", parse_choice(*COMPRESSION_TYPES), "producer"),
    ConfigDef("log.cleaner.enable", parse_bool, "true", read_only=True),
    ConfigDef("log.cleaner.delete.retention.ms", parse_int(0), "86400000"),
    ConfigDef("log.cleaner.min.cleanable.ratio", parse_ratio, "0.5"),
    ConfigDef("log.cleaner.min.compaction.lag.ms", parse_int(0), "0"),
    ConfigDef("log.cleaner.max.compaction.lag.ms", parse_int(1), str(INT64_MAX)),
    ConfigDef("log.cleaner.backoff.ms", parse_int(0), "15000", read_only=True),
    ConfigDef("log.segment.delete.delay.ms", parse_int(0), "60000"),
    ConfigDef("log.flush.interval.messages", parse_int(1), str(INT64_MAX)),
    ConfigDef("log.flush.interval.ms", parse_optional_int, None),
    ConfigDef("log.flush.scheduler.interval.ms", parse_int(0), str(INT64_MAX), read_only=True),
    ConfigDef(
        "log.flush.offset.checkpoint.interval.ms", parse_int(0, INT32_MAX), "60000", read_only=True
    ),
    ConfigDef("log.index.interval.bytes", parse_int(0, INT32_MAX), "4096"),
    ConfigDef("log.index.size.max.bytes", parse_int(4, INT32_MAX), "10485760"),
    ConfigDef("message.max.bytes", parse_int(0, INT32_MAX), "1048588"),
    ConfigDef("log.message.timestamp.type", parse_choice(*TIMESTAMP_TYPES), "CreateTime"),
    ConfigDef("log.message.timestamp.before.max.ms", parse_int(0), str(INT64_MAX)),
    ConfigDef("log.message.timestamp.after.max.ms", parse_int(0), "3600000"),
    ConfigDef("min.insync.replicas", parse_int(1, INT32_MAX), "1"),
    ConfigDef("log.preallocate", parse_bool, "false"),
    ConfigDef("log.retention.bytes", parse_int(-1), "-1"),
    ConfigDef("log.retention.ms", parse_optional_int, None),
    ConfigDef("log.retention.minutes", parse_optional_int, None),
    ConfigDef("log.retention.hours", parse_int(-1, INT32_MAX), "168"),
    ConfigDef("log.retention.check.interval.ms", parse_int(1), "300000", read_only=True),
    ConfigDef("log.segment.bytes", parse_int(14, INT32_MAX), "1073741824"),
    ConfigDef("log.roll.ms", parse_optional_int, None),
    ConfigDef("log.roll.hours", parse_int(1, INT32_MAX), "168"),
    ConfigDef("log.roll.jitter.ms", parse_int(0), "0"),
    ConfigDef("unclean.leader.election.enable", parse_bool, "false"),
    ConfigDef("offsets.topic.num.partitions", parse_int(1, INT32_MAX), "50", read_only=True),
    ConfigDef("offsets.topic.replication.factor", parse_int(1, 32767), "3", read_only=True),
    ConfigDef("offsets.retention.minutes", parse_int(1, INT32_MAX), "10080"),
    ConfigDef("offsets.retention.check.interval.ms", parse_int(1), "600000", read_only=True),
    ConfigDef("offsets.topic.segment.bytes", parse_int(1, INT32_MAX), "104857600", read_only=True),
    ConfigDef("offset.metadata.max.bytes", parse_int(0, INT32_MAX), "4096", read_only=True),
    ConfigDef("group.max.size", parse_int(1, INT32_MAX), str(INT32_MAX), read_only=True),
    ConfigDef(
        "transaction.state.log.num.partitions", parse_int(1, INT32_MAX), "50", read_only=True
    ),
    ConfigDef("transaction.max.timeout.ms", parse_int(1, INT32_MAX), "900000"),
    ConfigDef("transaction.state.log.replication.factor", parse_int(1, 32767), "3", read_only=True),
    ConfigDef(
        "transaction.state.log.segment.bytes", parse_int(1, INT32_MAX), "104857600", read_only=True
    ),
    ConfigDef("transaction.state.log.min.isr", parse_int(1, INT32_MAX), "2", read_only=True),
    ConfigDef(
        "transaction.state.log.load.buffer.size", parse_int(1, INT32_MAX), "5242880", read_only=True
    ),
    ConfigDef(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        parse_int(1, INT32_MAX),
        "10000",
        read_only=True,
    ),
    ConfigDef(
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        parse_int(1, INT32_MAX),
        "3600000",
        read_only=True,
    ),
    ConfigDef(
        "transactional.id.expiration.ms", parse_int(1, INT32_MAX), "604800000", read_only=True
    ),
    ConfigDef("transaction.partition.verification.enable", parse_bool, "true"),
    ConfigDef("group.initial.rebalance.delay.ms", parse_int(0, INT32_MAX), "3000"),
    ConfigDef("group.min.session.timeout.ms", parse_int(0, INT32_MAX), "6000"),
    ConfigDef("group.max.session.timeout.ms", parse_int(0, INT32_MAX), "1800000"),
    ConfigDef(
        "group.consumer.session.timeout.ms", parse_int(1, INT32_MAX), "45000", read_only=True
    ),
    ConfigDef(
        "group.consumer.heartbeat.interval.ms", parse_int(1, INT32_MAX), "5000", read_only=True
    ),
    # The bounds of the group-level overrides (GROUP resource configs, KIP-848).
    ConfigDef(
        "group.consumer.min.session.timeout.ms", parse_int(1, INT32_MAX), "45000", read_only=True
    ),
    ConfigDef(
        "group.consumer.max.session.timeout.ms", parse_int(1, INT32_MAX), "60000", read_only=True
    ),
    ConfigDef(
        "group.consumer.min.heartbeat.interval.ms", parse_int(1, INT32_MAX), "5000", read_only=True
    ),
    ConfigDef(
        "group.consumer.max.heartbeat.interval.ms", parse_int(1, INT32_MAX), "15000", read_only=True
    ),
    ConfigDef("group.consumer.assignors", parse_str, "uniform,range", read_only=True),
    ConfigDef(
        "group.consumer.migration.policy",
        parse_choice("disabled", "upgrade", "downgrade", "bidirectional"),
        "bidirectional",
        read_only=True,
    ),
    ConfigDef("zookeeper.connect", parse_str, None, read_only=True),
    ConfigDef("zookeeper.session.timeout.ms", parse_int(1, INT32_MAX), "18000", read_only=True),
    ConfigDef("replica.lag.time.max.ms", parse_int(1), "30000", read_only=True),
    ConfigDef("zookeeper.connection.timeout.ms", parse_optional_int, None, read_only=True),
    ConfigDef("replica.fetch.wait.max.ms", parse_int(0, INT32_MAX), "500", read_only=True),
    ConfigDef("replica.fetch.min.bytes", parse_int(1, INT32_MAX), "1", read_only=True),
    ConfigDef("replica.fetch.max.bytes", parse_int(0, INT32_MAX), "1048576", read_only=True),
    ConfigDef(
        "replica.fetch.response.max.bytes", parse_int(0, INT32_MAX), "10485760", read_only=True
    ),
    ConfigDef("replica.fetch.backoff.ms", parse_int(0, INT32_MAX), "1000", read_only=True),
    ConfigDef("replica.socket.timeout.ms", parse_int(1, INT32_MAX), "30000", read_only=True),
    ConfigDef("controlled.shutdown.enable", parse_bool, "true", read_only=True),
    ConfigDef("auto.leader.rebalance.enable", parse_bool, "true", read_only=True),
    ConfigDef(
        "leader.imbalance.check.interval.seconds", parse_int(1, INT64_MAX), "300", read_only=True
    ),
    # riverlog's own: "kafka" acknowledges after the page-cache write (Kafka's policy);
    # "strict" fsyncs (group commit) before an append is acknowledged.
    ConfigDef("riverlog.durability", parse_choice("kafka", "strict"), "kafka", read_only=True),
    # riverlog's own: the finalized level of Kafka's `transaction.version` feature, which Kafka sets
    # with `kafka-storage format --feature` / `kafka-features upgrade` (2, transactions V2, is what
    # a new Kafka 4.0 cluster gets). Clients read it from ApiVersions.
    ConfigDef("riverlog.transaction.version", parse_int(0, 2), "2", read_only=True),
    ConfigDef("cluster.id", parse_str, None, read_only=True),
    # riverlog's own (Redpanda's default port): Prometheus metrics at GET /metrics; 0 turns it off.
    ConfigDef("metrics.port", parse_int(0, 65535), "9644", read_only=True),
    *SECURITY_DEFS,
)

BROKER_CONFIGS: dict[str, ConfigDef] = {d.name: d for d in _BROKER_DEFS}


def topic_config_names() -> list[str]:
    return sorted(TOPIC_CONFIGS)


def validate_topic_config(name: str, value: str | None) -> object:
    """Parse one topic config value; raise ConfigError naming the key when unknown or invalid."""
    entry = TOPIC_CONFIGS.get(name)
    if entry is None:
        raise ConfigError(f"unknown topic config {name!r}")
    if value is None:
        raise ConfigError(f"topic config {name!r} must have a value")
    try:
        return entry[0].parse(value)
    except ValueError as exc:
        raise ConfigError(f"invalid value {value!r} for topic config {name!r}: {exc}") from None
