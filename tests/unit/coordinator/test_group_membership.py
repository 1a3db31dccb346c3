"""The classic group protocol with a fake clock: joins, syncs, heartbeats, leaves and timeouts."""

from __future__ import annotations

import pytest
from group_harness import CONFIG, Harness, subscription
from kio.schema.errors import ErrorCode

from riverlog.coordinator.group import GroupConfig, GroupState
from riverlog.coordinator.group.messages import SyncGroupRequest
from riverlog.coordinator.group.records import GroupMetadataRecord, decode_record
from riverlog.coordinator.group.state import ClassicGroup, IllegalStateTransition

S = GroupState


def state(h: Harness, group: str) -> GroupState:
    return h.shard.groups[group].state


def test_member_id_required_round_trip_then_a_group_of_one() -> None:
    h = Harness()
    first = h.answers[h.join("g")]
    assert first.error is ErrorCode.member_id_required
    assert first.member_id.startswith("c-")
    assert state(h, "g") is S.EMPTY  # a pending member is not a member yet

    joined = h.answers[h.join("g", first.member_id)]
    assert joined.error is ErrorCode.none
    assert (joined.generation_id, joined.leader, joined.protocol_name) == (
        1,
        first.member_id,
        "range",
    )
    assert [m.member_id for m in joined.members] == [first.member_id]
    assert state(h, "g") is S.COMPLETING_REBALANCE
    assert h.log == []  # nothing is stored before the leader's assignment

    synced = h.answers[h.sync("g", 1, first.member_id, {first.member_id: b"p0,p1"})]
    assert synced == synced.__class__(ErrorCode.none, "consumer", "range", b"p0,p1")
    assert state(h, "g") is S.STABLE
    stored = decode_record(*h.log[-1])
    assert isinstance(stored, GroupMetadataRecord) and stored.value is not None
    assert stored.value.generation == 1
    assert [m.assignment for m in stored.value.members] == [b"p0,p1"]


def test_join_group_v3_needs_no_member_id_round_trip() -> None:
    h = Harness()
    joined = h.answers[h.join("g", version=3)]
    assert joined.error is ErrorCode.none and joined.generation_id == 1


def test_pending_member_that_never_comes_back_is_forgotten() -> None:
    h = Harness()
    pending = h.answers[h.join("g", session=5000)].member_id
    h.advance(5000)
    assert pending not in h.shard.groups["g"].pending_members
    assert h.answers[h.join("g", pending)].error is ErrorCode.unknown_member_id


def test_bad_requests() -> None:
    h = Harness()
    assert h.answers[h.join("")].error is ErrorCode.invalid_group_id
    assert h.answers[h.join("g", session=10)].error is ErrorCode.invalid_session_timeout
    assert h.answers[h.join("g", session=70_000)].error is ErrorCode.invalid_session_timeout
    assert h.answers[h.join("nope", "m-1")].error is ErrorCode.unknown_member_id
    assert h.answers[h.join("g", protocols=())].error is ErrorCode.inconsistent_group_protocol
    assert h.shard.groups == {}  # refused joins leave no group behind


def test_second_member_triggers_a_rebalance_and_both_get_the_new_generation() -> None:
    h = Harness()
    generation, (a,) = h.stable_group("g", 1)
    b_ticket = h.join_new("g")
    assert b_ticket not in h.answers and state(h, "g") is S.PREPARING_REBALANCE
    assert h.heartbeat("g", generation, a) is ErrorCode.rebalance_in_progress
    a_ticket = h.join("g", a)
    a_join, b_join = h.answers[a_ticket], h.answers[b_ticket]
    assert a_join.generation_id == b_join.generation_id == generation + 1
    assert a_join.leader == b_join.leader == a  # the leader stays
    assert {m.member_id for m in a_join.members} == {a, b_join.member_id}
    assert b_join.members == ()  # followers get no member list
    b = b_join.member_id
    # The follower syncs first and waits for the leader's assignment.
    b_sync = h.sync("g", generation + 1, b)
    assert b_sync not in h.answers
    a_sync = h.sync("g", generation + 1, a, {a: b"A", b: b"B"})
    assert h.answers[a_sync].assignment == b"A" and h.answers[b_sync].assignment == b"B"
    assert state(h, "g") is S.STABLE
    assert h.heartbeat("g", generation + 1, b) is ErrorCode.none
    assert h.heartbeat("g", generation, b) is ErrorCode.illegal_generation


def test_follower_rejoining_stable_with_same_metadata_gets_current_generation() -> None:
    h = Harness()
    generation, (a, b) = h.stable_group("g", 2)
    follower = b if h.shard.groups["g"].leader_id == a else a
    again = h.answers[h.join("g", follower)]
    assert (again.error, again.generation_id, again.members) == (ErrorCode.none, generation, ())
    assert state(h, "g") is S.STABLE


