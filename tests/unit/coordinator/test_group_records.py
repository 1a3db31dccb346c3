"""`__consumer_offsets` records in Kafka's binary formats: exact bytes and round trips of every version."""

from __future__ import annotations

import struct
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riverlog.coordinator.group.consumer_records import (
    ConsumerGroupMetadataRecord,
    ConsumerMemberMetadata,
    ConsumerMemberMetadataRecord,
    CurrentAssignment,
    CurrentAssignmentRecord,
    TargetAssignmentMemberRecord,
    TargetAssignmentMetadataRecord,
)
from riverlog.coordinator.group.records import (
    GroupMetadataRecord,
    GroupMetadataValue,
    MemberMetadata,
    OffsetCommitRecord,
    OffsetCommitValue,
    decode_group_metadata,
    decode_offset_commit_value,
    decode_record,
    encode_group_metadata_value,
    encode_offset_commit_value,
    encode_record,
)
from riverlog.protocol.errors import CorruptRecordError


def kstr(text: str) -> bytes:
    return struct.pack(">h", len(text.encode())) + text.encode()


def test_offset_commit_key_and_value_v3_bytes() -> None:
    key, value = encode_record(
        OffsetCommitRecord("grp", "topic", 7, OffsetCommitValue(42, "meta", 1234, 5))
    )
    assert key == struct.pack(">h", 1) + kstr("grp") + kstr("topic") + struct.pack(">i", 7)
    assert value == struct.pack(">hqi", 3, 42, 5) + kstr("meta") + struct.pack(">q", 1234)


def test_offset_commit_value_with_expiry_is_written_as_v1() -> None:
    value = encode_offset_commit_value(OffsetCommitValue(42, "", 1000, 5, 2000))
    assert value == struct.pack(">hq", 1, 42) + kstr("") + struct.pack(">qq", 1000, 2000)


def test_group_metadata_key_and_value_v3_bytes() -> None:
    member = MemberMetadata("m-1", "client", "/10.0.0.1", 45000, b"sub", b"asg", 300000, "inst")
    key, value = encode_record(
        GroupMetadataRecord("grp", GroupMetadataValue("consumer", 4, "range", "m-1", 99, (member,)))
    )
    assert key == struct.pack(">h", 2) + kstr("grp")
    expected = (
        struct.pack(">h", 3)
        + kstr("consumer")
        + struct.pack(">i", 4)
        + kstr("range")
        + kstr("m-1")
        + struct.pack(">q", 99)
        + struct.pack(">i", 1)
        + kstr("m-1")
        + kstr("inst")
        + kstr("client")
        + kstr("/10.0.0.1")
        + struct.pack(">ii", 300000, 45000)
        + struct.pack(">i", 3)
        + b"sub"
        + struct.pack(">i", 3)
        + b"asg"
    )
    assert value == expected


def test_null_strings_and_tombstones() -> None:
    key, value = encode_record(
        GroupMetadataRecord("g", GroupMetadataValue("consumer", 1, None, None))
    )
    assert value is not None and struct.pack(">hh", -1, -1) in value
    assert decode_record(key, value) == GroupMetadataRecord(
        "g", GroupMetadataValue("consumer", 1, None, None)
    )
    key, value = encode_record(OffsetCommitRecord("g", "t", 0, None))
    assert value is None
    assert decode_record(key, None) == OffsetCommitRecord("g", "t", 0, None)


def test_legacy_key_version_0_is_read_and_unknown_types_are_skipped() -> None:
    legacy = struct.pack(">h", 0) + kstr("g") + kstr("t") + struct.pack(">i", 3)
    value = encode_offset_commit_value(OffsetCommitValue(1, "", 5), version=0)
    assert decode_record(legacy, value) == OffsetCommitRecord(
        "g", "t", 3, OffsetCommitValue(1, "", 5)
    )
    # Type 4 (KIP-848 subscription metadata) and share/streams group types are skipped.
    assert decode_record(struct.pack(">h", 4) + kstr("g"), b"\x00\x00\x00") is None
    assert decode_record(struct.pack(">h", 10) + kstr("g"), b"\x00\x00") is None


def test_corrupt_records_raise() -> None:
    with pytest.raises(CorruptRecordError):
        decode_record(struct.pack(">h", 1) + b"\x00\x05ab", None)
    with pytest.raises(CorruptRecordError):
        decode_offset_commit_value(struct.pack(">h", 9) + b"\x00" * 20)
    with pytest.raises(CorruptRecordError):
        decode_record(None, None)


texts = st.text(max_size=20)
ints32 = st.integers(-(2**31), 2**31 - 1)
ints64 = st.integers(-(2**63), 2**63 - 1)


@given(
    version=st.integers(0, 4),
    offset=ints64,
    metadata=texts,
    commit=ints64,
    epoch=ints32,
    expire=ints64,
)
def test_offset_commit_value_round_trips_in_every_version(
    version: int, offset: int, metadata: str, commit: int, epoch: int, expire: int
) -> None:
    value = OffsetCommitValue(offset, metadata, commit, epoch, expire)
    decoded = decode_offset_commit_value(encode_offset_commit_value(value, version))
    assert (decoded.offset, decoded.metadata, decoded.commit_timestamp) == (
        offset,
        metadata,
        commit,
    )
    assert decoded.leader_epoch == (epoch if version >= 3 else -1)
    assert decoded.expire_timestamp == (expire if version == 1 else -1)


