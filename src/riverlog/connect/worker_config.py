"""Worker configuration: Kafka Connect's keys and defaults (`WorkerConfig`, `StandaloneConfig`,
`DistributedConfig`), declared with `riverlog.common.configdef`.

Unknown keys stop the worker at start naming the key (stricter than Kafka, which only logs them);
prefixed pass-through keys are accepted: `producer.`, `consumer.`, `admin.`, `key.converter.`,
`value.converter.`, `header.converter.`, client security keys (`ssl.`, `sasl.`, `security.protocol`),
and `listeners.https.`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from riverlog.common.configdef import ConfigDef, ConfigError, Importance, Type, in_range, one_of
from riverlog.common.service import parse_listener

H, M, L = Importance.HIGH, Importance.MEDIUM, Importance.LOW

PASS_THROUGH_PREFIXES = (
    "producer.",
    "consumer.",
    "admin.",
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "config.providers.",
    "ssl.",
    "sasl.",
    "listeners.https.",
    "metric.reporters.",
)


def _check_listeners(name: str, value: Any) -> None:
    for listener in value or []:
        parse_listener(listener)


def _common() -> ConfigDef:
    return (
        ConfigDef()
        .define(
            "bootstrap.servers",
            Type.LIST,
            ["localhost:9092"],
            None,
            H,
            "A list of host/port pairs used to establish the initial connection to the Kafka cluster.",
        )
        .define(
            "client.dns.lookup",
            Type.STRING,
            "use_all_dns_ips",
            None,
            M,
            "How clients use DNS lookups.",
        )
        .define(
            "security.protocol",
            Type.STRING,
            "PLAINTEXT",
            None,
            M,
            "Protocol used to communicate with brokers.",
        )
        .define(
            "client.id",
            Type.STRING,
            "",
            None,
            L,
            "An id string passed to the server when making requests.",
        )
        .define(
            "key.converter",
            Type.CLASS,
            None,
            None,
            H,
            "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka.",
        )
        .define(
            "value.converter",
            Type.CLASS,
            None,
            None,
            H,
            "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka.",
        )
        .define(
            "header.converter",
            Type.CLASS,
            "org.apache.kafka.connect.storage.SimpleHeaderConverter",
            None,
            L,
            "HeaderConverter class used to convert between Kafka Connect format and the serialized form.",
        )
        .define(
            "task.shutdown.graceful.timeout.ms",
            Type.LONG,
            5000,
            in_range(0),
            L,
            "Amount of time to wait for tasks to shutdown gracefully.",
        )
        .define(
            "offset.flush.interval.ms",
            Type.LONG,
            60000,
            in_range(0),
            L,
            "Interval at which to try committing offsets for tasks.",
        )
        .define(
            "offset.flush.timeout.ms",
            Type.LONG,
            5000,
            in_range(0),
            L,
            "Maximum number of milliseconds to wait for records to flush and partition offset data to be committed.",
        )
        .define(
            "listeners",
            Type.LIST,
            ["http://0.0.0.0:8083"],
            _check_listeners,
            L,
            "List of comma-separated URIs the REST API will listen on.",
        )
        .define(
            "rest.advertised.host.name",
            Type.STRING,
            None,
            None,
            L,
            "Hostname given out to other workers.",
        )
        .define("rest.advertised.port", Type.INT, None, None, L, "Port given out to other workers.")
        .define(
            "rest.advertised.listener",
            Type.STRING,
            None,
            None,
            L,
            "Advertised listener (http or https).",
        )
        .define(
            "access.control.allow.origin",
            Type.STRING,
            "",
            None,
            L,
            "Value for the Access-Control-Allow-Origin header.",
        )
        .define("access.control.allow.methods", Type.STRING, "", None, L, "Allowed CORS methods.")
        .define(
            "admin.listeners", Type.LIST, None, None, L, "Listeners for the admin REST endpoints."
        )
        .define(
            "response.http.headers.config",
            Type.STRING,
            "",
            None,
            L,
            "Rules for REST API HTTP response headers.",
        )
        .define(
            "rest.servlet.initializor.classes",
            Type.LIST,
            None,
            None,
            L,
            "Ignored (Java servlet hooks).",
        )
        .define("rest.extension.classes", Type.LIST, [], None, L, "Ignored (Java REST extensions).")
        .define(
            "plugin.path",
            Type.LIST,
            None,
            None,
            L,
            "Ignored: Python plugins are found through entry points.",
        )
        .define(
            "plugin.discovery",
            Type.STRING,
            "hybrid_warn",
            None,
            L,
            "Ignored: plugins come from entry points.",
        )
        .define(
            "config.providers",
            Type.LIST,
            [],
            None,
            L,
            "Config providers (only `file` and `env` are built in).",
        )
        .define(
            "connector.client.config.override.policy",
            Type.STRING,
            "All",
            one_of("All", "None", "Principal"),
            M,
            "Which client configurations connectors may override (All, None, Principal).",
        )
        .define(
            "topic.tracking.enable",
            Type.BOOLEAN,
            True,
            None,
            L,
            "Track the topics each connector uses.",
        )
        .define(
            "topic.tracking.allow.reset",
            Type.BOOLEAN,
            True,
            None,
            L,
            "Allow resetting tracked topics over REST.",
        )
        .define(
            "topic.creation.enable",
            Type.BOOLEAN,
            True,
            None,
            L,
            "Allow source connectors to create topics (topic.creation.* connector keys).",
        )
        .define(
            "metrics.sample.window.ms", Type.LONG, 30000, in_range(0), L, "Metrics sample window."
        )
        .define("metrics.num.samples", Type.INT, 2, in_range(1), L, "Metrics samples.")
        .define(
            "metrics.recording.level",
            Type.STRING,
            "INFO",
            one_of("INFO", "DEBUG", "TRACE"),
            L,
            "Metrics level.",
        )
        .define("metric.reporters", Type.LIST, [], None, L, "Ignored (Java metric reporters).")
        .define("auto.include.jmx.reporter", Type.BOOLEAN, True, None, L, "Ignored (no JMX).")
        # Beyond Kafka: restart FAILED tasks (issue 13).
        .define(
            "auto.restart.enabled",
            Type.BOOLEAN,
            False,
            None,
            L,
            "Restart FAILED connectors and tasks automatically (riverlog extension).",
        )
        .define(
            "auto.restart.max.attempts",
            Type.INT,
            3,
            in_range(0),
            L,
            "How many times a failed task is restarted before it stays FAILED.",
        )
        .define(
            "auto.restart.backoff.ms",
            Type.LONG,
            1000,
            in_range(0),
            L,
            "Delay before the first automatic restart; doubles after each attempt.",
        )
    )


STANDALONE_DEF = _common().define(
    "offset.storage.file.filename",
    Type.STRING,
    None,
    None,
    H,
    "File to store source connector offsets",
)

DISTRIBUTED_DEF = (
    _common()
    .define(
        "group.id",
        Type.STRING,
        None,
        None,
        H,
        "A unique string that identifies the Connect cluster group.",
    )
    .define(
        "session.timeout.ms", Type.INT, 10000, None, H, "Timeout used to detect worker failures."
    )
    .define(
        "heartbeat.interval.ms",
        Type.INT,
        3000,
        None,
        H,
        "Expected time between heartbeats to the group coordinator.",
    )
    .define(
        "rebalance.timeout.ms",
        Type.INT,
        60000,
        None,
        H,
        "Maximum time each worker may take to join.",
    )
    .define(
        "worker.sync.timeout.ms",
        Type.INT,
        3000,
        None,
        M,
        "How long to wait to catch up on config changes.",
    )
    .define(
        "worker.unsync.backoff.ms",
        Type.INT,
        300000,
        None,
        M,
        "Back-off before rejoining when out of sync.",
    )
    .define(
        "config.storage.topic",
        Type.STRING,
        None,
        None,
        H,
        "The name of the Kafka topic where connector configurations are stored",
    )
    .define(
        "config.storage.replication.factor",
        Type.SHORT,
        3,
        None,
        L,
        "Replication factor used when creating the configuration storage topic",
    )
    .define(
        "offset.storage.topic",
        Type.STRING,
        None,
        None,
        H,
        "The name of the Kafka topic where source connector offsets are stored",
    )
    .define(
        "offset.storage.partitions",
        Type.INT,
        25,
        None,
        L,
        "The number of partitions used when creating the offset storage topic",
    )
    .define(
        "offset.storage.replication.factor",
        Type.SHORT,
        3,
        None,
        L,
        "Replication factor used when creating the offset storage topic",
    )
    .define(
        "status.storage.topic",
        Type.STRING,
        None,
        None,
        H,
        "The name of the Kafka topic where connector and task status are stored",
    )
    .define(
        "status.storage.partitions",
        Type.INT,
        5,
        None,
        L,
        "The number of partitions used when creating the status storage topic",
    )
    .define(
        "status.storage.replication.factor",
        Type.SHORT,
        3,
        None,
        L,
        "Replication factor used when creating the status storage topic",
    )
    .define(
        "connect.protocol",
        Type.STRING,
        "sessioned",
        one_of("eager", "compatible", "sessioned"),
        L,
        "Compatibility mode for Kafka Connect Protocol",
    )
    .define(
        "scheduled.rebalance.max.delay.ms",
        Type.INT,
        300000,
        in_range(0),
        L,
        "Maximum delay scheduled to wait for departed workers to return before rebalancing their work.",
    )
    .define(
        "exactly.once.source.support",
        Type.STRING,
        "disabled",
        one_of("disabled", "preparing", "enabled", case_sensitive=False),
        H,
        "Whether to enable exactly-once support for source connectors in the cluster.",
    )
    .define(
        "inter.worker.key.generation.algorithm",
        Type.STRING,
        "HmacSHA256",
        None,
        L,
        "Session key algorithm.",
    )
    .define("inter.worker.key.size", Type.INT, None, None, L, "Session key size.")
    .define("inter.worker.key.ttl.ms", Type.INT, 3600000, None, L, "Session key TTL.")
    .define(
        "inter.worker.signature.algorithm",
        Type.STRING,
        "HmacSHA256",
        None,
        L,
        "Request signature algorithm.",
    )
    .define(
        "inter.worker.verification.algorithms",
        Type.LIST,
        ["HmacSHA256"],
        None,
        L,
        "Accepted signature algorithms.",
    )
)


@dataclass(frozen=True)
class WorkerConfig:
    """A parsed worker config: `values` typed, `originals` as given."""

    values: dict[str, Any]
    originals: dict[str, str]
    distributed: bool

    @classmethod
    def parse(cls, props: Mapping[str, str], *, distributed: bool) -> WorkerConfig:
        """Typed config; raises ConfigError naming the first unknown, invalid or missing key."""
        definition = DISTRIBUTED_DEF if distributed else STANDALONE_DEF
        values = definition.parse(props, prefixes=PASS_THROUGH_PREFIXES)
        for required in ("key.converter", "value.converter"):
            if values.get(required) in (None, ""):
                raise ConfigError(
                    required,
                    f'Missing required configuration "{required}" which has no default value.',
                )
        needed = (
            ("group.id", "config.storage.topic", "offset.storage.topic", "status.storage.topic")
            if distributed
            else ("offset.storage.file.filename",)
        )
        for required in needed:
            if values.get(required) in (None, ""):
                raise ConfigError(
                    required,
                    f'Missing required configuration "{required}" which has no default value.',
                )
        from riverlog.connect.config_providers import providers_from

        providers_from(
            list(values["config.providers"]), props
        )  # unknown provider classes fail at start
        return cls(values, {k: str(v) for k, v in props.items()}, distributed)

    def config_providers(self) -> dict[str, Any]:
        from riverlog.connect.config_providers import providers_from

        return providers_from(list(self.values["config.providers"]), self.originals)

    def get(self, key: str) -> Any:
        return self.values[key]

    def with_prefix(self, prefix: str) -> dict[str, str]:
        """The pass-through keys under `prefix`, prefix stripped."""
        return {k[len(prefix) :]: v for k, v in self.originals.items() if k.startswith(prefix)}

    def client_config(self) -> dict[str, str]:
        """What every Kafka client of this worker gets: bootstrap and security keys."""
        out = {"bootstrap.servers": ",".join(self.values["bootstrap.servers"])}
        if self.values["security.protocol"] != "PLAINTEXT":
            out["security.protocol"] = self.values["security.protocol"]
        for k, v in self.originals.items():
            if k.startswith(("ssl.", "sasl.")):
                out[k] = v
        return out

    def listener(self) -> tuple[str, int]:
        _, host, port = parse_listener(self.values["listeners"][0])
        return host, port
