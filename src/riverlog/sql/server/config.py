"""The server's configuration, with ksqlDB's names. Unknown keys fail at start, naming the key;
`ksql.streams.*` keys pass through to every query's Kafka Streams runtime (prefix removed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from riverlog.common.configdef import ConfigDef, Importance, Type, one_of

CONFIG = (
    ConfigDef()
    .define(
        "listeners",
        Type.STRING,
        "http://0.0.0.0:8088",
        None,
        Importance.HIGH,
        "Where the REST API listens.",
    )
    .define(
        "bootstrap.servers",
        Type.STRING,
        "localhost:9092",
        None,
        Importance.HIGH,
        "The Kafka cluster.",
    )
    .define(
        "ksql.service.id",
        Type.STRING,
        "default_",
        None,
        Importance.MEDIUM,
        "Names the command topic, internal topics and consumer groups.",
    )
    .define(
        "ksql.schema.registry.url",
        Type.STRING,
        "",
        None,
        Importance.MEDIUM,
        "Schema registry for AVRO, JSON_SR and PROTOBUF.",
    )
    .define(
        "ksql.connect.url",
        Type.STRING,
        "",
        None,
        Importance.LOW,
        "Kafka Connect's REST API for CREATE … CONNECTOR.",
    )
    .define(
        "ksql.internal.topic.replicas",
        Type.SHORT,
        1,
        None,
        Importance.LOW,
        "Replicas of the command and processing-log topics.",
    )
    .define(
        "ksql.internal.topic.min.insync.replicas",
        Type.SHORT,
        1,
        None,
        Importance.LOW,
        "min.insync.replicas of internal topics.",
    )
    .define(
        "ksql.query.pull.table.scan.enabled",
        Type.BOOLEAN,
        True,
        None,
        Importance.MEDIUM,
        "Pull queries may scan tables (range and non-key predicates).",
    )
    .define(
        "ksql.source.table.materialization.enabled",
        Type.BOOLEAN,
        True,
        None,
        Importance.LOW,
        "CREATE SOURCE TABLE runs a query (CST_<NAME>_<n>) materializing the table for pull "
        "queries.",
    )
    .define(
        "ksql.query.pull.enable",
        Type.BOOLEAN,
        True,
        None,
        Importance.LOW,
        "Pull queries are allowed.",
    )
    .define(
        "ksql.logging.processing.topic.auto.create",
        Type.BOOLEAN,
        True,
        None,
        Importance.LOW,
        "Create the processing log topic.",
    )
    .define(
        "ksql.logging.processing.stream.auto.create",
        Type.BOOLEAN,
        True,
        None,
        Importance.LOW,
        "Create the KSQL_PROCESSING_LOG stream.",
    )
    .define(
        "ksql.logging.processing.topic.name",
        Type.STRING,
        "",
        None,
        Importance.LOW,
        "Defaults to <service id>ksql_processing_log.",
    )
    .define("ksql.logging.processing.topic.partitions", Type.INT, 1, None, Importance.LOW, "")
    .define(
        "ksql.logging.processing.topic.replication.factor", Type.SHORT, 1, None, Importance.LOW, ""
    )
    .define(
        "ksql.persistence.default.format.key",
        Type.STRING,
        "KAFKA",
        None,
        Importance.LOW,
        "Key format when a statement gives none.",
    )
    .define(
        "ksql.persistence.default.format.value",
        Type.STRING,
        "",
        None,
        Importance.LOW,
        "Value format when a statement gives none.",
    )
    .define("ksql.query.persistent.active.limit", Type.INT, 2147483647, None, Importance.LOW, "")
    .define(
        "ksql.extension.dir",
        Type.STRING,
        "ext",
        None,
        Importance.LOW,
        "Accepted for compatibility; Python UDFs load from entry points.",
    )
    .define(
        "ksql.advertised.listener",
        Type.STRING,
        "",
        None,
        Importance.LOW,
        "The URL other servers reach this one on.",
    )
    .define("ksql.heartbeat.enable", Type.BOOLEAN, False, None, Importance.LOW, "")
    .define("ksql.lag.reporting.enable", Type.BOOLEAN, False, None, Importance.LOW, "")
    .define(
        "ksql.streams.auto.offset.reset",
        Type.STRING,
        "latest",
        one_of("earliest", "latest"),
        Importance.MEDIUM,
        "Where new queries start reading.",
    )
    .define(
        "ksql.streams.state.dir",
        Type.STRING,
        "/tmp/kafka-streams",
        None,
        Importance.MEDIUM,
        "State stores of persistent queries.",
    )
    .define(
        "ksql.streams.cache.max.bytes.buffering",
        Type.LONG,
        10_485_760,
        None,
        Importance.LOW,
        "Record cache of each query.",
    )
    .define(
        "ksql.streams.commit.interval.ms",
        Type.LONG,
        2000,
        None,
        Importance.LOW,
        "How often queries commit.",
    )
    .define(
        "ksql.streams.num.stream.threads", Type.INT, 1, None, Importance.LOW, "Threads per query."
    )
    .define(
        "ksql.streams.processing.guarantee",
        Type.STRING,
        "at_least_once",
        one_of("at_least_once", "exactly_once_v2", "exactly_once"),
        Importance.LOW,
        "",
    )
)


def parse_config(props: Mapping[str, Any]) -> dict[str, Any]:
    return CONFIG.parse(props, prefixes=("ksql.streams.",))


def streams_properties(config: Mapping[str, Any]) -> dict[str, Any]:
    """`ksql.streams.X` → Kafka Streams' `X` (ksqlDB's naming: cache.max.bytes.buffering is the
    old name of statestore.cache.max.bytes)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if not key.startswith("ksql.streams."):
            continue
        name = key[len("ksql.streams.") :]
        if name == "cache.max.bytes.buffering":
            name = "statestore.cache.max.bytes"
        if name == "processing.guarantee" and value == "exactly_once":
            value = "exactly_once_v2"
        out[name] = value
    return out