members = st.builds(
    MemberMetadata,
    member_id=texts,
    client_id=texts,
    client_host=texts,
    session_timeout=ints32,
    subscription=st.binary(max_size=30),
    assignment=st.binary(max_size=30),
    rebalance_timeout=ints32,
    group_instance_id=st.none() | texts,
)


@given(
    version=st.integers(0, 4),
    protocol_type=texts,
    generation=ints32,
    protocol=st.none() | texts,
    leader=st.none() | texts,
    timestamp=ints64,
    listed=st.lists(members, max_size=4),
)
def test_group_metadata_value_round_trips_in_every_version(
    version: int,
    protocol_type: str,
    generation: int,
    protocol: str | None,
    leader: str | None,
    timestamp: int,
    listed: list[MemberMetadata],
) -> None:
    value = GroupMetadataValue(
        protocol_type, generation, protocol, leader, timestamp, tuple(listed)
    )
    decoded = decode_group_metadata(encode_group_metadata_value(value, version))
    assert (decoded.protocol_type, decoded.generation, decoded.protocol, decoded.leader) == (
        protocol_type,
        generation,
        protocol,
        leader,
    )
    assert decoded.current_state_timestamp == (timestamp if version >= 2 else -1)
    for got, sent in zip(decoded.members, listed, strict=True):
        assert (got.member_id, got.client_id, got.client_host, got.session_timeout) == (
            sent.member_id,
            sent.client_id,
            sent.client_host,
            sent.session_timeout,
        )
        assert (got.subscription, got.assignment) == (sent.subscription, sent.assignment)
        assert got.rebalance_timeout == (sent.rebalance_timeout if version >= 1 else -1)
        assert got.group_instance_id == (sent.group_instance_id if version >= 3 else None)


TOPIC = uuid.UUID("0123456789abcdef0123456789abcdef")


def test_consumer_group_records_exact_bytes() -> None:
    key, value = encode_record(
        CurrentAssignmentRecord(
            "grp",
            "m1",
            CurrentAssignment(5, 4, 1, {TOPIC: frozenset({2, 0})}, {TOPIC: frozenset({1})}),
        )
    )
    assert key == struct.pack(">h", 8) + kstr("grp") + kstr("m1")
    # Flexible v0: compact arrays (length + 1 as an unsigned varint), uuid bytes, empty tag sections.
    topic_partitions = lambda *ps: (  # noqa: E731
        b"\x02"
        + TOPIC.bytes
        + bytes([len(ps) + 1])
        + b"".join(struct.pack(">i", p) for p in ps)
        + b"\x00"
    )
    assert value == (
        struct.pack(">hiib", 0, 5, 4, 1) + topic_partitions(0, 2) + topic_partitions(1) + b"\x00"
    )
    key, value = encode_record(ConsumerGroupMetadataRecord("grp", 7))
    assert (key, value) == (struct.pack(">h", 3) + kstr("grp"), struct.pack(">hi", 0, 7) + b"\x00")
    metadata = ConsumerMemberMetadata(
        "client", "/h", ("a", "b"), 300, None, "rack", None, "uniform"
    )
    key, value = encode_record(ConsumerMemberMetadataRecord("grp", "m1", metadata))
    assert key == struct.pack(">h", 5) + kstr("grp") + kstr("m1")
    assert value == (
        struct.pack(">h", 0) + b"\x00" + b"\x05rack" + b"\x07client" + b"\x03/h"
        + b"\x03" + b"\x02a" + b"\x02b" + b"\x00" + struct.pack(">i", 300) + b"\x08uniform" + b"\x00"
    )  # fmt: skip


assignments = st.dictionaries(
    st.uuids(), st.frozensets(st.integers(0, 2**31 - 1), min_size=1, max_size=5), max_size=3
)
consumer_records = st.one_of(
    st.builds(ConsumerGroupMetadataRecord, texts, st.none() | ints32),
    st.builds(TargetAssignmentMetadataRecord, texts, st.none() | ints32),
    st.builds(TargetAssignmentMemberRecord, texts, texts, st.none() | assignments),
    st.builds(
        ConsumerMemberMetadataRecord,
        texts,
        texts,
        st.none()
        | st.builds(
            ConsumerMemberMetadata,
            texts,
            texts,
            st.lists(texts, max_size=3).map(tuple),
            ints32,
            st.none() | texts,
            st.none() | texts,
            st.none() | texts,
            st.none() | texts,
        ),
    ),
    st.builds(
        CurrentAssignmentRecord,
        texts,
        texts,
        st.none()
        | st.builds(
            CurrentAssignment, ints32, ints32, st.sampled_from([0, 1, 2]), assignments, assignments
        ),
    ),
)


@given(consumer_records)
def test_consumer_group_records_round_trip(record: object) -> None:
    key, value = encode_record(record)  # type: ignore[arg-type]
    assert decode_record(key, value) == record
