"""DescribeTopicPartitions (API 75, KIP-966) on a real broker: on the wire, and from kafka-python's
KafkaAdminClient.describe_topic_partitions, paging with the cursor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka.admin import KafkaAdminClient
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.describe_topic_partitions.v0.request import (
    Cursor,
    DescribeTopicPartitionsRequest,
    TopicRequest,
)
from kio.schema.errors import ErrorCode
from kio.schema.types import TopicName
from kio.static.primitive import i32

from riverlog.testing import wire
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kp_admin(broker: RunningBroker) -> Iterator[Any]:
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers, request_timeout_ms=10_000)
    yield client
    client.close()


def test_api_versions_advertises_api_75(broker: RunningBroker) -> None:
    response = wire.call(
        broker.port,
        ApiVersionsRequest(client_software_name="t", client_software_version="1"),
    )
    ranges = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
    assert ranges[75] == (0, 0)


def test_pages_on_the_wire(broker: RunningBroker, make_topic: Callable[..., str]) -> None:
    first = make_topic(partitions=3, prefix="dtp-a")
    second = make_topic(partitions=2, prefix="dtp-b")
    names = (TopicName(second), TopicName(first), TopicName("dtp-missing"))
    request = DescribeTopicPartitionsRequest(
        topics=tuple(TopicRequest(name=n) for n in names), response_partition_limit=i32(4)
    )
    page = wire.call(broker.port, request)
    assert [
        (t.name, t.error_code, [p.partition_index for p in t.partitions]) for t in page.topics
    ] == [
        (first, ErrorCode.none, [0, 1, 2]),
        (second, ErrorCode.none, [0]),
    ]
    assert (page.next_cursor.topic_name, page.next_cursor.partition_index) == (second, 1)
    follow = DescribeTopicPartitionsRequest(
        topics=request.topics,
        response_partition_limit=i32(4),
        cursor=Cursor(topic_name=TopicName(second), partition_index=i32(1)),
    )
    page = wire.call(broker.port, follow)
    assert [
        (t.name, t.error_code, [p.partition_index for p in t.partitions]) for t in page.topics
    ] == [
        (second, ErrorCode.none, [1]),
        ("dtp-missing", ErrorCode.unknown_topic_or_partition, []),
    ]
    assert page.next_cursor is None
    leader = page.topics[0].partitions[0]
    assert leader.leader_id == 0 and leader.replica_nodes == (0,) and leader.isr_nodes == (0,)


def test_kafka_python_describe_topic_partitions(
    kp_admin: Any, make_topic: Callable[..., str]
) -> None:
    name = make_topic(partitions=5, prefix="dtp-kp")
    seen: list[int] = []
    cursor = None
    for _ in range(5):
        result = kp_admin.describe_topic_partitions(
            [name], response_partition_limit=2, cursor=cursor
        )
        [topic] = result["topics"]
        assert topic["error_code"] == 0 and topic["name"] == name
        seen += [p["partition_index"] for p in topic["partitions"]]
        cursor = result["next_cursor"]
        if cursor is None:
            break
    assert seen == [0, 1, 2, 3, 4]
