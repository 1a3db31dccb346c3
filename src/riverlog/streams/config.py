"""StreamsConfig: Kafka Streams' configuration keys, names and defaults, declared as data.

Every key of Kafka Streams' `StreamsConfig` that means something here is declared once (type, default,
validator, doc). Client settings pass through as Kafka Streams passes them: a plain client key (say
`linger.ms`) reaches every client that knows it; `consumer.`, `main.consumer.`, `restore.consumer.`,
`global.consumer.`, `producer.` and `admin.` prefixes aim a key at one client (the more specific prefix wins), and `topic.`
sets a config of every internal topic. Clients are librdkafka's (confluent-kafka), so client keys are
librdkafka's property names; an unknown key — streams or client — is refused at construction, naming it.

Kafka Streams' own overrides of client defaults (group id = application id, no auto commit, earliest
reset, cooperative-sticky assignment, Java's murmur2 partitioner, read_committed and a transactional
producer under exactly_once_v2) are applied here, and a user cannot switch off the ones EOS needs.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Mapping
from typing import Any

from riverlog.common.configdef import ConfigDef, ConfigError, Importance, Type, in_range, one_of

AT_LEAST_ONCE = "at_least_once"
EXACTLY_ONCE_V2 = "exactly_once_v2"

LOG_AND_FAIL = "log-and-fail"
LOG_AND_CONTINUE = "log-and-continue"

# Java class names users paste from Kafka Streams configs map onto the same behaviours.
_DESER_HANDLERS = {
    LOG_AND_FAIL: LOG_AND_FAIL,
    LOG_AND_CONTINUE: LOG_AND_CONTINUE,
    "logandfailexceptionhandler": LOG_AND_FAIL,
    "logandcontinueexceptionhandler": LOG_AND_CONTINUE,
    "org.apache.kafka.streams.errors.logandfailexceptionhandler": LOG_AND_FAIL,
    "org.apache.kafka.streams.errors.logandcontinueexceptionhandler": LOG_AND_CONTINUE,
}
TIMESTAMP_EXTRACTORS = (
    "FailOnInvalidTimestamp",
    "LogAndSkipOnInvalidTimestamp",
    "UsePartitionTimeOnInvalidTimestamp",
    "WallclockTimestampExtractor",
)
_JAVA_PROCESSOR = "org.apache.kafka.streams.processor."

CLIENT_PREFIXES = (
    "consumer.",
    "main.consumer.",
    "restore.consumer.",
    "global.consumer.",
    "producer.",
    "admin.",
    "topic.",
)

EOS_COMMIT_INTERVAL_MS = 100
DEFAULT_COMMIT_INTERVAL_MS = 30000


def _deser_handler(name: str, value: Any) -> None:
    if value is None or callable(value):
        return
    if str(value).lower() not in _DESER_HANDLERS:
        raise ValueError(
            "must be log-and-fail or log-and-continue (or Kafka's class names for them)"
        )


def _timestamp_extractor(name: str, value: Any) -> None:
    if value is None or hasattr(value, "extract") or callable(value):
        return
    short = str(value).removeprefix(_JAVA_PROCESSOR)
    if short not in TIMESTAMP_EXTRACTORS:
        raise ValueError(
            f"must be one of {', '.join(TIMESTAMP_EXTRACTORS)} or an object with extract()"
        )


def _serde(name: str, value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    if callable(value) or (hasattr(value, "serializer") and hasattr(value, "deserializer")):
        return
    raise ValueError("must be a Serde (with serializer() and deserializer())")


def _required_text(name: str, value: Any) -> None:
    if value is None or not str(value).strip():
        raise ValueError("must not be empty")


STREAMS_CONFIG_DEF = (
    ConfigDef()
    .define(
        "application.id",
        Type.STRING,
        validator=_required_text,
        importance=Importance.HIGH,
        doc="Identifies the app: the group id, the prefix of internal topics and of state dirs.",
    )
    .define(
        "bootstrap.servers",
        Type.STRING,
        validator=_required_text,
        importance=Importance.HIGH,
        doc="host:port pairs of the Kafka cluster.",
    )
    .define(
        "processing.guarantee",
        Type.STRING,
        AT_LEAST_ONCE,
        one_of(AT_LEAST_ONCE, EXACTLY_ONCE_V2),
        Importance.MEDIUM,
        doc="at_least_once or exactly_once_v2 (one transactional producer per thread).",
    )
    .define(
        "commit.interval.ms",
        Type.LONG,
        DEFAULT_COMMIT_INTERVAL_MS,
        in_range(0),
        Importance.LOW,
        doc="How often to commit; 30000, or 100 under exactly_once_v2.",
    )
    .define(
        "num.stream.threads",
        Type.INT,
        1,
        in_range(1),
        Importance.MEDIUM,
        doc="Stream threads in this instance.",
    )
    .define(
        "state.dir",
        Type.STRING,
        os.path.join(tempfile.gettempdir(), "kafka-streams"),
        importance=Importance.HIGH,
        doc="Directory of state stores and .checkpoint files.",
    )
    .define(
        "statestore.cache.max.bytes",
        Type.LONG,
        10 * 1024 * 1024,
        in_range(0),
        Importance.MEDIUM,
        doc="Record cache across all threads; 0 emits every update.",
    )
    .define(
        "cache.max.bytes.buffering",
        Type.LONG,
        10 * 1024 * 1024,
        in_range(0),
        Importance.LOW,
        doc="Deprecated name of statestore.cache.max.bytes.",
    )
    .define(
        "default.key.serde",
        Type.CLASS,
        None,
        _serde,
        Importance.MEDIUM,
        doc="Serde of keys where the topology names none.",
    )
    .define(
        "default.value.serde",
        Type.CLASS,
        None,
        _serde,
        Importance.MEDIUM,
        doc="Serde of values where the topology names none.",
    )
    .define(
        "default.timestamp.extractor",
        Type.CLASS,
        "FailOnInvalidTimestamp",
        _timestamp_extractor,
        Importance.MEDIUM,
        doc="Where event time comes from.",
    )
    .define(
        "default.deserialization.exception.handler",
        Type.CLASS,
        LOG_AND_FAIL,
        _deser_handler,
        Importance.MEDIUM,
        doc="log-and-fail stops the thread; log-and-continue skips and counts.",
    )
    .define(
        "default.production.exception.handler",
        Type.CLASS,
        "DefaultProductionExceptionHandler",
        importance=Importance.MEDIUM,
        doc="Production errors fail the thread (Kafka's default).",
    )
    .define(
        "replication.factor",
        Type.INT,
        -1,
        in_range(-1),
        Importance.MEDIUM,
        doc="Replication of internal topics; -1 = the broker's default.replication.factor.",
    )
    .define(
        "max.task.idle.ms",
        Type.LONG,
        0,
        in_range(-1),
        Importance.MEDIUM,
        doc="How long a task waits for data on all its partitions before processing out of order.",
    )
    .define(
        "windowstore.changelog.additional.retention.ms",
        Type.LONG,
        24 * 60 * 60 * 1000,
        in_range(0),
        Importance.LOW,
        doc="Added to a window store's retention for its changelog's retention.ms.",
    )
    .define(
        "buffered.records.per.partition",
        Type.INT,
        1000,
        in_range(1),
        Importance.LOW,
        doc="Records buffered per input partition before consumption pauses.",
    )
    .define(
        "poll.ms",
        Type.LONG,
        100,
        in_range(0),
        Importance.LOW,
        doc="How long a thread blocks waiting for input.",
    )
    .define(
        "client.id",
        Type.STRING,
        "",
        importance=Importance.MEDIUM,
        doc="Prefix of the clients' ids; default <application.id>-<process id>.",
    )
    .define(
        "application.server",
        Type.STRING,
        "",
        importance=Importance.LOW,
        doc="host:port of this instance's interactive-query endpoint.",
    )
    .define(
        "num.standby.replicas",
        Type.INT,
        0,
        in_range(0, 2**31 - 1),
        Importance.HIGH,
        doc="Standby copies of each stateful task, kept on other instances by following its "
        "changelog (needs application.server; at_least_once only).",
    )
    .define(
        "topology.optimization",
        Type.STRING,
        "none",
        one_of("none", "all"),
        Importance.MEDIUM,
        doc="Topology optimisations (none or all).",
    )
    .define(
        "default.dsl.store",
        Type.STRING,
        "rocksDB",
        one_of("rocksDB", "in_memory"),
        Importance.LOW,
        doc="Store type of DSL operators: rocksDB or in_memory.",
    )
    .define(
        "state.cleanup.delay.ms",
        Type.LONG,
        600000,
        in_range(0),
        Importance.LOW,
        doc="How long unowned task directories are kept.",
    )
    .define(
        "task.timeout.ms",
        Type.LONG,
        300000,
        in_range(0),
        Importance.MEDIUM,
        doc="How long a task may stall on a client error before the thread fails.",
    )
    .define(
        "repartition.purge.interval.ms",
        Type.LONG,
        30000,
        in_range(0),
        Importance.LOW,
        doc="How often consumed repartition records are deleted.",
    )
    .define(
        "acceptable.recovery.lag",
        Type.LONG,
        10000,
        in_range(0),
        Importance.MEDIUM,
        doc="Changelog lag under which a client counts as caught up.",
    )
    .define(
        "max.warmup.replicas",
        Type.INT,
        2,
        in_range(1),
        Importance.MEDIUM,
        doc="Warm-up replicas during a rebalance.",
    )
    .define(
        "probing.rebalance.interval.ms",
        Type.LONG,
        600000,
        in_range(60000),
        Importance.LOW,
        doc="How often warm-up progress is checked.",
    )
    .define(
        "metrics.recording.level",
        Type.STRING,
        "INFO",
        one_of("INFO", "DEBUG", "TRACE"),
        Importance.LOW,
        doc="Metrics detail.",
    )
    .define("metrics.num.samples", Type.INT, 2, in_range(1), Importance.LOW, doc="Metric samples.")
    .define(
        "metrics.sample.window.ms",
        Type.LONG,
        30000,
        in_range(0),
        Importance.LOW,
        doc="Metric sample window.",
    )
    .define(
        "log.summary.interval.ms",
        Type.LONG,
        120000,
        in_range(0),
        Importance.LOW,
        doc="How often a thread logs a summary line.",
    )
    .define(
        "rocksdb.config.setter",
        Type.CLASS,
        None,
        importance=Importance.LOW,
        doc="A callable given (store name, options) to tune RocksDB.",
    )
    .define(
        "window.size.ms",
        Type.LONG,
        None,
        importance=Importance.LOW,
        doc="Window size for windowed serdes reading a windowed topic.",
    )
    .define(
        "upgrade.from",
        Type.STRING,
        None,
        importance=Importance.LOW,
        doc="Version upgraded from (rolling upgrades).",
    )
    .define(
        "request.timeout.ms",
        Type.INT,
        40000,
        in_range(0),
        Importance.MEDIUM,
        doc="Client request timeout (passed to every client).",
    )
    .define(
        "retry.backoff.ms",
        Type.LONG,
        100,
        in_range(0),
        Importance.LOW,
        doc="Client retry backoff (passed to every client).",
    )
    .define(
        "security.protocol",
        Type.STRING,
        "PLAINTEXT",
        importance=Importance.MEDIUM,
        doc="Client security protocol (passed to every client).",
    )
)


def _librdkafka_check(props: Mapping[str, Any], prefix: str) -> None:
    """Refuse a client key librdkafka does not know, naming it as the user wrote it."""
    if not props:
        return
    from confluent_kafka import KafkaException, Producer

    def accepted(conf: Mapping[str, Any]) -> str | None:
        try:
            # No bootstrap servers: librdkafka parses the config and connects to nothing.
            Producer({**{k: str(v) for k, v in conf.items()}, "log_level": 0})
        except (KafkaException, ValueError, TypeError) as exc:
            return str(exc)
        return None

    if accepted(props) is None:
        return
    for key, value in props.items():
        problem = accepted({key: value})
        if problem is not None:
            raise ConfigError(
                prefix + key, f"not a client configuration librdkafka accepts: {problem}"
            )


class StreamsConfig:
    """Parsed, validated streams configuration, and the client configs derived from it."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        props = dict(props)
        streams_keys = {k: v for k, v in props.items() if k in STREAMS_CONFIG_DEF}
        client_keys = {
            k: v
            for k, v in props.items()
            if k not in STREAMS_CONFIG_DEF and not k.startswith(CLIENT_PREFIXES)
        }
        self.originals: dict[str, Any] = props
        self.values: dict[str, Any] = STREAMS_CONFIG_DEF.parse(streams_keys)
        self.values["default.deserialization.exception.handler"] = _normalise_handler(
            self.values["default.deserialization.exception.handler"]
        )
        extractor = self.values["default.timestamp.extractor"]
        if isinstance(extractor, str):
            self.values["default.timestamp.extractor"] = extractor.removeprefix(_JAVA_PROCESSOR)
        if "commit.interval.ms" not in props and self.eos:
            self.values["commit.interval.ms"] = EOS_COMMIT_INTERVAL_MS
        if "statestore.cache.max.bytes" not in props and "cache.max.bytes.buffering" in props:
            self.values["statestore.cache.max.bytes"] = self.values["cache.max.bytes.buffering"]
        self.client_plain: dict[str, Any] = client_keys
        self.prefixed: dict[str, dict[str, Any]] = {p: {} for p in CLIENT_PREFIXES}
        for key, value in props.items():
            # main.consumer. and restore.consumer. are checked before their suffix consumer.
            for prefix in sorted(CLIENT_PREFIXES, key=len, reverse=True):
                if key.startswith(prefix):
                    self.prefixed[prefix][key[len(prefix) :]] = value
                    break
        _librdkafka_check(client_keys, "")
        for prefix in CLIENT_PREFIXES[:-1]:  # all but topic.
            _librdkafka_check(self.prefixed[prefix], prefix)
        self._refuse_eos_overrides()
        # Kafka Streams' process id: one per KafkaStreams instance, part of transactional ids.
        self.process_id = uuid.uuid4()

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    @property
    def application_id(self) -> str:
        return str(self.values["application.id"])

    @property
    def eos(self) -> bool:
        return bool(self.values["processing.guarantee"] == EXACTLY_ONCE_V2)

    def client_id_prefix(self) -> str:
        return str(self.values["client.id"]) or f"{self.application_id}-{self.process_id}"

    # Client configs (librdkafka property names) --------------------------------------------------

    def _common(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.values["bootstrap.servers"],
            "security.protocol": self.values["security.protocol"],
            "retry.backoff.ms": self.values["retry.backoff.ms"],
            **self.client_plain,
        }

    def main_consumer_configs(self, client_id: str) -> dict[str, Any]:
        conf = {
            **self._common(),
            "group.id": self.application_id,
            "client.id": client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "enable.partition.eof": False,
            **self.prefixed["consumer."],
            **self.prefixed["main.consumer."],
        }
        if str(conf.get("group.protocol", "classic")).lower() == "consumer":
            # KIP-848: the broker assigns. Its `range` assignor gives partition p of every topic of
            # a sub-topology to the same member (co-partitioning, as Kafka Streams' assignor does).
            del conf["partition.assignment.strategy"]
            conf.setdefault("group.remote.assignor", "range")
        return self._consumer_eos(conf)

    def group_protocol(self) -> str | None:
        """The main consumer's `group.protocol` if the user set one (main.consumer. > consumer. > plain)."""
        for source in (
            self.prefixed["main.consumer."],
            self.prefixed["consumer."],
            self.client_plain,
        ):
            if "group.protocol" in source:
                return str(source["group.protocol"]).lower()
        return None

    def restore_consumer_configs(self, client_id: str) -> dict[str, Any]:
        return self._assigned_consumer(client_id, "restore", "restore.consumer.")

    def global_consumer_configs(self, client_id: str) -> dict[str, Any]:
        """The global thread's consumer: `consumer.` then `global.consumer.` keys (Kafka's
        `getGlobalConsumerConfigs`; `restore.consumer.` keys are not its)."""
        return self._assigned_consumer(client_id, "global", "global.consumer.")

    def _assigned_consumer(self, client_id: str, role: str, prefix: str) -> dict[str, Any]:
        conf = {
            **self._common(),
            "group.id": f"{self.application_id}-{role}",  # librdkafka wants one; never joined
            "client.id": client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            **self.prefixed["consumer."],
            **self.prefixed[prefix],
        }
        return self._consumer_eos(conf)

    def producer_configs(self, client_id: str, thread_index: int) -> dict[str, Any]:
        conf: dict[str, Any] = {
            # Kafka Streams' producer defaults; the user's plain and producer. keys override them.
            "linger.ms": 100,
            # the collector needs failures only (changelog end offsets come from the broker)
            "delivery.report.only.error": True,
            # Java's default partitioner (murmur2 of the key bytes; random for null keys).
            "partitioner": "murmur2_random",
            "request.timeout.ms": self.values["request.timeout.ms"],
            **self._common(),
            "client.id": client_id,
            **self.prefixed["producer."],
        }
        if self.eos:
            conf["transactional.id"] = f"{self.application_id}-{self.process_id}-{thread_index}"
            conf["enable.idempotence"] = True
            conf["acks"] = "all"
            # Kafka Streams' EOS default: a dead thread's open transaction is aborted after 10 s.
            conf.setdefault("transaction.timeout.ms", 10000)
        return conf

    def admin_configs(self, client_id: str) -> dict[str, Any]:
        return {**self._common(), "client.id": client_id, **self.prefixed["admin."]}

    def topic_configs(self) -> dict[str, str]:
        """`topic.`-prefixed configs, applied to every internal topic this app creates."""
        return {k: str(v) for k, v in self.prefixed["topic."].items()}

    def _consumer_eos(self, conf: dict[str, Any]) -> dict[str, Any]:
        if self.eos:
            conf["isolation.level"] = "read_committed"
        return conf

    def _refuse_eos_overrides(self) -> None:
        if not self.eos:
            return
        for prefix in ("consumer.", "main.consumer.", "restore.consumer.", ""):
            source = self.client_plain if not prefix else self.prefixed[prefix]
            if str(source.get("isolation.level", "read_committed")) != "read_committed":
                raise ConfigError(
                    prefix + "isolation.level", "exactly_once_v2 requires read_committed"
                )
        timeout = self.prefixed["producer."].get(
            "transaction.timeout.ms", self.client_plain.get("transaction.timeout.ms", 10000)
        )
        if int(timeout) <= int(self.values["commit.interval.ms"]):
            # the broker would abort (and fence) every transaction before the thread commits it
            raise ConfigError(
                "producer.transaction.timeout.ms",
                f"must be greater than commit.interval.ms ({self.values['commit.interval.ms']})",
            )
        for key in ("transactional.id", "enable.idempotence"):
            if key in self.prefixed["producer."] or key in self.client_plain:
                raise ConfigError(key, "is set by Kafka Streams under exactly_once_v2; remove it")


def _normalise_handler(value: Any) -> Any:
    if value is None or callable(value):
        return value
    return _DESER_HANDLERS[str(value).lower()]


def as_streams_config(config: StreamsConfig | Mapping[str, Any]) -> StreamsConfig:
    """A StreamsConfig from itself or from a plain mapping of properties."""
    return config if isinstance(config, StreamsConfig) else StreamsConfig(config)
