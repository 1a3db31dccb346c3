"""ProduceResponse (api key 0) for versions 3-13: plain types and a specialised encoder.

Produce is the hot path (one response per request, thousands a second), and kio's generic writer walks
every field through per-type writer functions and phantom-type checks, which the profile showed as the
largest share of a Produce request's CPU time. DESIGN.md allows a specialised codec for this message
only, tested byte for byte against kio (tests/unit/protocol/test_hot_codecs.py).

The layout, from Kafka's ProduceResponse.json (flexible from v9):

    responses: [TopicProduceResponse]
        name: string (v0-12) | topic_id: uuid (v13+)
        partition_responses: [PartitionProduceResponse]
            index int32, error_code int16, base_offset int64, log_append_time_ms int64 (v2+),
            log_start_offset int64 (v5+),
            record_errors: [batch_index int32, batch_index_error_message nullable string] (v8+),
            error_message nullable string (v8+),
            tagged 0: current_leader {leader_id int32, leader_epoch int32} (v10+)
    throttle_time_ms int32 (v1+)
    tagged 0: node_endpoints [node_id int32, host string, port int32, rack nullable string] (v10+)

The classes below carry kio's field names and value types (timedelta throttle time, datetime append
time), so `encode_produce_response` also accepts kio's own ProduceResponse objects; a handler builds
one set of objects for every version and the encoder leaves out what a version does not have.
Tagged fields are written only when they differ from their defaults, as Kafka and kio do.
"""

from __future__ import annotations

import datetime
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kio.schema.errors import ErrorCode

from riverlog.protocol.wire import (
    EMPTY_TAGGED_FIELDS,
    INT32,
    Chunk,
    array_length,
    millis_of,
    nullable_string,
    string,
    tagged_fields,
    timestamp_ms,
    uvarint,
)

__all__ = [
    "MAX_VERSION",
    "MIN_VERSION",
    "BatchIndexAndErrorMessage",
    "LeaderIdAndEpoch",
    "NodeEndpoint",
    "PartitionProduceResponse",
    "ProduceResponse",
    "TopicProduceResponse",
    "encode_node_endpoints",
    "encode_produce_response",
]

MIN_VERSION: Final = 3
MAX_VERSION: Final = 13
_FLEXIBLE_FROM: Final = 9
ZERO_THROTTLE: Final = datetime.timedelta(0)

_PARTITION_V3: Final = struct.Struct(">ihqq")  # index, error_code, base_offset, log_append_time
_PARTITION_V5: Final = struct.Struct(">ihqqq")  # ... log_start_offset
_LEADER: Final = struct.Struct(">ii")
# record_errors (empty array), error_message (null), and for flexible versions no tagged fields.
_NO_ERRORS_LEGACY: Final = INT32.pack(0) + struct.pack(">h", -1)
_NO_ERRORS_FLEXIBLE: Final = uvarint(1) + b"\x00" + EMPTY_TAGGED_FIELDS


@dataclass(slots=True)
class LeaderIdAndEpoch:
    leader_id: int = -1
    leader_epoch: int = -1


@dataclass(slots=True)
class BatchIndexAndErrorMessage:
    batch_index: int
    batch_index_error_message: str | None = None


@dataclass(slots=True)
class PartitionProduceResponse:
    index: int
    error_code: ErrorCode
    base_offset: int = -1
    log_append_time: datetime.datetime | None = None
    log_start_offset: int = -1
    record_errors: Sequence[BatchIndexAndErrorMessage] = ()
    error_message: str | None = None
    current_leader: LeaderIdAndEpoch | None = None


@dataclass(slots=True)
class TopicProduceResponse:
    name: str
    partition_responses: Sequence[PartitionProduceResponse]
    topic_id: uuid.UUID | None = None


@dataclass(slots=True)
class NodeEndpoint:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(slots=True)
class ProduceResponse:
    responses: Sequence[TopicProduceResponse]
    throttle_time: datetime.timedelta | int = ZERO_THROTTLE
    node_endpoints: Sequence[NodeEndpoint] = field(default_factory=tuple)


def encode_produce_response(version: int, response: Any) -> list[Chunk]:
    """The body of a ProduceResponse of `version` (this module's classes or kio's), as pieces."""
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise ValueError(f"no specialised ProduceResponse v{version}")
    flexible = version >= _FLEXIBLE_FROM
    parts: list[Chunk] = [array_length(len(response.responses), flexible)]
    for topic in response.responses:
        _topic(parts, topic, version, flexible)
    parts.append(INT32.pack(millis_of(response.throttle_time)))
    if flexible:
        endpoints = response.node_endpoints if version >= 10 else ()
        parts.append(tagged_fields([(0, encode_node_endpoints(endpoints))] if endpoints else ()))
    return parts


def _topic(parts: list[Chunk], topic: Any, version: int, flexible: bool) -> None:
    if version >= 13:
        parts.append((topic.topic_id or uuid.UUID(int=0)).bytes)
    else:
        parts.append(string(topic.name, flexible))
    parts.append(array_length(len(topic.partition_responses), flexible))
    for partition in topic.partition_responses:
        _partition(parts, partition, version, flexible)
    if flexible:
        parts.append(EMPTY_TAGGED_FIELDS)


def _partition(parts: list[Chunk], p: Any, version: int, flexible: bool) -> None:
    append_time = -1 if p.log_append_time is None else timestamp_ms(p.log_append_time)
    if version >= 5:
        parts.append(
            _PARTITION_V5.pack(
                p.index, p.error_code, p.base_offset, append_time, p.log_start_offset
            )
        )
    else:
        parts.append(_PARTITION_V3.pack(p.index, p.error_code, p.base_offset, append_time))
    if (
        version >= 8
        and not p.record_errors
        and p.error_message is None
        and (version < 10 or p.current_leader is None)
    ):
        # What a successful append answers (the hot path): no record errors, no message, no tags.
        parts.append(_NO_ERRORS_FLEXIBLE if flexible else _NO_ERRORS_LEGACY)
        return
    if version >= 8:
        parts.append(array_length(len(p.record_errors), flexible))
        for record_error in p.record_errors:
            parts.append(INT32.pack(record_error.batch_index))
            parts.append(nullable_string(record_error.batch_index_error_message, flexible))
            if flexible:
                parts.append(EMPTY_TAGGED_FIELDS)
        parts.append(nullable_string(p.error_message, flexible))
    if flexible:
        leader = p.current_leader if version >= 10 else None
        if leader is None or (leader.leader_id == -1 and leader.leader_epoch == -1):
            parts.append(EMPTY_TAGGED_FIELDS)
        else:
            value = _LEADER.pack(leader.leader_id, leader.leader_epoch) + EMPTY_TAGGED_FIELDS
            parts.append(tagged_fields([(0, value)]))


def encode_node_endpoints(endpoints: Sequence[Any]) -> bytes:
    """A COMPACT_ARRAY of NodeEndpoint (the same struct in Produce v10+ and Fetch v16+)."""
    parts = [uvarint(len(endpoints) + 1)]
    for node in endpoints:
        parts += (
            INT32.pack(node.node_id),
            string(node.host, True),
            INT32.pack(node.port),
            nullable_string(node.rack, True),
            EMPTY_TAGGED_FIELDS,
        )
    return b"".join(parts)
