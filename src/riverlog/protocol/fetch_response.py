"""FetchResponse (api key 1) for versions 4-18: plain types and a specialised encoder.

Every consumer and follower long-poll ends in one of these, often carrying a single small batch, so the
per-response cost of kio's generic writer showed up in the latency profile; DESIGN.md allows a
specialised codec for this message only, tested byte for byte against kio
(tests/unit/protocol/test_hot_codecs.py). The records are never copied here: they are handed back as
one of the pieces, and the frame is joined once.

The layout, from Kafka's FetchResponse.json (flexible from v12):

    throttle_time_ms int32, error_code int16 (v7+), session_id int32 (v7+)
    responses: [FetchableTopicResponse]
        topic string (v0-12) | topic_id uuid (v13+)
        partitions: [PartitionData]
            partition_index int32, error_code int16, high_watermark int64,
            last_stable_offset int64 (v4+), log_start_offset int64 (v5+),
            aborted_transactions: nullable [producer_id int64, first_offset int64] (v4+),
            preferred_read_replica int32 (v11+), records: nullable records,
            tagged 0: diverging_epoch {epoch int32, end_offset int64} (v12+),
            tagged 1: current_leader {leader_id int32, leader_epoch int32} (v12+),
            tagged 2: snapshot_id {end_offset int64, epoch int32} (v12+)
    tagged 0: node_endpoints [node_id int32, host string, port int32, rack nullable string] (v16+)

The classes carry kio's field names and value types, so `encode_fetch_response` accepts kio's
FetchResponse objects too; tagged fields are written only when they differ from their defaults.
"""

from __future__ import annotations

import datetime
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kio.schema.errors import ErrorCode

from riverlog.protocol.produce_response import NodeEndpoint, encode_node_endpoints
from riverlog.protocol.wire import (
    EMPTY_TAGGED_FIELDS,
    INT32,
    Chunk,
    array_length,
    millis_of,
    nullable_array_length,
    nullable_bytes,
    string,
    tagged_fields,
)

__all__ = [
    "MAX_VERSION",
    "MIN_VERSION",
    "AbortedTransaction",
    "EpochEndOffset",
    "FetchResponse",
    "FetchableTopicResponse",
    "LeaderIdAndEpoch",
    "NodeEndpoint",
    "PartitionData",
    "SnapshotId",
    "encode_fetch_response",
]

MIN_VERSION: Final = 4
MAX_VERSION: Final = 18
_FLEXIBLE_FROM: Final = 12
ZERO_THROTTLE: Final = datetime.timedelta(0)
_ZERO_UUID: Final = uuid.UUID(int=0)

_HEADER_V7: Final = struct.Struct(">ihi")  # throttle_time, error_code, session_id
_PARTITION_V4: Final = struct.Struct(">ihqq")  # index, error_code, high watermark, LSO
_PARTITION_V5: Final = struct.Struct(">ihqqq")  # ... log_start_offset
_ABORTED: Final = struct.Struct(">qq")
_EPOCH_END_OFFSET: Final = struct.Struct(">iqB")  # epoch, end_offset, empty tagged fields
_LEADER: Final = struct.Struct(">iiB")  # leader_id, leader_epoch, empty tagged fields
_SNAPSHOT_ID: Final = struct.Struct(">qiB")  # end_offset, epoch, empty tagged fields


@dataclass(slots=True)
class EpochEndOffset:
    epoch: int = -1
    end_offset: int = -1


@dataclass(slots=True)
class LeaderIdAndEpoch:
    leader_id: int = -1
    leader_epoch: int = -1


@dataclass(slots=True)
class SnapshotId:
    end_offset: int = -1
    epoch: int = -1


@dataclass(slots=True)
class AbortedTransaction:
    producer_id: int
    first_offset: int


