"""DescribeTopicPartitions (key 75, KIP-966): topics and their partitions, paged by a cursor.

Kafka's rules (its DescribeTopicPartitionsRequestHandler and KRaftMetadataCache):
- No topics listed means every topic; otherwise the listed ones, de-duplicated. Either way only names
  sorting at or after the cursor's topic are considered, in name order. A cursor whose topic is not in
  a given list fails the request (INVALID_REQUEST on every listed topic).
- At most min(`ResponsePartitionLimit`, `max.request.partition.size.limit`) partitions are answered.
  The cursor's partition index is where its topic starts; every other topic starts at 0. A topic cut
  short by the limit is answered in part and `NextCursor` names it and its first missing partition; a
  topic reached with no room left is not answered and `NextCursor` names it at partition 0 (it need not
  exist). Without a `NextCursor` the listing is complete.
- A listed topic that does not exist answers UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for an
  illegal name) and takes no room; with no topics listed there are none.
- Partitions carry leader (-1 when its broker is not alive), epoch, replicas, ISR, offline replicas and
  the ELR fields (empty lists: riverlog does not do KIP-966's eligible leader replicas).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from kio.schema.errors import ErrorCode
from kio.schema.types import BrokerId, TopicName
from kio.static.primitive import i32

from riverlog.broker.admin.topics import INTERNAL_TOPICS, topic_name_error
from riverlog.broker.handlers.metadata import TOPIC_OPERATIONS
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.metadata.image import ClusterImage, PartitionState, TopicImage
from riverlog.protocol.messages import describe_topic_partitions as wire

API_KEY = 75
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = wire.DescribeTopicPartitionsRequest
ZERO_UUID = uuid.UUID(int=0)
NO_LEADER = -1


@dataclass(frozen=True, slots=True)
class TopicPage:
    """One topic of a page: its partitions from the page's start, or an error and none."""

    name: str
    topic: TopicImage | None
    partitions: tuple[PartitionState, ...] = ()
    error: ErrorCode = ErrorCode.none


@dataclass(frozen=True, slots=True)
class Page:
    topics: tuple[TopicPage, ...]
    next_cursor: tuple[str, int] | None


def describe_page(
    image: ClusterImage, names: Iterable[str] | None, cursor: tuple[str, int] | None, limit: int
) -> Page:
    """The page of topics and partitions a request asks for (`names` None: every topic)."""
    cursor_topic, cursor_partition = cursor if cursor is not None else ("", 0)
    listed = set(image.topics) if names is None else set(names)
    topics: list[TopicPage] = []
    remaining = limit
    for name in sorted(n for n in listed if n >= cursor_topic):
        if remaining == 0:
            return Page(tuple(topics), (name, 0))
        if remaining < 0:  # a negative limit: Kafka answers nothing, and no cursor
            continue
        topic = image.topic(name)
        if topic is None:
            # Only a named topic can be missing; it is answered with an error and takes no room.
            error = ErrorCode.unknown_topic_or_partition
            if topic_name_error(name) is not None:
                error = ErrorCode.invalid_topic_exception
            topics.append(TopicPage(name, None, error=error))
            continue
        start = cursor_partition if name == cursor_topic else 0
        upper = min(len(topic.partitions), start + remaining)
        # Kafka walks the index range and skips indexes the topic lacks (a negative cursor).
        partitions = tuple(
            topic.partitions[i] for i in range(start, upper) if i in topic.partitions
        )
        topics.append(TopicPage(name, topic, partitions))
        if upper < len(topic.partitions):
            return Page(tuple(topics), (name, upper))
        remaining -= len(partitions)
    return Page(tuple(topics), None)


async def handle(
    ctx: RequestContext, request: wire.DescribeTopicPartitionsRequest
) -> wire.DescribeTopicPartitionsResponse:
    names = [str(t.name) for t in request.topics]
    cursor = None
    if request.cursor is not None:
        cursor = (str(request.cursor.topic_name), int(request.cursor.partition_index))
        if names and cursor[0] not in names:
            return _refused(names, ErrorCode.invalid_request)
    limit_cap = ctx.services.config.get_int("max.request.partition.size.limit")
    limit = min(limit_cap, int(request.response_partition_limit))
    image = ctx.services.image
    page = describe_page(image, names or None, cursor, limit)
    live = set(image.brokers)
    return wire.DescribeTopicPartitionsResponse(
        throttle_time=ZERO_THROTTLE,
        topics=tuple(_topic(t, live) for t in page.topics),
        next_cursor=None
        if page.next_cursor is None
        else wire.Cursor(
            topic_name=TopicName(page.next_cursor[0]), partition_index=i32(page.next_cursor[1])
        ),
    )


def _topic(page: TopicPage, live: set[int]) -> wire.DescribeTopicPartitionsResponseTopic:
    if page.topic is None:
        return wire.DescribeTopicPartitionsResponseTopic(
            error_code=page.error,
            name=TopicName(page.name),
            topic_id=ZERO_UUID,
            is_internal=page.name in INTERNAL_TOPICS,
            partitions=(),
        )
    return wire.DescribeTopicPartitionsResponseTopic(
        error_code=ErrorCode.none,
        name=TopicName(page.name),
        topic_id=page.topic.topic_id,
        is_internal=page.name in INTERNAL_TOPICS,
        partitions=tuple(_partition(p, live) for p in page.partitions),
        # No authorizer: every operation a topic supports, as Kafka reports then.
        topic_authorized_operations=i32(TOPIC_OPERATIONS),
    )


def _partition(
    state: PartitionState, live: set[int]
) -> wire.DescribeTopicPartitionsResponsePartition:
    return wire.DescribeTopicPartitionsResponsePartition(
        error_code=ErrorCode.none,
        partition_index=i32(state.partition),
        leader_id=BrokerId(state.leader if state.leader in live else NO_LEADER),
        leader_epoch=i32(state.leader_epoch),
        replica_nodes=tuple(BrokerId(r) for r in state.replicas),
        isr_nodes=tuple(BrokerId(r) for r in state.isr),
        eligible_leader_replicas=(),
        last_known_elr=(),
        offline_replicas=tuple(BrokerId(r) for r in state.replicas if r not in live),
    )


def _refused(names: list[str], code: ErrorCode) -> wire.DescribeTopicPartitionsResponse:
    """Kafka's error answer to a request it refuses as a whole."""
    return wire.DescribeTopicPartitionsResponse(
        throttle_time=ZERO_THROTTLE,
        topics=tuple(
            wire.DescribeTopicPartitionsResponseTopic(
                error_code=code, name=TopicName(n), topic_id=ZERO_UUID, partitions=()
            )
            for n in names
        ),
        next_cursor=None,
    )
