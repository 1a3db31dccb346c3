"""The registry's configuration, by Confluent Schema Registry's names and defaults.

Unknown keys fail at start naming the key (Confluent logs and ignores them; riverlog is stricter, as its
brokers are). Where riverlog's default differs it says why: `kafkastore.bootstrap.servers` defaults to
`localhost:9092` (a riverlog broker's default listener) instead of being required.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from riverlog.common.configdef import ConfigDef, Importance, Type, in_range, one_of

LEVELS = (
    "none",
    "backward",
    "backward_transitive",
    "forward",
    "forward_transitive",
    "full",
    "full_transitive",
)


def _listener(name: str, value: Any) -> None:
    for url in value or []:
        if not str(url).startswith(("http://", "https://")) or ":" not in str(url)[8:]:
            raise ValueError(f"listener {url!r} is not of the form http://host:port")


REGISTRY_CONFIG = (
    ConfigDef()
    .define(
        "listeners",
        Type.LIST,
        "http://0.0.0.0:8081",
        _listener,
        Importance.HIGH,
        "Comma-separated listeners for the REST API (http://host:port); the first is served.",
    )
    .define(
        "host.name",
        Type.STRING,
        socket.gethostname(),
        None,
        Importance.HIGH,
        "The host name other instances use to reach this one (leader forwarding).",
    )
    .define(
        "kafkastore.bootstrap.servers",
        Type.LIST,
        "localhost:9092",
        None,
        Importance.HIGH,
        "Kafka brokers holding the schemas topic.",
    )
    .define(
        "kafkastore.topic",
        Type.STRING,
        "_schemas",
        None,
        Importance.HIGH,
        "The durable single-partition, compacted topic that stores every registry change.",
    )
    .define(
        "kafkastore.topic.replication.factor",
        Type.INT,
        3,
        in_range(1),
        Importance.HIGH,
        "Desired replication factor of the schemas topic (lowered to the live brokers' count).",
    )
    .define(
        "kafkastore.timeout.ms",
        Type.INT,
        500,
        in_range(0),
        Importance.MEDIUM,
        "How long a store operation waits for the topic.",
    )
    .define(
        "kafkastore.init.timeout.ms",
        Type.INT,
        60000,
        in_range(0),
        Importance.MEDIUM,
        "How long start-up waits to create and read the schemas topic.",
    )
    .define(
        "schema.compatibility.level",
        Type.STRING,
        "backward",
        one_of(*LEVELS, case_sensitive=False),
        Importance.HIGH,
        "The global compatibility level until PUT /config sets one.",
    )
    .define(
        "mode.mutability",
        Type.BOOLEAN,
        True,
        None,
        Importance.LOW,
        "Whether PUT/DELETE /mode may change the mode.",
    )
    .define(
        "schema.registry.group.id",
        Type.STRING,
        "schema-registry",
        None,
        Importance.MEDIUM,
        "The group the instances join to elect a leader.",
    )
    .define(
        "leader.eligibility",
        Type.BOOLEAN,
        True,
        None,
        Importance.MEDIUM,
        "Whether this instance may become the leader.",
    )
    .define(
        "kafkastore.session.timeout.ms",
        Type.INT,
        10000,
        in_range(1000),
        Importance.LOW,
        "Session timeout of the leader-election group membership.",
    )
)


def parse_config(props: Mapping[str, Any]) -> dict[str, Any]:
    """Typed values with defaults; raises ConfigError naming the first bad or unknown key."""
    return REGISTRY_CONFIG.parse(props)
