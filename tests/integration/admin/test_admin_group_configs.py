"""Group configs (KIP-848's GROUP config resource) through confluent-kafka's AdminClient.

confluent-kafka-python's own test_incremental_alter_configs (compat/confluent-kafka, consumer pass)
sets `consumer.session.timeout.ms` on a group and reads it back; riverlog answered "Unsupported
resource type: 32". Kafka 4.0 keeps per-group overrides of the consumer session timeout and heartbeat
interval, validated against the broker's bounds, for groups that need not exist yet.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    ResourceType,
)

from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def admin(broker: RunningBroker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap_servers})


def alter(admin: AdminClient, group: str, *entries: ConfigEntry) -> None:
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=list(entries))
    admin.incremental_alter_configs([resource])[resource].result(10)


def describe(admin: AdminClient, group: str) -> dict[str, ConfigEntry]:
    resource = ConfigResource(ResourceType.GROUP, group)
    configs: dict[str, ConfigEntry] = admin.describe_configs([resource])[resource].result(10)
    return configs


def set_entry(name: str, value: str) -> ConfigEntry:
    return ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)


def test_a_group_override_is_described_above_the_broker_default(admin: AdminClient) -> None:
    group = f"g-{uuid.uuid4()}"
    before = describe(admin, group)
    assert before["consumer.session.timeout.ms"].value == "45000"
    assert before["consumer.session.timeout.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert before["consumer.heartbeat.interval.ms"].value == "5000"

    alter(admin, group, set_entry("consumer.session.timeout.ms", "50000"))
    after = describe(admin, group)
    assert after["consumer.session.timeout.ms"].value == "50000"
    assert after["consumer.session.timeout.ms"].source == ConfigSource.GROUP_CONFIG.value
    assert not after["consumer.session.timeout.ms"].is_default
    assert after["consumer.heartbeat.interval.ms"].is_default

    delete = ConfigEntry(
        "consumer.session.timeout.ms", None, incremental_operation=AlterConfigOpType.DELETE
    )
    alter(admin, group, delete)
    assert describe(admin, group)["consumer.session.timeout.ms"].value == "45000"


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ([set_entry("consumer.session.timeout.ms", "10000")], "greater than or equal"),
        ([set_entry("consumer.session.timeout.ms", "90000")], "less than or equal"),
        ([set_entry("consumer.session.timeout.ms", "lots")], "Not a number"),
        ([set_entry("no.such.group.config", "1")], "Unknown group config name"),
        (
            [
                set_entry("consumer.session.timeout.ms", "46000"),
                set_entry("consumer.heartbeat.interval.ms", "15000"),
            ],
            None,  # valid: 15000 < 46000
        ),
    ],
)
def test_group_overrides_are_validated(
    admin: AdminClient, entries: list[ConfigEntry], why: str | None
) -> None:
    group = f"g-{uuid.uuid4()}"
    if why is None:
        alter(admin, group, *entries)
        assert describe(admin, group)["consumer.heartbeat.interval.ms"].value == "15000"
        return
    with pytest.raises(KafkaException) as raised:
        alter(admin, group, *entries)
    error = raised.value.args[0]
    assert error.code() == KafkaError.INVALID_CONFIG
    assert why in error.str()
    assert describe(admin, group)["consumer.session.timeout.ms"].value == "45000"


def test_append_to_a_group_config_is_refused(admin: AdminClient) -> None:
    entry = ConfigEntry(
        "consumer.session.timeout.ms", "50000", incremental_operation=AlterConfigOpType.APPEND
    )
    with pytest.raises(KafkaException) as raised:
        alter(admin, f"g-{uuid.uuid4()}", entry)
    assert raised.value.args[0].code() == KafkaError.INVALID_CONFIG