def test_leader_rejoining_stable_forces_a_rebalance() -> None:
    h = Harness()
    h.stable_group("g", 2)
    leader = h.shard.groups["g"].leader_id
    assert leader is not None
    h.join("g", leader)
    assert state(h, "g") is S.PREPARING_REBALANCE


def test_initial_rebalance_delay_is_extended_while_members_arrive() -> None:
    h = Harness(GroupConfig(min_session_timeout_ms=1000, initial_rebalance_delay_ms=3000))
    a = h.join_new("g")
    h.advance(1000)
    b = h.join_new("g")
    h.advance(1999)  # t=2999: the first delay has not passed
    assert a not in h.answers and b not in h.answers
    h.advance(1)  # t=3000: a member arrived meanwhile, so wait another delay
    assert a not in h.answers
    h.advance(2999)
    assert a not in h.answers
    h.advance(1)  # t=6000
    assert h.answers[a].generation_id == h.answers[b].generation_id == 1
    assert len(h.answers[a].members) == 2


def test_initial_rebalance_delay_is_bounded_by_the_rebalance_timeout() -> None:
    h = Harness(GroupConfig(min_session_timeout_ms=1000, initial_rebalance_delay_ms=3000))
    a = h.join_new("g", rebalance=4000)
    for _ in range(5):  # keep joining: the delay may not run past the rebalance timeout
        h.advance(1000)
        h.join_new("g", rebalance=4000)
    assert h.answers[a].generation_id == 1
    assert h.now - 1_700_000_000_000 <= 5000


def test_member_without_heartbeats_is_removed_after_its_session_timeout() -> None:
    h = Harness()
    generation, (a, b) = h.stable_group("g", 2, session=6000)
    for _ in range(5):
        h.advance(2000)
        assert h.heartbeat("g", generation, a) in (ErrorCode.none, ErrorCode.rebalance_in_progress)
    group = h.shard.groups["g"]
    assert b not in group.members and state(h, "g") is S.PREPARING_REBALANCE
    rejoin = h.answers[h.join("g", a, session=6000)]
    assert rejoin.generation_id == generation + 1 and [m.member_id for m in rejoin.members] == [a]


def test_heartbeats_keep_a_member_alive_indefinitely() -> None:
    h = Harness()
    generation, (a,) = h.stable_group("g", 1, session=6000)
    for _ in range(20):
        h.advance(5000)
        assert h.heartbeat("g", generation, a) is ErrorCode.none
    assert state(h, "g") is S.STABLE


def test_members_that_do_not_rejoin_are_dropped_at_the_rebalance_timeout() -> None:
    h = Harness()
    generation, (a, b) = h.stable_group("g", 2, rebalance=8000, session=20_000)
    c = h.join_new("g", rebalance=8000, session=20_000)
    h.join("g", a, rebalance=8000, session=20_000)
    h.advance(7999)
    assert c not in h.answers
    h.advance(1)
    result = h.answers[c]
    assert result.generation_id == generation + 1
    assert b not in h.shard.groups["g"].members
    assert len(h.shard.groups["g"].members) == 2
    assert h.heartbeat("g", generation, b) is ErrorCode.unknown_member_id


def test_member_that_never_syncs_is_removed_and_the_group_rebalances() -> None:
    h = Harness()
    generation, (a, b) = h.stable_group("h", 2, rebalance=5000)
    leader = h.shard.groups["h"].leader_id
    follower = b if leader == a else a
    assert leader is not None
    h.join("h", leader, rebalance=5000)  # leader forces a new rebalance
    h.join("h", follower, rebalance=5000)
    assert state(h, "h") is S.COMPLETING_REBALANCE
    h.sync("h", generation + 1, leader, {leader: b"x", follower: b"y"})  # follower never syncs
    assert state(h, "h") is S.STABLE
    h.advance(4999)
    assert follower in h.shard.groups["h"].members
    h.advance(1)
    assert follower not in h.shard.groups["h"].members
    assert state(h, "h") is S.PREPARING_REBALANCE


def test_leave_group_single_and_batch() -> None:
    h = Harness()
    generation, members = h.stable_group("g", 3)
    result = h.leave("g", (members[0], None), ("nobody", None))
    assert [m.error for m in result.members] == [ErrorCode.none, ErrorCode.unknown_member_id]
    assert state(h, "g") is S.PREPARING_REBALANCE
    result = h.leave("g", (members[1], None), (members[2], None))
    assert all(m.error is ErrorCode.none for m in result.members)
    # Nobody left: the generation ends empty and that is stored.
    assert state(h, "g") is S.EMPTY
    assert h.shard.groups["g"].generation_id == generation + 1
    stored = decode_record(*h.log[-1])
    assert isinstance(stored, GroupMetadataRecord) and stored.value is not None
    assert stored.value.members == ()
    unknown = h.leave("none", ("m", None))
    assert unknown.members[0].error is ErrorCode.unknown_member_id


def test_leave_answers_a_parked_join_of_the_leaving_member() -> None:
    h = Harness()
    _, (a, _) = h.stable_group("g", 2)
    parked = h.join("g", a)
    h.leave("g", (a, None))
    assert h.answers[parked].error is ErrorCode.unknown_member_id


