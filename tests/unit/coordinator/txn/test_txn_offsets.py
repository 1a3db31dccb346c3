"""Transactional offsets in the group coordinator: pending until the marker, log order wins, and
the same outcome when the partition is replayed from scratch (a restart)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from riverlog.coordinator.group import GroupConfig, GroupCoordinatorShard
from riverlog.coordinator.group.messages import (
    OffsetCommitRequest,
    PartitionCommit,
)
from riverlog.coordinator.group.records import CoordinatorRecord

CONFIG = GroupConfig()
NOW = 1_000
Event = tuple[
    str, int, int
]  # ("txn", producer, offset) | ("plain", -1, offset) | ("end", p, commit)


def commit_request(offset: int, **fields: object) -> OffsetCommitRequest:
    topics = (("t", (PartitionCommit(0, offset),)),)
    return OffsetCommitRequest("g", topics, **fields)  # type: ignore[arg-type]


class Partition:
    """A `__consumer_offsets` partition: the records in order, and a shard that replayed them."""

    def __init__(self) -> None:
        self.shard = GroupCoordinatorShard(CONFIG)
        self.log: list[tuple[CoordinatorRecord | bool, int]] = []  # (record | commit?, producer)

    def txn_commit(self, producer_id: int, offset: int, **fields: object) -> ErrorCode:
        result = self.shard.txn_commit_offsets(commit_request(offset, **fields), NOW)
        for record in result.records:
            self.log.append((record, producer_id))
            self.shard.replay(record, NOW, producer_id)
        assert result.response is not None
        return result.response.topics[0][1][0][1]

    def plain_commit(self, offset: int) -> None:
        result = self.shard.commit_offsets(commit_request(offset), NOW)
        for record in result.records:
            self.log.append((record, -1))
            self.shard.replay(record, NOW)

    def marker(self, producer_id: int, commit: bool) -> None:
        self.log.append((commit, producer_id))
        self.shard.replay_end_transaction(producer_id, commit)

    def committed(self, shard: GroupCoordinatorShard | None = None) -> int:
        fetched = (shard or self.shard).fetch_offsets("g", [("t", [0])])
        return fetched.topics[0][1][0].offset

    def replayed(self) -> GroupCoordinatorShard:
        """A fresh shard loaded from the log, as after a restart."""
        shard = GroupCoordinatorShard(CONFIG)
        for entry, producer_id in self.log:
            if isinstance(entry, bool):
                shard.replay_end_transaction(producer_id, entry)
            else:
                shard.replay(entry, NOW, producer_id)
        return shard


def test_offsets_are_pending_until_the_commit_marker() -> None:
    p = Partition()
    assert p.txn_commit(7, 5) is ErrorCode.none
    assert p.committed() == -1
    unstable = p.shard.fetch_offsets("g", [("t", [0])], require_stable=True)
    assert unstable.topics[0][1][0].error is ErrorCode.unstable_offset_commit
    p.marker(7, commit=True)
    assert p.committed() == 5
    stable = p.shard.fetch_offsets("g", [("t", [0])], require_stable=True)
    assert stable.topics[0][1][0].error is ErrorCode.none


def test_aborted_offsets_vanish() -> None:
    p = Partition()
    p.txn_commit(7, 5)
    p.marker(7, commit=True)
    p.txn_commit(7, 9)
    p.marker(7, commit=False)
    assert p.committed() == 5
    assert p.committed(p.replayed()) == 5


def test_a_plain_commit_after_the_transactional_one_wins() -> None:
    p = Partition()
    p.txn_commit(7, 5)
    p.plain_commit(8)
    p.marker(7, commit=True)
    assert p.committed() == 8  # Kafka: the later record in the log wins


def test_a_marker_without_pending_offsets_changes_nothing() -> None:
    p = Partition()
    p.plain_commit(3)
    p.marker(7, commit=True)  # a marker written twice (coordinator retry after a crash)
    assert p.committed() == 3


def test_member_checks_of_a_transactional_commit() -> None:
    p = Partition()
    p.plain_commit(1)  # creates the simple (Empty) group "g"
    assert p.txn_commit(7, 2) is ErrorCode.none  # anonymous: not checked
    assert p.txn_commit(7, 2, generation_id=4, member_id="m") is ErrorCode.unknown_member_id
    fresh = Partition()
    assert fresh.txn_commit(7, 2, generation_id=3) is ErrorCode.illegal_generation
    assert fresh.txn_commit(7, 2) is ErrorCode.none  # no group, no generation: a simple consumer


events = st.lists(
    st.one_of(
        st.tuples(st.just("txn"), st.integers(1, 3), st.integers(0, 100)),
        st.tuples(st.just("plain"), st.just(-1), st.integers(0, 100)),
        st.tuples(st.just("end"), st.integers(1, 3), st.integers(0, 1)),
    ),
    max_size=30,
)


@given(events)
def test_committed_offset_follows_the_log_model(script: list[Event]) -> None:
    """Model: an offset takes effect at its record's log position once its producer's next marker
    is COMMIT; the committed offset is the latest effective record."""
    p = Partition()
    pending: dict[int, list[tuple[int, int]]] = {}  # producer -> [(position, offset)]
    effective: list[tuple[int, int]] = []
    for position, (kind, producer, value) in enumerate(script):
        if kind == "txn":
            p.txn_commit(producer, value)
            pending.setdefault(producer, []).append((position, value))
        elif kind == "plain":
            p.plain_commit(value)
            effective.append((position, value))
        else:
            p.marker(producer, bool(value))
            done = pending.pop(producer, [])
            if value:
                effective += done
    expected = max(effective)[1] if effective else -1
    assert p.committed() == expected
    assert p.committed(p.replayed()) == expected
