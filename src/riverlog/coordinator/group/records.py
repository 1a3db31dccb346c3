"""Records of the `__consumer_offsets` topic in Kafka's own binary formats.

A record's key starts with an int16 naming its type, its value with an int16 version; both follow
Kafka's `group-coordinator` message schemas (non-flexible versions use int16-length strings, int32-length
bytes and arrays; version 4 of the values is flexible: compact lengths as unsigned varints + 1 and a
tagged-field section at the end of every struct). Kafka's own tools (`kafka-console-consumer` with the
offsets formatters, `kafka-dump-log --offsets-decoder`) can read what riverlog writes.

Key types:
- 0 and 1, OffsetCommitKey: group string, topic string, partition int32 (0 is Kafka's legacy key; both
  read, 1 written).
- 2, GroupMetadataKey: group string.

Values (read: every version; written: the versions Kafka writes today):
- OffsetCommitValue v0-v4: offset int64, leaderEpoch int32 (v3+), metadata string, commitTimestamp int64,
  expireTimestamp int64 (v1 only). Written as v3, or v1 when an expire timestamp is given (OffsetCommit
  v2-v4 `retention_time`), as Kafka does.
- GroupMetadataValue v0-v4: protocolType string, generation int32, protocol nullable string, leader
  nullable string, currentStateTimestamp int64 (v2+), members [memberId, groupInstanceId (v3+, nullable),
  clientId, clientHost, rebalanceTimeout int32 (v1+), sessionTimeout int32, subscription bytes,
  assignment bytes]. Written as v3.
A null value is a tombstone: the offset, or the group, is deleted (and compaction drops it later).

Key types 3 and 5-8 are KIP-848 consumer-group records (`consumer_records.py`). Other key types (type 4
subscription metadata, share and streams groups, …) decode to `None` and are skipped by replay, so a log
written by a newer Kafka does not stop the coordinator from loading.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from riverlog.coordinator.group.consumer_records import (
    CONSUMER_KEY_TYPES,
    ConsumerRecord,
    decode_consumer_record,
    encode_consumer_record,
)
from riverlog.coordinator.group.wire import Reader, Writer
from riverlog.protocol.errors import CorruptRecordError

__all__ = [
    "CoordinatorRecord",
    "GroupMetadataRecord",
    "GroupMetadataValue",
    "MemberMetadata",
    "OffsetCommitRecord",
    "OffsetCommitValue",
    "decode_record",
    "encode_record",
]

LEGACY_OFFSET_COMMIT_KEY = 0
OFFSET_COMMIT_KEY = 1
GROUP_METADATA_KEY = 2
OFFSET_COMMIT_VALUE_VERSION = 3
OFFSET_COMMIT_VALUE_WITH_EXPIRY = 1
GROUP_METADATA_VALUE_VERSION = 3
FLEXIBLE_VERSION = 4


@dataclass(frozen=True, slots=True)
class OffsetCommitValue:
    offset: int
    metadata: str = ""
    commit_timestamp: int = -1
    leader_epoch: int = -1
    expire_timestamp: int = -1


@dataclass(frozen=True, slots=True)
class OffsetCommitRecord:
    group: str
    topic: str
    partition: int
    value: OffsetCommitValue | None  # None: tombstone


@dataclass(frozen=True, slots=True)
class MemberMetadata:
    member_id: str
    client_id: str
    client_host: str
    session_timeout: int
    subscription: bytes
    assignment: bytes
    rebalance_timeout: int = -1
    group_instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class GroupMetadataValue:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int = -1
    members: tuple[MemberMetadata, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class GroupMetadataRecord:
    group: str
    value: GroupMetadataValue | None  # None: tombstone


ClassicRecord = OffsetCommitRecord | GroupMetadataRecord
CoordinatorRecord = ClassicRecord | ConsumerRecord


# --- encoding ---------------------------------------------------------------------------------


def encode_record(record: CoordinatorRecord) -> tuple[bytes, bytes | None]:
    """(key, value) bytes of a record; value None for a tombstone."""
    if not isinstance(record, OffsetCommitRecord | GroupMetadataRecord):
        return encode_consumer_record(record)
    if isinstance(record, OffsetCommitRecord):
        key = Writer()
        key.i16(OFFSET_COMMIT_KEY)
        key.string(record.group)
        key.string(record.topic)
        key.i32(record.partition)
        value = None if record.value is None else encode_offset_commit_value(record.value)
        return bytes(key.out), value
    key = Writer()
    key.i16(GROUP_METADATA_KEY)
    key.string(record.group)
    value = None if record.value is None else encode_group_metadata_value(record.value)
    return bytes(key.out), value


def encode_offset_commit_value(value: OffsetCommitValue, version: int | None = None) -> bytes:
    if version is None:
        with_expiry = value.expire_timestamp >= 0
        version = OFFSET_COMMIT_VALUE_WITH_EXPIRY if with_expiry else OFFSET_COMMIT_VALUE_VERSION
    out = Writer(flexible=version >= FLEXIBLE_VERSION)
    out.i16(version)
    out.i64(value.offset)
    if version >= 3:
        out.i32(value.leader_epoch)
    out.string(value.metadata)
    out.i64(value.commit_timestamp)
    if version == 1:
        out.i64(value.expire_timestamp)
    out.tags()
    return bytes(out.out)


def encode_group_metadata_value(
    value: GroupMetadataValue, version: int = GROUP_METADATA_VALUE_VERSION
) -> bytes:
    out = Writer(flexible=version >= FLEXIBLE_VERSION)
    out.i16(version)
    out.string(value.protocol_type)
    out.i32(value.generation)
    out.string(value.protocol)
    out.string(value.leader)
    if version >= 2:
        out.i64(value.current_state_timestamp)
    out.length(len(value.members), wide=True)
    for member in value.members:
        out.string(member.member_id)
        if version >= 3:
            out.string(member.group_instance_id)
        out.string(member.client_id)
        out.string(member.client_host)
        if version >= 1:
            out.i32(member.rebalance_timeout)
        out.i32(member.session_timeout)
        out.bytes_(member.subscription)
        out.bytes_(member.assignment)
        out.tags()
    out.tags()
    return bytes(out.out)


# --- decoding ---------------------------------------------------------------------------------


def decode_record(key: bytes | None, value: bytes | None) -> CoordinatorRecord | None:
    """The record a (key, value) pair holds; None for record types this coordinator does not know."""
    if key is None:
        raise CorruptRecordError("__consumer_offsets record without a key")
    reader = Reader(key)
    key_type = reader.i16()
    if key_type in (LEGACY_OFFSET_COMMIT_KEY, OFFSET_COMMIT_KEY):
        group, topic, partition = reader.string(), reader.string(), reader.i32()
        decoded = None if value is None else decode_offset_commit_value(value)
        return OffsetCommitRecord(group, topic, partition, decoded)
    if key_type == GROUP_METADATA_KEY:
        group = reader.string()
        return GroupMetadataRecord(group, None if value is None else decode_group_metadata(value))
    if key_type in CONSUMER_KEY_TYPES:
        return decode_consumer_record(key_type, reader, value)
    return None


def decode_offset_commit_value(data: bytes) -> OffsetCommitValue:
    version = Reader(data).i16()
    if not 0 <= version <= FLEXIBLE_VERSION:
        raise CorruptRecordError(f"unknown OffsetCommitValue version {version}")
    reader = Reader(data, flexible=version >= FLEXIBLE_VERSION)
    reader.pos = 2
    offset = reader.i64()
    leader_epoch = reader.i32() if version >= 3 else -1
    metadata = reader.string()
    commit_timestamp = reader.i64()
    expire_timestamp = reader.i64() if version == 1 else -1
    reader.skip_tags()
    return OffsetCommitValue(offset, metadata, commit_timestamp, leader_epoch, expire_timestamp)


def decode_group_metadata(data: bytes) -> GroupMetadataValue:
    version = Reader(data).i16()
    if not 0 <= version <= FLEXIBLE_VERSION:
        raise CorruptRecordError(f"unknown GroupMetadataValue version {version}")
    reader = Reader(data, flexible=version >= FLEXIBLE_VERSION)
    reader.pos = 2
    protocol_type = reader.string()
    generation = reader.i32()
    protocol = reader.nullable_string()
    leader = reader.nullable_string()
    state_timestamp = reader.i64() if version >= 2 else -1
    count = reader.length(wide=True)
    members = tuple(_decode_member(reader, version) for _ in range(max(count, 0)))
    reader.skip_tags()
    return GroupMetadataValue(protocol_type, generation, protocol, leader, state_timestamp, members)


def _decode_member(reader: Reader, version: int) -> MemberMetadata:
    member_id = reader.string()
    instance_id = reader.nullable_string() if version >= 3 else None
    client_id = reader.string()
    client_host = reader.string()
    rebalance_timeout = reader.i32() if version >= 1 else -1
    session_timeout = reader.i32()
    subscription = reader.bytes_()
    assignment = reader.bytes_()
    reader.skip_tags()
    return MemberMetadata(
        member_id,
        client_id,
        client_host,
        session_timeout,
        subscription,
        assignment,
        rebalance_timeout,
        instance_id,
    )
