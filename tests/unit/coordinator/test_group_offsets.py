"""Committed offsets: who may commit, fetch, delete, expiry by offsets.retention.minutes."""

from __future__ import annotations

import dataclasses

from group_harness import CONFIG, Harness, subscription
from kio.schema.errors import ErrorCode

from riverlog.coordinator.group import GroupState
from riverlog.coordinator.group.records import GroupMetadataRecord, decode_record

DAY = 24 * 3600 * 1000
S = GroupState
# Members that outlive the retention period without heartbeating through every minute of it.
LONG_SESSIONS = dataclasses.replace(CONFIG, max_session_timeout_ms=10 * DAY)


def test_simple_consumer_commits_and_fetches_without_membership() -> None:
    h = Harness()
    errors = h.commit("manual", {("t", 0): 10, ("t", 1): 20, ("u", 0): 7}, metadata="m")
    assert set(errors.values()) == {ErrorCode.none}
    assert h.committed("manual") == {("t", 0): 10, ("t", 1): 20, ("u", 0): 7}
    group = h.shard.groups["manual"]  # created by replaying the commit
    assert group.state is S.EMPTY and group.protocol_type is None
    fetched = h.shard.fetch_offsets("manual", [("t", [1, 5])])
    assert [(p.partition, p.offset, p.leader_epoch, p.metadata) for p in fetched.topics[0][1]] == [
        (1, 20, 3, "m"),
        (5, -1, -1, ""),
    ]
    assert h.shard.fetch_offsets("nobody", None).topics == ()
    h.commit("manual", {("t", 0): 11})
    assert h.committed("manual")[("t", 0)] == 11


def test_commit_by_generation_into_a_missing_group() -> None:
    h = Harness()
    assert h.commit("g", {("t", 0): 1}, generation=3, member_id="m", version=9) == {
        ("t", 0): ErrorCode.group_id_not_found
    }
    assert h.commit("g", {("t", 0): 1}, generation=3, member_id="m", version=8) == {
        ("t", 0): ErrorCode.illegal_generation
    }
    assert h.commit("", {("t", 0): 1}) == {("t", 0): ErrorCode.invalid_group_id}
    assert h.log == []


def test_member_commit_rules() -> None:
    h = Harness()
    generation, (a, b) = h.stable_group("g", 2)
    ok = h.commit("g", {("t", 0): 5}, generation, a)
    assert ok == {("t", 0): ErrorCode.none}
    assert h.commit("g", {("t", 0): 6}, generation - 1, a) == {
        ("t", 0): ErrorCode.illegal_generation
    }
    assert h.commit("g", {("t", 0): 6}, generation, "stranger") == {
        ("t", 0): ErrorCode.unknown_member_id
    }
    # A non-member with generation -1 may not commit while the group has members.
    assert h.commit("g", {("t", 0): 6}) == {("t", 0): ErrorCode.unknown_member_id}
    # During PreparingRebalance members may still commit what they processed.
    h.join_new("g")
    assert h.commit("g", {("t", 0): 7}, generation, a) == {("t", 0): ErrorCode.none}
    h.join("g", a)
    h.join("g", b)
    assert h.shard.groups["g"].state is S.COMPLETING_REBALANCE
    assert h.commit("g", {("t", 0): 8}, generation + 1, a) == {
        ("t", 0): ErrorCode.rebalance_in_progress
    }
    assert h.committed("g") == {("t", 0): 7}


def test_metadata_too_large_is_refused_per_partition() -> None:
    h = Harness()
    errors = h.commit("g", {("t", 0): 1}, metadata="x" * 5000)
    assert errors == {("t", 0): ErrorCode.offset_metadata_too_large}
    assert h.committed("g") == {}


def test_simple_group_offsets_expire_after_retention_and_then_the_group_goes() -> None:
    h = Harness()
    h.commit("manual", {("t", 0): 1})
    h.advance(DAY // 2)
    h.commit("manual", {("t", 1): 2})
    h.advance(DAY // 2 - 1)
    h.apply(h.shard.expire_offsets(h.now))
    assert h.committed("manual") == {("t", 0): 1, ("t", 1): 2}
    h.advance(1)
    h.apply(h.shard.expire_offsets(h.now))
    assert h.committed("manual") == {("t", 1): 2}
    assert "manual" in h.shard.groups
    h.advance(DAY // 2)
    h.apply(h.shard.expire_offsets(h.now))
    assert h.committed("manual") == {} and "manual" not in h.shard.groups
    tombstone = decode_record(*h.log[-1])
    assert tombstone == GroupMetadataRecord("manual", None)


def test_empty_consumer_group_offsets_expire_from_when_it_became_empty() -> None:
    h = Harness(LONG_SESSIONS)
    generation, (a,) = h.stable_group(
        "g", 1, protocols=(("range", subscription("t")),), session=3 * DAY
    )
    h.commit("g", {("t", 0): 3}, generation, a)
    h.advance(DAY * 2)  # a Stable member's subscribed offsets never expire
    h.heartbeat("g", generation, a)
    h.apply(h.shard.expire_offsets(h.now))
    assert h.committed("g") == {("t", 0): 3}
    h.leave("g", (a, None))
    assert h.shard.groups["g"].state is S.EMPTY
    h.advance(DAY - 1)
    h.apply(h.shard.expire_offsets(h.now))
    assert h.committed("g") == {("t", 0): 3}
    h.advance(1)
    h.apply(h.shard.expire_offsets(h.now))
    assert h.committed("g") == {} and "g" not in h.shard.groups


def test_stable_group_offsets_of_unsubscribed_topics_expire() -> None:
    h = Harness(LONG_SESSIONS)
    generation, (a,) = h.stable_group(
        "g", 1, protocols=(("range", subscription("t")),), session=3 * DAY
    )
    h.commit("g", {("t", 0): 3, ("old", 0): 9}, generation, a)
    h.advance(CONFIG.offsets_retention_ms)
    h.heartbeat("g", generation, a)
    h.apply(h.shard.expire_offsets(h.now))
    assert h.committed("g") == {("t", 0): 3}


def test_offsets_committed_with_retention_time_expire_at_their_own_time() -> None:
    h = Harness()
    h.commit("g", {("t", 0): 1}, version=2, retention=60_000)
    h.advance(59_999)
    h.apply(h.shard.expire_offsets(h.now))
    assert h.committed("g") == {("t", 0): 1}
    h.advance(1)
    h.apply(h.shard.expire_offsets(h.now))
    assert h.committed("g") == {}


def test_offset_delete() -> None:
    h = Harness()
    generation, (a,) = h.stable_group("g", 1, protocols=(("range", subscription("t")),))
    h.commit("g", {("t", 0): 1, ("gone", 0): 2}, generation, a)
    records_result = h.shard.delete_offsets("g", [("t", [0]), ("gone", [0, 1])])
    error, topics = h.apply(records_result)
    assert error is ErrorCode.none
    assert dict(topics) == {
        "t": ((0, ErrorCode.group_subscribed_to_topic),),
        "gone": ((0, ErrorCode.none), (1, ErrorCode.none)),
    }
    assert h.committed("g") == {("t", 0): 1}
    missing_error, _ = h.apply(h.shard.delete_offsets("missing", [("t", [0])]))
    assert missing_error is ErrorCode.group_id_not_found
    h.stable_group("connectish", 1, protocol_type="connect")
    busy_error, _ = h.apply(h.shard.delete_offsets("connectish", [("t", [0])]))
    assert busy_error is ErrorCode.non_empty_group
