"""Every version of every group API on the wire (kio requests over a socket), against a real broker."""

from __future__ import annotations

import datetime
import socket
import struct
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kio.schema.errors import ErrorCode
from kio.static.primitive import i32Timedelta, i64Timedelta

from riverlog.broker.responses import request_schema
from riverlog.protocol.codec import decode_response, encode_request
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

FIND_COORDINATOR, JOIN, HEARTBEAT, LEAVE, SYNC = 10, 11, 12, 13, 14
OFFSET_COMMIT, OFFSET_FETCH, DESCRIBE, LIST, DELETE, OFFSET_DELETE = 8, 9, 15, 16, 42, 47


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    settings = {"offsets.topic.num.partitions": "2", "group.min.session.timeout.ms": "100"}
    with RunningBroker(tmp_path_factory.mktemp("wire"), **settings) as running:
        yield running


class Connection:
    def __init__(self, broker: RunningBroker) -> None:
        self.sock = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
        self.correlation = 0

    def call(self, api_key: int, version: int, cls: str, **fields: Any) -> Any:
        request = getattr(request_schema(api_key, version), cls)(**fields)
        self.correlation += 1
        self.sock.sendall(encode_request(self.correlation, "wire-test", request))
        size = struct.unpack(">i", self._read(4))[0]
        response = decode_response(self._read(size), api_key, version)
        assert response.correlation_id == self.correlation
        return response.body

    def _read(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            assert chunk, "broker closed the connection"
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def conn(broker: RunningBroker) -> Iterator[Connection]:
    connection = Connection(broker)
    yield connection
    connection.close()


def ms32(value: int) -> i32Timedelta:
    return i32Timedelta.parse(datetime.timedelta(milliseconds=value))


def ms64(value: int) -> i64Timedelta:
    return i64Timedelta.parse(datetime.timedelta(milliseconds=value))


def unique() -> str:
    return f"w-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("version", range(7))
def test_find_coordinator(conn: Connection, broker: RunningBroker, version: int) -> None:
    if version < 4:
        body = conn.call(FIND_COORDINATOR, version, "FindCoordinatorRequest", key="g", key_type=0)
        assert (body.error_code, body.node_id, body.port) == (ErrorCode.none, 0, broker.port)
        return
    body = conn.call(
        FIND_COORDINATOR, version, "FindCoordinatorRequest", key_type=0, coordinator_keys=("a", "b")
    )
    assert [(c.key, c.error_code, c.port) for c in body.coordinators] == [
        ("a", ErrorCode.none, broker.port),
        ("b", ErrorCode.none, broker.port),
    ]
    txn = conn.call(
        FIND_COORDINATOR, version, "FindCoordinatorRequest", key_type=1, coordinator_keys=("t",)
    )
    assert [(c.key, c.error_code, c.port) for c in txn.coordinators] == [
        ("t", ErrorCode.none, broker.port)
    ]
    bad = conn.call(
        FIND_COORDINATOR, version, "FindCoordinatorRequest", key_type=9, coordinator_keys=("t",)
    )
    assert bad.coordinators[0].error_code == ErrorCode.invalid_request


def join(conn: Connection, version: int, group: str, member_id: str = "", **extra: Any) -> Any:
    schema = request_schema(JOIN, version)
    return conn.call(
        JOIN,
        version,
        "JoinGroupRequest",
        group_id=group,
        session_timeout=ms32(5000),
        rebalance_timeout=ms32(5000),
        member_id=member_id,
        protocol_type="consumer",
        protocols=(schema.JoinGroupRequestProtocol(name="range", metadata=b"meta"),),
        **extra,
    )


@pytest.mark.parametrize("version", range(10))
def test_membership_cycle_in_every_join_group_version(conn: Connection, version: int) -> None:
    group = unique()
    conn.call(FIND_COORDINATOR, 0, "FindCoordinatorRequest", key=group)
    joined = join(conn, version, group)
    if version >= 4:
        assert joined.error_code == ErrorCode.member_id_required
        joined = join(conn, version, group, joined.member_id)
    assert joined.error_code == ErrorCode.none
    assert (joined.generation_id, joined.leader) == (1, joined.member_id)
    assert [m.metadata for m in joined.members] == [b"meta"]
    member = joined.member_id
    sync_version, heartbeat_version, leave_version = (
        min(version, 5),
        min(version, 4),
        min(version, 5),
    )
    schema = request_schema(SYNC, sync_version)
    synced = conn.call(
        SYNC,
        sync_version,
        "SyncGroupRequest",
        group_id=group,
        generation_id=1,
        member_id=member,
        protocol_type="consumer",
        protocol_name="range",
        assignments=(schema.SyncGroupRequestAssignment(member_id=member, assignment=b"mine"),),
    )
    assert (synced.error_code, synced.assignment) == (ErrorCode.none, b"mine")
    beat = conn.call(
        HEARTBEAT,
        heartbeat_version,
        "HeartbeatRequest",
        group_id=group,
        generation_id=1,
        member_id=member,
    )
    assert beat.error_code == ErrorCode.none
    if leave_version >= 3:
        identity = request_schema(LEAVE, leave_version).MemberIdentity(member_id=member)
        left = conn.call(
            LEAVE, leave_version, "LeaveGroupRequest", group_id=group, members=(identity,)
        )
        assert [m.error_code for m in left.members] == [ErrorCode.none]
    else:
        left = conn.call(
            LEAVE, leave_version, "LeaveGroupRequest", group_id=group, member_id=member
        )
    assert left.error_code == ErrorCode.none
    described = conn.call(
        DESCRIBE,
        min(version, 5),
        "DescribeGroupsRequest",
        groups=(group,),
        include_authorized_operations=False,
    )
    assert described.groups[0].group_state == "Empty"


def commit(conn: Connection, version: int, group: str, offset: int, **extra: Any) -> Any:
    schema = request_schema(OFFSET_COMMIT, version)
    partition = schema.OffsetCommitRequestPartition(
        partition_index=0,
        committed_offset=offset,
        committed_leader_epoch=2,
        committed_metadata="md",
    )
    return conn.call(
        OFFSET_COMMIT,
        version,
        "OffsetCommitRequest",
        group_id=group,
        generation_id_or_member_epoch=-1,
        member_id="",
        retention_time=ms64(-1),
        topics=(schema.OffsetCommitRequestTopic(name=extra.pop("topic"), partitions=(partition,)),),
        **extra,
    )


@pytest.fixture(scope="module")
def topic(broker: RunningBroker) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    admin.create_topics([NewTopic("wire-topic", 1, 1)])["wire-topic"].result(timeout=10)
    return "wire-topic"


@pytest.mark.parametrize("version", range(2, 10))
def test_offset_commit_every_version(conn: Connection, topic: str, version: int) -> None:
    group = unique()
    conn.call(FIND_COORDINATOR, 0, "FindCoordinatorRequest", key=group)
    body = commit(conn, version, group, 42, topic=topic)
    assert body.topics[0].partitions[0].error_code == ErrorCode.none
    unknown = commit(conn, version, group, 1, topic="no-such-topic")
    assert unknown.topics[0].partitions[0].error_code == ErrorCode.unknown_topic_or_partition
    fetched = conn.call(
        OFFSET_FETCH,
        1,
        "OffsetFetchRequest",
        group_id=group,
        topics=(
            request_schema(OFFSET_FETCH, 1).OffsetFetchRequestTopic(
                name=topic, partition_indexes=(0,)
            ),
        ),
    )
    assert fetched.topics[0].partitions[0].committed_offset == 42


@pytest.mark.parametrize("version", range(1, 10))
def test_offset_fetch_every_version(conn: Connection, topic: str, version: int) -> None:
    group, other = unique(), unique()
    conn.call(FIND_COORDINATOR, 0, "FindCoordinatorRequest", key=group)
    commit(conn, 9, group, 7, topic=topic)
    schema = request_schema(OFFSET_FETCH, version)
    if version < 8:
        topics = (schema.OffsetFetchRequestTopic(name=topic, partition_indexes=(0, 3)),)
        body = conn.call(OFFSET_FETCH, version, "OffsetFetchRequest", group_id=group, topics=topics)
        parts = body.topics[0].partitions
        assert [(p.partition_index, p.committed_offset, p.metadata) for p in parts] == [
            (0, 7, "md"),
            (3, -1, ""),
        ]
        if version >= 2:
            everything = conn.call(
                OFFSET_FETCH, version, "OffsetFetchRequest", group_id=group, topics=None
            )
            assert [t.name for t in everything.topics] == [topic]
        if version >= 5:
            assert parts[0].committed_leader_epoch == 2
        return
    groups = (
        schema.OffsetFetchRequestGroup(group_id=group, topics=None),
        schema.OffsetFetchRequestGroup(
            group_id=other,
            topics=(schema.OffsetFetchRequestTopics(name=topic, partition_indexes=(0,)),),
        ),
    )
    body = conn.call(OFFSET_FETCH, version, "OffsetFetchRequest", groups=groups)
    assert [g.group_id for g in body.groups] == [group, other]
    assert body.groups[0].topics[0].partitions[0].committed_offset == 7
    assert body.groups[1].topics[0].partitions[0].committed_offset == -1


@pytest.mark.parametrize("version", range(6))
def test_list_and_describe_groups(conn: Connection, topic: str, version: int) -> None:
    group = unique()
    conn.call(FIND_COORDINATOR, 0, "FindCoordinatorRequest", key=group)
    commit(conn, 9, group, 1, topic=topic)
    extra: dict[str, Any] = {}
    if version >= 4:
        extra["states_filter"] = ("empty",)
    if version >= 5:
        extra["types_filter"] = ("classic",)
    listed = conn.call(LIST, version, "ListGroupsRequest", **extra)
    assert listed.error_code == ErrorCode.none
    mine = [g for g in listed.groups if g.group_id == group]
    assert len(mine) == 1 and mine[0].protocol_type == ""
    if version >= 4:
        assert {g.group_state for g in listed.groups} == {"Empty"}
        stable_only = conn.call(LIST, version, "ListGroupsRequest", states_filter=("Stable",))
        assert group not in {g.group_id for g in stable_only.groups}
    described = conn.call(
        DESCRIBE,
        version,
        "DescribeGroupsRequest",
        groups=(group, "missing-group"),
        include_authorized_operations=False,
    )
    assert [(g.group_id, g.group_state) for g in described.groups] == [
        (group, "Empty"),
        ("missing-group", "Dead"),
    ]


@pytest.mark.parametrize("version", range(3))
def test_delete_groups_and_offset_delete(conn: Connection, topic: str, version: int) -> None:
    group = unique()
    conn.call(FIND_COORDINATOR, 0, "FindCoordinatorRequest", key=group)
    commit(conn, 9, group, 5, topic=topic)
    schema = request_schema(OFFSET_DELETE, 0)
    deleted_offsets = conn.call(
        OFFSET_DELETE,
        0,
        "OffsetDeleteRequest",
        group_id=group,
        topics=(
            schema.OffsetDeleteRequestTopic(
                name=topic, partitions=(schema.OffsetDeleteRequestPartition(partition_index=0),)
            ),
        ),
    )
    assert deleted_offsets.error_code == ErrorCode.none
    assert deleted_offsets.topics[0].partitions[0].error_code == ErrorCode.none
    body = conn.call(DELETE, version, "DeleteGroupsRequest", groups_names=(group, "nope"))
    assert [(r.group_id, r.error_code) for r in body.results] == [
        (group, ErrorCode.none),
        ("nope", ErrorCode.group_id_not_found),
    ]


def test_batch_leave_of_static_members(conn: Connection) -> None:
    group = unique()
    conn.call(FIND_COORDINATOR, 0, "FindCoordinatorRequest", key=group)
    first = join(conn, 9, group, group_instance_id="s1")
    assert first.error_code == ErrorCode.none
    schema = request_schema(LEAVE, 5)
    left = conn.call(
        LEAVE,
        5,
        "LeaveGroupRequest",
        group_id=group,
        members=(
            schema.MemberIdentity(member_id="", group_instance_id="s1", reason="bye"),
            schema.MemberIdentity(member_id="", group_instance_id="s9"),
        ),
    )
    assert [(m.group_instance_id, m.error_code) for m in left.members] == [
        ("s1", ErrorCode.none),
        ("s9", ErrorCode.unknown_member_id),
    ]


CONSUMER_HEARTBEAT, CONSUMER_DESCRIBE = 68, 69


@pytest.mark.parametrize("version", range(2))
def test_consumer_group_heartbeat_and_describe(
    conn: Connection, broker: RunningBroker, topic: str, version: int
) -> None:
    group = unique()
    conn.call(FIND_COORDINATOR, 0, "FindCoordinatorRequest", key=group)
    member_id = "" if version == 0 else str(uuid.uuid4())
    joined = conn.call(
        CONSUMER_HEARTBEAT,
        version,
        "ConsumerGroupHeartbeatRequest",
        group_id=group,
        member_id=member_id,
        member_epoch=0,
        rebalance_timeout=ms32(5000),
        subscribed_topic_names=(topic,),
        topic_partitions=(),
    )
    assert joined.error_code == ErrorCode.none and joined.member_epoch == 1
    if version == 0:
        assert joined.member_id  # handed out by the coordinator
    else:
        assert joined.member_id == member_id
    assert joined.assignment is not None
    [assigned] = joined.assignment.topic_partitions
    assert list(assigned.partitions) == [0]
    described = conn.call(
        CONSUMER_DESCRIBE,
        version,
        "ConsumerGroupDescribeRequest",
        group_ids=(group, "no-such-group"),
        include_authorized_operations=False,
    )
    mine, missing = described.groups
    assert (mine.error_code, mine.group_state, mine.group_epoch, mine.assignor_name) == (
        ErrorCode.none,
        "Stable",
        1,
        "uniform",
    )
    assert [p.topic_name for p in mine.members[0].assignment.topic_partitions] == [topic]
    assert missing.error_code == ErrorCode.group_id_not_found
    left = conn.call(
        CONSUMER_HEARTBEAT,
        version,
        "ConsumerGroupHeartbeatRequest",
        group_id=group,
        member_id=joined.member_id,
        member_epoch=-1,
        topic_partitions=None,
    )
    assert (left.error_code, left.member_epoch) == (ErrorCode.none, -1)
    invalid = conn.call(
        CONSUMER_HEARTBEAT,
        version,
        "ConsumerGroupHeartbeatRequest",
        group_id=group,
        member_id="m",
        member_epoch=0,
        topic_partitions=(),
    )
    assert invalid.error_code == ErrorCode.invalid_request and invalid.error_message
