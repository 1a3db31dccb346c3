"""Static membership (group.instance.id, KIP-345): restarts without rebalances, fencing."""

from __future__ import annotations

from group_harness import Harness
from kio.schema.errors import ErrorCode

from riverlog.coordinator.group import GroupState

S = GroupState


def static_group(h: Harness, *instances: str) -> tuple[int, dict[str, str]]:
    """Static members (no MEMBER_ID_REQUIRED round trip) joined and synced."""
    tickets = {i: h.join("g", instance=i, client=i) for i in instances[:1]}
    first = h.answers[tickets[instances[0]]]
    ids = {instances[0]: first.member_id}
    for instance in instances[1:]:
        tickets[instance] = h.join("g", instance=instance, client=instance)
        for known, member_id in ids.items():
            tickets[known] = h.join("g", member_id, instance=known, client=known)
        ids[instance] = h.answers[tickets[instance]].member_id
    generation = h.answers[tickets[instances[0]]].generation_id
    leader = h.shard.groups["g"].leader_id
    assignments = {m: f"for-{i}".encode() for i, m in ids.items()}
    for member_id in ids.values():
        h.sync("g", generation, member_id, assignments if member_id == leader else None)
    assert h.shard.groups["g"].state is S.STABLE
    return generation, ids


def test_static_member_restart_rejoins_without_a_rebalance() -> None:
    h = Harness()
    generation, ids = static_group(h, "i1", "i2")
    leader = h.shard.groups["g"].leader_id
    restarting = "i2" if ids["i1"] == leader else "i1"
    old_id = ids[restarting]
    # The restarted process knows only its instance id.
    rejoin = h.answers[h.join("g", instance=restarting, client=restarting)]
    assert rejoin.error is ErrorCode.none
    assert rejoin.generation_id == generation  # same generation: no rebalance
    assert rejoin.member_id != old_id and rejoin.members == () and not rejoin.skip_assignment
    assert h.shard.groups["g"].state is S.STABLE
    synced = h.answers[h.sync("g", generation, rejoin.member_id, instance=restarting)]
    assert synced.assignment == f"for-{restarting}".encode()  # the old assignment, kept
    # The old incarnation is fenced.
    assert h.heartbeat("g", generation, old_id, restarting) is ErrorCode.fenced_instance_id
    assert h.heartbeat("g", generation, rejoin.member_id, restarting) is ErrorCode.none


def test_static_leader_rejoin_v9_skips_assignment_but_gets_members() -> None:
    h = Harness()
    generation, ids = static_group(h, "i1", "i2")
    leader_instance = next(i for i, m in ids.items() if m == h.shard.groups["g"].leader_id)
    rejoin = h.answers[h.join("g", instance=leader_instance, client=leader_instance)]
    assert rejoin.generation_id == generation
    assert rejoin.leader == rejoin.member_id and rejoin.skip_assignment
    assert len(rejoin.members) == 2
    old = h.answers[h.join("g", instance=leader_instance, client=leader_instance, version=8)]
    assert not old.skip_assignment and old.members == ()


def test_static_rename_survives_a_coordinator_restart() -> None:
    h = Harness()
    generation, ids = static_group(h, "i1", "i2")
    renamed = h.answers[h.join("g", instance="i1", client="i1")].member_id
    loaded = h.restarted()
    group = loaded.shard.groups["g"]
    assert group.state is S.STABLE and group.generation_id == generation
    assert group.static_members == {"i1": renamed, "i2": ids["i2"]}
    assert group.members[renamed].assignment == b"for-i1"


def test_static_member_rejoin_rebalances_only_when_the_chosen_protocol_would_change() -> None:
    h = Harness()
    both = (("range", b"r"), ("roundrobin", b"rr"))
    h.join("g", instance="i1", client="i1", protocols=both)
    member = h.answers[1].member_id
    h.sync("g", 1, member, {member: b"a"})
    # New metadata for the same protocol: Kafka stores the member and does not rebalance.
    h.join("g", instance="i1", client="i1", protocols=(("range", b"new"), ("roundrobin", b"rr")))
    assert h.shard.groups["g"].state is S.STABLE
    # Preferring another protocol would change the group's choice: rebalance.
    again = h.join(
        "g", instance="i1", client="i1", protocols=(("roundrobin", b"rr"), ("range", b"r"))
    )
    assert h.answers[again].generation_id == 2  # the only member rejoined: a new generation at once
    assert h.answers[again].protocol_name == "roundrobin"


def test_static_member_leaves_by_instance_id_and_fencing() -> None:
    h = Harness()
    _, ids = static_group(h, "i1", "i2")
    fenced = h.leave("g", ("not-the-id", "i1"))
    assert fenced.members[0].error is ErrorCode.fenced_instance_id
    unknown = h.leave("g", ("", "i9"))
    assert unknown.members[0].error is ErrorCode.unknown_member_id
    left = h.leave("g", ("", "i1"), (ids["i2"], "i2"))
    assert [m.error for m in left.members] == [ErrorCode.none, ErrorCode.none]
    assert h.shard.groups["g"].state is S.EMPTY


def test_static_member_that_stops_heartbeating_is_removed_after_session_timeout() -> None:
    h = Harness()
    generation, ids = static_group(h, "i1", "i2")
    for _ in range(6):
        h.advance(2000)
        h.heartbeat("g", generation, ids["i1"], "i1")
    assert ids["i2"] not in h.shard.groups["g"].members