@dataclass(slots=True)
class PartitionData:
    partition_index: int
    error_code: ErrorCode
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    aborted_transactions: Sequence[AbortedTransaction] | None = None
    preferred_read_replica: int = -1
    records: bytes | bytearray | memoryview | None = None
    diverging_epoch: EpochEndOffset | None = None
    current_leader: LeaderIdAndEpoch | None = None
    snapshot_id: SnapshotId | None = None


@dataclass(slots=True)
class FetchableTopicResponse:
    topic: str
    partitions: Sequence[PartitionData]
    topic_id: uuid.UUID | None = None


@dataclass(slots=True)
class FetchResponse:
    responses: Sequence[FetchableTopicResponse]
    error_code: ErrorCode = ErrorCode.none
    session_id: int = 0
    throttle_time: datetime.timedelta | int = ZERO_THROTTLE
    node_endpoints: Sequence[NodeEndpoint] = field(default_factory=tuple)


def encode_fetch_response(version: int, response: Any) -> list[Chunk]:
    """The body of a FetchResponse of `version` (this module's classes or kio's), as pieces."""
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise ValueError(f"no specialised FetchResponse v{version}")
    flexible = version >= _FLEXIBLE_FROM
    throttle = millis_of(response.throttle_time)
    parts: list[Chunk] = []
    if version >= 7:
        parts.append(_HEADER_V7.pack(throttle, response.error_code, response.session_id))
    else:
        parts.append(INT32.pack(throttle))
    parts.append(array_length(len(response.responses), flexible))
    for topic in response.responses:
        _topic(parts, topic, version, flexible)
    if flexible:
        endpoints = response.node_endpoints if version >= 16 else ()
        parts.append(tagged_fields([(0, encode_node_endpoints(endpoints))] if endpoints else ()))
    return parts


def _topic(parts: list[Chunk], topic: Any, version: int, flexible: bool) -> None:
    if version >= 13:
        parts.append((topic.topic_id or _ZERO_UUID).bytes)
    else:
        parts.append(string(topic.topic, flexible))
    parts.append(array_length(len(topic.partitions), flexible))
    for partition in topic.partitions:
        _partition(parts, partition, version, flexible)
    if flexible:
        parts.append(EMPTY_TAGGED_FIELDS)


def _partition(parts: list[Chunk], p: Any, version: int, flexible: bool) -> None:
    if version >= 5:
        parts.append(
            _PARTITION_V5.pack(
                p.partition_index,
                p.error_code,
                p.high_watermark,
                p.last_stable_offset,
                p.log_start_offset,
            )
        )
    else:
        parts.append(
            _PARTITION_V4.pack(
                p.partition_index, p.error_code, p.high_watermark, p.last_stable_offset
            )
        )
    aborted = p.aborted_transactions
    parts.append(nullable_array_length(aborted, flexible))
    for txn in aborted or ():
        parts.append(_ABORTED.pack(txn.producer_id, txn.first_offset))
        if flexible:
            parts.append(EMPTY_TAGGED_FIELDS)
    if version >= 11:
        parts.append(INT32.pack(p.preferred_read_replica))
    parts += nullable_bytes(p.records, flexible)
    if flexible:
        parts.append(_partition_tags(p))


def _partition_tags(p: Any) -> bytes:
    tags: list[tuple[int, bytes]] = []
    diverging = p.diverging_epoch
    if diverging is not None and (diverging.epoch, diverging.end_offset) != (-1, -1):
        tags.append((0, _EPOCH_END_OFFSET.pack(diverging.epoch, diverging.end_offset, 0)))
    leader = p.current_leader
    if leader is not None and (leader.leader_id, leader.leader_epoch) != (-1, -1):
        tags.append((1, _LEADER.pack(leader.leader_id, leader.leader_epoch, 0)))
    snapshot = p.snapshot_id
    if snapshot is not None and (snapshot.end_offset, snapshot.epoch) != (-1, -1):
        tags.append((2, _SNAPSHOT_ID.pack(snapshot.end_offset, snapshot.epoch, 0)))
    return tagged_fields(tags) if tags else EMPTY_TAGGED_FIELDS
