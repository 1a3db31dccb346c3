"""An empty `cleanup.policy` through confluent-kafka's AdminClient (issue 20), as Kafka accepts it.

SUBTRACT of the last value (IncrementalAlterConfigs) and AlterConfigs with "" used to fail with
INVALID_CONFIG. The topic then neither deletes by retention nor compacts, and keeps serving.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
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


def cleanup_policy(admin: AdminClient, topic: str) -> ConfigEntry:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entry: ConfigEntry = admin.describe_configs([resource])[resource].result(10)["cleanup.policy"]
    return entry


def incremental(admin: AdminClient, topic: str, op: AlterConfigOpType, value: str) -> None:
    entries = [ConfigEntry("cleanup.policy", value, incremental_operation=op)]
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
    admin.incremental_alter_configs([resource])[resource].result(10)


def test_subtract_of_the_last_cleanup_policy(
    broker: RunningBroker, admin: AdminClient, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    incremental(admin, topic, AlterConfigOpType.SUBTRACT, "delete")
    entry = cleanup_policy(admin, topic)
    assert entry.value == ""
    assert entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    # The topic keeps working with an empty policy.
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    producer.produce(topic, key=b"k", value=b"v")
    assert producer.flush(10) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.subscribe([topic])
        message = None
        for _ in range(30):
            message = consumer.poll(1)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.value() == b"v"
    finally:
        consumer.close()
    # And the list grows again from empty.
    incremental(admin, topic, AlterConfigOpType.APPEND, "compact")
    assert cleanup_policy(admin, topic).value == "compact"


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated")
def test_alter_configs_with_an_empty_cleanup_policy(
    admin: AdminClient, make_topic: Callable[..., str]
) -> None:
    topic = make_topic(config={"cleanup.policy": "compact"})
    resource = ConfigResource(ResourceType.TOPIC, topic, set_config={"cleanup.policy": ""})
    assert admin.alter_configs([resource])[resource].result(10) is None
    assert cleanup_policy(admin, topic).value == ""


def test_a_bad_item_is_still_invalid_config(
    admin: AdminClient, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    with pytest.raises(KafkaException) as raised:
        incremental(admin, topic, AlterConfigOpType.APPEND, "shred")
    assert raised.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert cleanup_policy(admin, topic).value == "delete"