def test_protocol_selection_by_vote_among_common_protocols() -> None:
    h = Harness(GroupConfig(min_session_timeout_ms=1000, initial_rebalance_delay_ms=100))
    both = (("range", b"r"), ("roundrobin", b"rr"))
    first = h.join_new("g", protocols=both)
    h.join_new("g", protocols=(("roundrobin", b"rr"), ("range", b"r")))
    h.join_new("g", protocols=(("roundrobin", b"rr"), ("sticky", b"s")))
    h.advance(200)  # members arrived during the first delay: it is extended once
    assert h.answers[first].protocol_name == "roundrobin"
    assert {m.metadata for m in h.answers[first].members} == {b"rr"}
    refused = h.answers[h.join("g", protocols=(("sticky", b"s"),), version=3)]
    assert refused.error is ErrorCode.inconsistent_group_protocol
    other_type = h.answers[h.join("g", protocols=both, protocol_type="connect", version=3)]
    assert other_type.error is ErrorCode.inconsistent_group_protocol


def test_sync_errors() -> None:
    h = Harness()
    generation, (a,) = h.stable_group("g", 1)
    assert h.answers[h.sync("x", 1, "m")].error is ErrorCode.unknown_member_id
    assert h.answers[h.sync("g", generation + 5, a)].error is ErrorCode.illegal_generation
    assert h.answers[h.sync("g", generation, "who")].error is ErrorCode.unknown_member_id
    h.join_new("g")
    assert h.answers[h.sync("g", generation, a)].error is ErrorCode.rebalance_in_progress


def test_group_max_size() -> None:
    h = Harness(GroupConfig(min_session_timeout_ms=1000, initial_rebalance_delay_ms=0, max_size=2))
    h.stable_group("g", 2)
    assert h.answers[h.join("g")].error is ErrorCode.group_max_size_reached


def test_transition_table_refuses_illegal_moves() -> None:
    group = ClassicGroup("g")
    with pytest.raises(IllegalStateTransition):
        group.transition_to(S.STABLE, 0)
    group.transition_to(S.PREPARING_REBALANCE, 0)
    with pytest.raises(IllegalStateTransition):
        group.transition_to(S.STABLE, 0)
    group.transition_to(S.DEAD, 0)


def test_describe_and_list_groups() -> None:
    h = Harness()
    _, (a, b) = h.stable_group("g", 2, protocols=(("range", subscription("t")),))
    h.commit("simple", {("t", 0): 5})
    described = h.shard.describe_group("g")
    assert (described.state, described.protocol_type, described.protocol_data) == (
        "Stable",
        "consumer",
        "range",
    )
    assert {m.member_id for m in described.members} == {a, b}
    assert {m.assignment for m in described.members} == {f"assigned-{m}".encode() for m in (a, b)}
    assert h.shard.describe_group("missing").state == "Dead"
    listed = {g.group_id: (g.state, g.protocol_type) for g in h.shard.list_groups()}
    assert listed == {"g": ("Stable", "consumer"), "simple": ("Empty", "")}
    assert [g.group_id for g in h.shard.list_groups(["empty"])] == ["simple"]
    assert [g.group_id for g in h.shard.list_groups(["STABLE", "Dead"])] == ["g"]
    assert h.shard.list_groups(types=["consumer"]) == []
    assert len(h.shard.list_groups(types=["Classic"])) == 2


def test_delete_groups() -> None:
    h = Harness()
    h.stable_group("busy", 1)
    h.commit("idle", {("t", 0): 1, ("t", 1): 2})
    assert h.apply(h.shard.delete_group("busy")) is ErrorCode.non_empty_group
    assert h.apply(h.shard.delete_group("missing")) is ErrorCode.group_id_not_found
    assert h.apply(h.shard.delete_group("idle")) is ErrorCode.none
    assert "idle" not in h.shard.groups and h.committed("idle") == {}
    assert "idle" not in h.restarted().shard.groups


def test_write_failure_of_the_assignment_sends_members_back_to_rejoin() -> None:
    h = Harness()
    a = h.answers[h.join_new("g")].member_id
    ticket = 999
    result = h.shard.sync_group(SyncGroupRequest("g", 1, a, ((a, b"x"),)), ticket, h.now)
    assert result.records  # the assignment to store
    completions = h.shard.write_failed(result.records, ErrorCode.not_coordinator, h.now)
    assert [(c.waiter, c.result.error) for c in completions] == [
        (ticket, ErrorCode.not_coordinator)
    ]
    assert state(h, "g") is S.PREPARING_REBALANCE


def test_config_defaults_are_kafkas() -> None:
    assert GroupConfig().initial_rebalance_delay_ms == 3000
    assert GroupConfig().offsets_retention_ms == 7 * 24 * 3600 * 1000
    assert CONFIG.min_session_timeout_ms == 1000
