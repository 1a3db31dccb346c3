"""Records of KIP-848 consumer groups in `__consumer_offsets`, in Kafka's formats.

Keys (int16 type, then non-flexible strings): 3 ConsumerGroupMetadataKey (group), 5
ConsumerGroupMemberMetadataKey (group, member), 6 ConsumerGroupTargetAssignmentMetadataKey (group),
7 ConsumerGroupTargetAssignmentMemberKey (group, member), 8 ConsumerGroupCurrentMemberAssignmentKey
(group, member). Values are version 0, flexible (compact strings/arrays, uuids as 16 bytes, tagged
fields read and skipped):
- 3 ConsumerGroupMetadataValue: epoch int32 (the group epoch).
- 5 ConsumerGroupMemberMetadataValue: instanceId?, rackId?, clientId, clientHost, subscribedTopicNames
  []string, subscribedTopicRegex?, rebalanceTimeoutMs int32, serverAssignor?; tagged field 0,
  ClassicMemberMetadata (a nullable struct: a varint 1 marks it present): sessionTimeoutMs int32,
  supportedProtocols [name string, metadata bytes] — set for members using the classic protocol.
- 6 ConsumerGroupTargetAssignmentMetadataValue: assignmentEpoch int32.
- 7 ConsumerGroupTargetAssignmentMemberValue: topicPartitions [topicId uuid, partitions []int32].
- 8 ConsumerGroupCurrentMemberAssignmentValue: memberEpoch int32, previousMemberEpoch int32, state int8
  (0 stable, 1 unrevoked partitions, 2 unreleased partitions), assignedPartitions and
  partitionsPendingRevocation as [topicId, partitions].
A null value is a tombstone. Kafka 4.0 also writes type 4 (subscription metadata); riverlog recomputes it
from the cluster image instead, and skips type 4 when loading.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from riverlog.coordinator.group.wire import Reader, Writer

CONSUMER_GROUP_METADATA = 3
CONSUMER_MEMBER_METADATA = 5
TARGET_ASSIGNMENT_METADATA = 6
TARGET_ASSIGNMENT_MEMBER = 7
CURRENT_MEMBER_ASSIGNMENT = 8
CONSUMER_KEY_TYPES = frozenset({3, 5, 6, 7, 8})
CLASSIC_MEMBER_METADATA_TAG = 0

Assignment = Mapping[uuid.UUID, frozenset[int]]


@dataclass(frozen=True, slots=True)
class ConsumerGroupMetadataRecord:
    group: str
    epoch: int | None  # None: tombstone


@dataclass(frozen=True, slots=True)
class ClassicMemberMetadata:
    """What a member using the classic protocol sent in its JoinGroup (KIP-848 migration)."""

    session_timeout_ms: int
    protocols: tuple[tuple[str, bytes], ...]  # (name, metadata), in the member's preference order


@dataclass(frozen=True, slots=True)
class ConsumerMemberMetadata:
    client_id: str
    client_host: str
    subscribed_topic_names: tuple[str, ...]
    rebalance_timeout_ms: int
    instance_id: str | None = None
    rack_id: str | None = None
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    classic: ClassicMemberMetadata | None = None


@dataclass(frozen=True, slots=True)
class ConsumerMemberMetadataRecord:
    group: str
    member_id: str
    value: ConsumerMemberMetadata | None


@dataclass(frozen=True, slots=True)
class TargetAssignmentMetadataRecord:
    group: str
    assignment_epoch: int | None


@dataclass(frozen=True, slots=True)
class TargetAssignmentMemberRecord:
    group: str
    member_id: str
    partitions: Assignment | None


@dataclass(frozen=True, slots=True)
class CurrentAssignment:
    member_epoch: int
    previous_member_epoch: int
    state: int
    assigned: Assignment
    pending_revocation: Assignment


@dataclass(frozen=True, slots=True)
class CurrentAssignmentRecord:
    group: str
    member_id: str
    value: CurrentAssignment | None


ConsumerRecord = (
    ConsumerGroupMetadataRecord
    | ConsumerMemberMetadataRecord
    | TargetAssignmentMetadataRecord
    | TargetAssignmentMemberRecord
    | CurrentAssignmentRecord
)


def _key(key_type: int, *parts: str) -> bytes:
    out = Writer()
    out.i16(key_type)
    for part in parts:
        out.string(part)
    return bytes(out.out)


def _value(write: Writer) -> bytes:
    write.tags()
    return bytes(write.out)


def _start() -> Writer:
    out = Writer(flexible=True)
    out.i16(0)
    return out


def _write_partitions(out: Writer, assignment: Assignment) -> None:
    topics = sorted((t, p) for t, p in assignment.items() if p)
    out.length(len(topics), wide=True)
    for topic_id, partitions in topics:
        out.uuid(topic_id)
        out.int32s(sorted(partitions))
        out.tags()


def _read_partitions(reader: Reader) -> dict[uuid.UUID, frozenset[int]]:
    assignment = {}
    for _ in range(reader.count()):
        topic_id = reader.uuid()
        assignment[topic_id] = frozenset(reader.int32s())
        reader.skip_tags()
    return assignment


def encode_consumer_record(record: ConsumerRecord) -> tuple[bytes, bytes | None]:
    if isinstance(record, ConsumerGroupMetadataRecord):
        key = _key(CONSUMER_GROUP_METADATA, record.group)
        if record.epoch is None:
            return key, None
        out = _start()
        out.i32(record.epoch)
        return key, _value(out)
    if isinstance(record, ConsumerMemberMetadataRecord):
        key = _key(CONSUMER_MEMBER_METADATA, record.group, record.member_id)
        return key, None if record.value is None else _member_metadata(record.value)
    if isinstance(record, TargetAssignmentMetadataRecord):
        key = _key(TARGET_ASSIGNMENT_METADATA, record.group)
        if record.assignment_epoch is None:
            return key, None
        out = _start()
        out.i32(record.assignment_epoch)
        return key, _value(out)
    if isinstance(record, TargetAssignmentMemberRecord):
        key = _key(TARGET_ASSIGNMENT_MEMBER, record.group, record.member_id)
        if record.partitions is None:
            return key, None
        out = _start()
        _write_partitions(out, record.partitions)
        return key, _value(out)
    key = _key(CURRENT_MEMBER_ASSIGNMENT, record.group, record.member_id)
    return key, None if record.value is None else _current_assignment(record.value)


def _member_metadata(value: ConsumerMemberMetadata) -> bytes:
    out = _start()
    out.string(value.instance_id)
    out.string(value.rack_id)
    out.string(value.client_id)
    out.string(value.client_host)
    out.strings(list(value.subscribed_topic_names))
    out.string(value.subscribed_topic_regex)
    out.i32(value.rebalance_timeout_ms)
    out.string(value.server_assignor)
    if value.classic is None:
        return _value(out)
    out.tags({CLASSIC_MEMBER_METADATA_TAG: _classic_metadata(value.classic)})
    return bytes(out.out)


def _classic_metadata(value: ClassicMemberMetadata) -> bytes:
    out = Writer(flexible=True)
    out.uvarint(1)  # a tagged nullable struct: present
    out.i32(value.session_timeout_ms)
    out.length(len(value.protocols), wide=True)
    for name, metadata in value.protocols:
        out.string(name)
        out.bytes_(metadata)
        out.tags()
    out.tags()
    return bytes(out.out)


def _read_classic_metadata(raw: bytes) -> ClassicMemberMetadata | None:
    reader = Reader(raw, flexible=True)
    if reader.uvarint() <= 0:
        return None
    session_timeout = reader.i32()
    protocols = []
    for _ in range(reader.count()):
        name = reader.string()
        protocols.append((name, reader.bytes_()))
        reader.skip_tags()
    reader.skip_tags()
    return ClassicMemberMetadata(session_timeout, tuple(protocols))


def _current_assignment(value: CurrentAssignment) -> bytes:
    out = _start()
    out.i32(value.member_epoch)
    out.i32(value.previous_member_epoch)
    out.i8(value.state)
    _write_partitions(out, value.assigned)
    _write_partitions(out, value.pending_revocation)
    return _value(out)


def decode_consumer_record(
    key_type: int, key: Reader, value: bytes | None
) -> ConsumerRecord | None:
    """The record behind a key of type 3, 5, 6, 7 or 8 (`key` positioned after the type)."""
    group = key.string()
    reader = None if value is None else Reader(value, flexible=True)
    if reader is not None and reader.i16() != 0:
        return None  # a future value version: not ours to interpret
    if key_type == CONSUMER_GROUP_METADATA:
        return ConsumerGroupMetadataRecord(group, None if reader is None else reader.i32())
    if key_type == TARGET_ASSIGNMENT_METADATA:
        return TargetAssignmentMetadataRecord(group, None if reader is None else reader.i32())
    member_id = key.string()
    if key_type == CONSUMER_MEMBER_METADATA:
        metadata = None if reader is None else _read_member_metadata(reader)
        return ConsumerMemberMetadataRecord(group, member_id, metadata)
    if key_type == TARGET_ASSIGNMENT_MEMBER:
        partitions = None if reader is None else _read_partitions(reader)
        return TargetAssignmentMemberRecord(group, member_id, partitions)
    current = None if reader is None else _read_current_assignment(reader)
    return CurrentAssignmentRecord(group, member_id, current)


def _read_member_metadata(reader: Reader) -> ConsumerMemberMetadata:
    instance_id = reader.nullable_string()
    rack_id = reader.nullable_string()
    client_id = reader.string()
    client_host = reader.string()
    topics = tuple(reader.strings())
    regex = reader.nullable_string()
    rebalance_timeout = reader.i32()
    assignor = reader.nullable_string()
    raw_classic = reader.tags().get(CLASSIC_MEMBER_METADATA_TAG)
    classic = None if raw_classic is None else _read_classic_metadata(raw_classic)
    return ConsumerMemberMetadata(
        client_id,
        client_host,
        topics,
        rebalance_timeout,
        instance_id,
        rack_id,
        regex,
        assignor,
        classic,
    )


def _read_current_assignment(reader: Reader) -> CurrentAssignment:
    epoch = reader.i32()
    previous = reader.i32()
    state = reader.i8()
    assigned = _read_partitions(reader)
    pending = _read_partitions(reader)
    return CurrentAssignment(epoch, previous, state, assigned, pending)
