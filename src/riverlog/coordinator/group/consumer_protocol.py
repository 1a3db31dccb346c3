"""The topics a consumer subscribes to, read from its JoinGroup protocol metadata.

Kafka's ConsumerProtocolSubscription (protocol type "consumer"): version int16, then topics as an int32
count of int16-length strings (user data, owned partitions, generation and rack follow; not needed here).
The coordinator uses the topics to decide which committed offsets may expire while a group is active
and which OffsetDelete must refuse (GROUP_SUBSCRIBED_TO_TOPIC), as Kafka does.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

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
