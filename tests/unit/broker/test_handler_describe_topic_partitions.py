"""DescribeTopicPartitions (KIP-966) without sockets: the page rules, and the handler through the
Dispatcher (request bytes in, response bytes out)."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.describe_topic_partitions.v0.request import (
    Cursor,
    DescribeTopicPartitionsRequest,
    TopicRequest,
)
from kio.schema.errors import ErrorCode
from kio.schema.types import TopicName
from kio.static.primitive import i32
from test_admin_handlers import call, create, make_services

from riverlog.broker.handlers import HANDLERS
from riverlog.broker.handlers import describe_topic_partitions as dtp
from riverlog.broker.handlers.describe_topic_partitions import describe_page
from riverlog.metadata.image import (
    ClusterImage,
    ImageHolder,
    PartitionRecord,
    RegisterBrokerRecord,
    TopicRecord,
)

ZERO = uuid.UUID(int=0)


def image_with(**topics: int) -> ClusterImage:
    holder = ImageHolder(ClusterImage(cluster_id="c", controller_id=0))
    holder.apply(RegisterBrokerRecord(0, "localhost", 9092))
    for name, count in topics.items():
        topic_id = str(uuid.uuid4())
        holder.apply(TopicRecord(name, topic_id))
        for p in range(count):
            holder.apply(PartitionRecord(topic_id, p, (0,), (0,), 0))
    return holder.image


def listed(page: dtp.Page) -> list[tuple[str, list[int]]]:
    return [(t.name, [p.partition for p in t.partitions]) for t in page.topics]


def test_every_topic_in_name_order_within_the_limit() -> None:
    image = image_with(b=2, a=3, c=1)
    page = describe_page(image, None, None, 2000)
    assert listed(page) == [("a", [0, 1, 2]), ("b", [0, 1]), ("c", [0])]
    assert page.next_cursor is None


def test_a_topic_cut_short_names_its_first_missing_partition() -> None:
    image = image_with(a=3, b=2)
    page = describe_page(image, None, None, 4)
    assert listed(page) == [("a", [0, 1, 2]), ("b", [0])]
    assert page.next_cursor == ("b", 1)
    page = describe_page(image, None, page.next_cursor, 4)
    assert listed(page) == [("b", [1])]
    assert page.next_cursor is None


def test_a_topic_reached_with_no_room_is_named_at_partition_zero() -> None:
    image = image_with(a=2, b=2)
    page = describe_page(image, None, None, 2)
    assert listed(page) == [("a", [0, 1])]
    assert page.next_cursor == ("b", 0)


def test_listed_topics_missing_ones_take_no_room() -> None:
    image = image_with(a=1, c=1)
    page = describe_page(image, ["c", "b", "a", "c", "bad name"], None, 2)
    assert [(t.name, t.error) for t in page.topics] == [
        ("a", ErrorCode.none),
        ("b", ErrorCode.unknown_topic_or_partition),
        ("bad name", ErrorCode.invalid_topic_exception),
        ("c", ErrorCode.none),
    ]
    assert page.next_cursor is None


def test_the_cursor_partition_applies_to_its_own_topic_only() -> None:
    image = image_with(b=3, c=3)
    # The cursor's topic is gone (deleted between pages): the next topic starts at 0.
    page = describe_page(image, None, ("a", 2), 10)
    assert listed(page) == [("b", [0, 1, 2]), ("c", [0, 1, 2])]
    page = describe_page(image, None, ("b", 2), 10)
    assert listed(page) == [("b", [2]), ("c", [0, 1, 2])]


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 7), min_size=0, max_size=6),
    limit=st.integers(1, 9),
)
def test_paging_visits_every_partition_once_in_order(counts: list[int], limit: int) -> None:
    image = image_with(**{f"t{i}": n for i, n in enumerate(counts)})
    expected = [(f"t{i}", p) for i, n in sorted(enumerate(counts), key=lambda x: f"t{x[0]}")
                for p in range(n)]  # fmt: skip
    seen: list[tuple[str, int]] = []
    cursor = None
    for _ in range(len(expected) + len(counts) + 2):
        page = describe_page(image, None, cursor, limit)
        assert sum(len(t.partitions) for t in page.topics) <= limit
        seen += [(t.name, p.partition) for t in page.topics for p in t.partitions]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert cursor is None
    assert seen == expected


# --- the handler, through the Dispatcher ---


def test_handler_answers_a_page_and_its_cursor() -> None:
    services = make_services(**{"max.request.partition.size.limit": "3"})
    a = create(services.topics, "a", num_partitions=2)
    create(services.topics, "b", num_partitions=2)
    request = DescribeTopicPartitionsRequest(
        topics=(TopicRequest(name=TopicName("b")), TopicRequest(name=TopicName("a"))),
        response_partition_limit=i32(100),  # capped by max.request.partition.size.limit
    )
    body = call(services, dtp, 0, request)
    assert [(t.name, len(t.partitions)) for t in body.topics] == [("a", 2), ("b", 1)]
    assert body.topics[0].topic_id == a.topic_id
    partition = body.topics[0].partitions[1]
    assert (partition.partition_index, partition.leader_id, partition.isr_nodes) == (1, 0, (0,))
    assert partition.eligible_leader_replicas == () and partition.offline_replicas == ()
    assert body.topics[0].topic_authorized_operations == dtp.TOPIC_OPERATIONS
    assert body.next_cursor is not None
    assert (body.next_cursor.topic_name, body.next_cursor.partition_index) == ("b", 1)


def test_a_cursor_outside_the_listed_topics_is_invalid_request() -> None:
    services = make_services()
    create(services.topics, "a")
    request = DescribeTopicPartitionsRequest(
        topics=(TopicRequest(name=TopicName("a")),),
        cursor=Cursor(topic_name=TopicName("z"), partition_index=i32(0)),
    )
    body = call(services, dtp, 0, request)
    assert [(t.name, t.error_code, len(t.partitions)) for t in body.topics] == [
        ("a", ErrorCode.invalid_request, 0)
    ]
    assert body.topics[0].topic_id in (None, ZERO)  # kio reads the zero UUID as null
    assert body.next_cursor is None


def test_the_handler_table_lists_it() -> None:
    assert ("describe_topic_partitions", 75, 0, 0) in [
        (h.name, h.API_KEY, h.MIN_VERSION, h.MAX_VERSION) for h in HANDLERS
    ]
