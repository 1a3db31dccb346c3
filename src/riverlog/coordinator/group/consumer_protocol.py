"""Kafka's embedded consumer protocol (protocol type "consumer"): subscriptions and assignments.

ConsumerProtocolSubscription (non-flexible): version int16, topics [string], user data bytes?, then
owned partitions [topic string, partitions [int32]] (v1+), generation int32 (v2+), rack string? (v3+).
ConsumerProtocolAssignment: version int16, assigned partitions [topic string, partitions [int32]], user
data bytes?. A version above the highest known is read as that highest one (Kafka's rule: later versions
only append fields).
The coordinator uses the topics to decide which committed offsets may expire while a group is active
and which OffsetDelete must refuse (GROUP_SUBSCRIBED_TO_TOPIC), as Kafka does; the migration between
classic and consumer groups (KIP-848) reads whole subscriptions and writes assignments.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from riverlog.coordinator.group.wire import Reader, Writer
from riverlog.protocol.errors import CorruptRecordError

CONSUMER_PROTOCOL_TYPE = "consumer"
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


def subscription_topics(metadata: bytes) -> frozenset[str]:
    """The topics of one subscription; ValueError when the bytes are not a subscription."""
    try:
        (version,) = _I16.unpack_from(metadata, 0)
        if version < 0:
            raise ValueError(f"bad subscription version {version}")
        (count,) = _I32.unpack_from(metadata, 2)
        pos, topics = 6, []
        for _ in range(max(count, 0)):
            (size,) = _I16.unpack_from(metadata, pos)
            pos += 2
            if size < 0 or pos + size > len(metadata):
                raise ValueError("truncated subscription")
            topics.append(metadata[pos : pos + size].decode())
            pos += size
    except (struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"bad subscription: {exc}") from None
    return frozenset(topics)


def subscribed_topics(subscriptions: Iterable[bytes]) -> frozenset[str] | None:
    """The union of every member's topics; None when any subscription cannot be read."""
    topics: set[str] = set()
    try:
        for metadata in subscriptions:
            topics |= subscription_topics(metadata)
    except ValueError:
        return None
    return frozenset(topics)


TopicPartitions = dict[str, tuple[int, ...]]
MAX_SUBSCRIPTION_VERSION = 3


@dataclass(frozen=True, slots=True)
class Subscription:
    topics: tuple[str, ...]
    owned: TopicPartitions = field(default_factory=dict)
    rack_id: str | None = None
    version: int = 0


def parse_subscription(metadata: bytes) -> Subscription:
    """A whole ConsumerProtocolSubscription; ValueError when the bytes are not one."""
    try:
        reader = Reader(metadata)
        version = reader.i16()
        if version < 0:
            raise ValueError(f"bad subscription version {version}")
        topics = tuple(reader.string() for _ in range(reader.count()))
        reader.bytes_()  # user data
        owned: TopicPartitions = {}
        rack = None
        read_as = min(version, MAX_SUBSCRIPTION_VERSION)
        if read_as >= 1:
            owned = _read_topic_partitions(reader)
        if read_as >= 2:
            reader.i32()  # generation
        if read_as >= 3:
            rack = reader.nullable_string()
    except CorruptRecordError as exc:
        raise ValueError(f"bad subscription: {exc}") from None
    return Subscription(topics, owned, rack, version)


def subscription_version(metadata: bytes) -> int:
    """The version a member's subscription was written in (its assignments are answered in it)."""
    if len(metadata) < 2:
        return 0
    version = int(_I16.unpack_from(metadata, 0)[0])
    return max(0, min(version, MAX_SUBSCRIPTION_VERSION))


def encode_assignment(partitions: Mapping[str, Iterable[int]], version: int = 0) -> bytes:
    """A ConsumerProtocolAssignment of `partitions` (topics and partitions sorted), no user data."""
    out = Writer()
    out.i16(max(0, min(version, MAX_SUBSCRIPTION_VERSION)))
    topics = sorted((t, sorted(p)) for t, p in partitions.items() if p)
    out.length(len(topics), wide=True)
    for topic, parts in topics:
        out.string(topic)
        out.int32s(parts)
    out.length(None, wide=True)  # user data: null
    return bytes(out.out)


def parse_assignment(data: bytes) -> TopicPartitions:
    """The partitions of a ConsumerProtocolAssignment (empty bytes: nothing); ValueError if bad."""
    if not data:
        return {}
    try:
        reader = Reader(data)
        if reader.i16() < 0:
            raise ValueError("bad assignment version")
        return _read_topic_partitions(reader)
    except CorruptRecordError as exc:
        raise ValueError(f"bad assignment: {exc}") from None


def _read_topic_partitions(reader: Reader) -> TopicPartitions:
    partitions: TopicPartitions = {}
    for _ in range(reader.count()):
        topic = reader.string()
        partitions[topic] = tuple(reader.int32s())
    return partitions
