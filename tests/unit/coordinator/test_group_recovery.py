"""Recovery is replay: a coordinator that loads the log agrees with the one that wrote it."""

from __future__ import annotations

from group_harness import Harness, subscription
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from riverlog.coordinator.group import GroupState
from riverlog.coordinator.group.messages import JoinGroupResult

S = GroupState
SLOTS = 3


def test_stable_group_and_offsets_after_restart() -> None:
    h = Harness()
    generation, (a, b) = h.stable_group("g", 2, protocols=(("range", subscription("t")),))
    h.commit("g", {("t", 0): 10, ("t", 1): 20}, generation, a)
    h.commit("manual", {("t", 0): 3})
    loaded = h.restarted()
    group = loaded.shard.groups["g"]
    assert (group.state, group.generation_id, set(group.members)) == (S.STABLE, generation, {a, b})
    assert group.leader_id == h.shard.groups["g"].leader_id
    assert {m: x.assignment for m, x in group.members.items()} == {
        m: f"assigned-{m}".encode() for m in (a, b)
    }
    assert group.subscribed_topics == frozenset({"t"})
    assert loaded.committed("g") == h.committed("g")
    assert loaded.committed("manual") == {("t", 0): 3}
    # Loaded members heartbeat on as before; silent ones expire a session timeout after the load.
    assert loaded.heartbeat("g", generation, a) is ErrorCode.none
    loaded.advance(9000)
    assert loaded.heartbeat("g", generation, a) is ErrorCode.none
    loaded.advance(1000)
    assert b not in loaded.shard.groups["g"].members


def test_group_that_became_empty_is_loaded_empty() -> None:
    h = Harness()
    generation, (a,) = h.stable_group("g", 1)
    h.leave("g", (a, None))
    loaded = h.restarted().shard.groups["g"]
    assert (loaded.state, loaded.generation_id, loaded.members) == (S.EMPTY, generation + 1, {})


class Driver:
    """Random member behaviour against one group, remembering each slot's member id."""

    def __init__(self) -> None:
        self.h = Harness()
        self.member: dict[int, str] = {}
        self.generation: dict[int, int] = {}
        self.pending: dict[int, int] = {}  # join ticket -> slot

    def step(self, op: tuple[str, int, int]) -> None:
        kind, slot, value = op
        h, member = self.h, self.member.get(slot, "")
        if kind == "join":
            ticket = h.join("g", member, protocols=(("range", subscription("t")),), version=3)
            self._note(slot, ticket)
        elif kind == "sync":
            leader = h.shard.groups.get("g")
            plan = {m: b"x" for m in self.member.values()}
            is_leader = leader is not None and leader.leader_id == member
            h.sync("g", self.generation.get(slot, -1), member, plan if is_leader else None)
        elif kind == "heartbeat":
            h.heartbeat("g", self.generation.get(slot, -1), member)
        elif kind == "leave":
            h.leave("g", (member, None))
        elif kind == "commit":
            h.commit("g", {("t", slot): value}, self.generation.get(slot, -1), member)
        elif kind == "manual":
            h.commit("m", {("t", slot): value})
        elif kind == "advance":
            h.advance(value)
        elif kind == "expire":
            h.apply(h.shard.expire_offsets(h.now))
        elif kind == "delete":
            h.apply(h.shard.delete_group("m" if slot else "g"))
        self.refresh()

    def _note(self, slot: int, ticket: int) -> None:
        self.pending[ticket] = slot

    def refresh(self) -> None:
        for ticket, slot in list(self.pending.items()):
            answer = self.h.answers.get(ticket)
            if isinstance(answer, JoinGroupResult):
                del self.pending[ticket]
                if answer.error is ErrorCode.none:
                    self.member[slot] = answer.member_id
                    self.generation[slot] = answer.generation_id
                elif answer.error is ErrorCode.unknown_member_id:
                    self.member.pop(slot, None)


def check_invariants(h: Harness) -> None:
    for group in h.shard.groups.values():
        if group.is_in(S.EMPTY):
            assert not group.members and group.leader_id is None
        if group.members:
            assert group.leader_id in group.members
        assert set(group.static_members.values()) <= set(group.members)


KINDS = ("join", "join", "sync", "heartbeat", "leave", "commit", "manual", "advance", "expire")
operations = st.tuples(
    st.sampled_from([*KINDS, "delete"]),
    st.integers(0, SLOTS - 1),
    st.sampled_from([0, 1, 5, 999, 4000, 12_000, 30_000, 90_000_000]),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(operations, max_size=40))
def test_random_histories_recover_to_the_same_durable_state(
    ops: list[tuple[str, int, int]],
) -> None:
    driver = Driver()
    for op in ops:
        driver.step(op)
        check_invariants(driver.h)
    live, loaded = driver.h.shard, driver.h.restarted().shard
    # Offsets are entirely durable.
    for group_id in set(live.groups) | set(loaded.groups):
        assert driver.h.restarted().committed(group_id) == driver.h.committed(group_id)
    # Stored generations come back as they were.
    for group_id, group in live.groups.items():
        if group.is_in(S.STABLE):
            back = loaded.groups[group_id]
            assert (back.state, back.generation_id, back.leader_id) == (
                S.STABLE,
                group.generation_id,
                group.leader_id,
            )
            assert {m: x.assignment for m, x in back.members.items()} == {
                m: x.assignment for m, x in group.members.items()
            }
        elif group.is_in(S.EMPTY) and group.generation_id > 0:
            back = loaded.groups[group_id]
            assert (back.state, back.generation_id) == (S.EMPTY, group.generation_id)
    for group_id in loaded.groups:
        assert group_id in live.groups
    check_invariants(driver.h.restarted())
