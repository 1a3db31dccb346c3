"""KIP-848 consumer groups with a fake clock: heartbeats, reconciliation, fencing, recovery."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from group_harness import Harness
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from riverlog.coordinator.group.consumer_group import (
    ConsumerGroup,
    ConsumerGroupState,
    MemberState,
)

SESSION_MS = 45_000


@dataclass
class Client:
    """A well-behaved consumer: owns what it was last given, reports it on every heartbeat."""

    h: Harness
    group: str
    topics: tuple[str, ...]
    member_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    epoch: int = 0
    owned: dict[uuid.UUID, set[int]] = field(default_factory=dict)
    instance: str | None = None
    assignor: str | None = None
    regex: str | None = None
    last_error: ErrorCode = ErrorCode.none

    def beat(self) -> ErrorCode:
        joining = self.epoch == 0
        result = self.h.consumer_heartbeat(
            self.group,
            self.member_id,
            self.epoch,
            topics=self.topics if joining else None,
            owned=None if joining else self.owned,
            instance=self.instance,
            assignor=self.assignor if joining else None,
            regex=self.regex if joining else None,
        )
        self.last_error = result.error
        if result.error is ErrorCode.none:
            self.epoch = result.member_epoch
            if result.assignment is not None:
                self.owned = {t: set(p) for t, p in result.assignment.items() if p}
        return result.error

    def leave(self, epoch: int = -1) -> ErrorCode:
        result = self.h.consumer_heartbeat(
            self.group, self.member_id, epoch, instance=self.instance
        )
        self.owned = {}
        return result.error

    @property
    def count(self) -> int:
        return sum(len(p) for p in self.owned.values())


def settle(*clients: Client, rounds: int = 6) -> None:
    for _ in range(rounds):
        for client in clients:
            client.beat()


def state(h: Harness, group: str) -> ConsumerGroupState:
    return h.shard.consumer.groups[group].state


def all_owned(*clients: Client) -> list[tuple[uuid.UUID, int]]:
    return sorted((t, p) for c in clients for t, parts in c.owned.items() for p in parts)


def test_first_member_gets_every_partition() -> None:
    h = Harness()
    topic = h.add_topic("t", 4)
    a = Client(h, "g", ("t",))
    assert a.beat() is ErrorCode.none
    assert (a.epoch, a.owned) == (1, {topic: {0, 1, 2, 3}})
    group = h.shard.consumer.groups["g"]
    assert (group.group_epoch, group.assignment_epoch, group.state.value) == (1, 1, "Stable")


def test_second_member_waits_for_revocation_then_both_are_stable() -> None:
    h = Harness()
    topic = h.add_topic("t", 4)
    a, b = Client(h, "g", ("t",)), Client(h, "g", ("t",))
    a.beat()
    b.beat()  # joins: epoch 2, but A still holds everything
    assert b.epoch == 2 and b.count == 0
    assert (
        h.shard.consumer.groups["g"].members[b.member_id].state is MemberState.UNRELEASED_PARTITIONS
    )
    assert state(h, "g") is ConsumerGroupState.RECONCILING
    a.beat()  # told to keep two: still epoch 1 until it confirms the revocation
    assert a.epoch == 1 and a.count == 2
    a.beat()  # confirms: epoch 2
    assert a.epoch == 2
    b.beat()  # the released partitions are B's now
    assert b.count == 2 and b.epoch == 2
    assert all_owned(a, b) == [(topic, p) for p in range(4)]
    assert state(h, "g") is ConsumerGroupState.STABLE


def test_a_member_never_gets_a_partition_another_still_owns() -> None:
    h = Harness()
    h.add_topic("t", 6)
    clients = [Client(h, "g", ("t",)) for _ in range(3)]
    for round_ in range(8):
        for client in clients:
            client.beat()
            owned = all_owned(*clients)
            assert len(owned) == len(set(owned)), f"double ownership in round {round_}"
    assert sorted(c.count for c in clients) == [2, 2, 2]


def test_leaving_member_frees_its_partitions_at_once() -> None:
    h = Harness()
    h.add_topic("t", 4)
    a, b = Client(h, "g", ("t",)), Client(h, "g", ("t",))
    settle(a, b)
    assert b.leave() is ErrorCode.none
    settle(a)
    assert a.count == 4
    assert h.shard.consumer.groups["g"].group_epoch == 3


def test_silent_member_is_fenced_after_the_session_timeout() -> None:
    h = Harness()
    h.add_topic("t", 4)
    a, b = Client(h, "g", ("t",)), Client(h, "g", ("t",))
    settle(a, b)
    for _ in range(10):
        h.advance(5000)
        a.beat()
    assert b.member_id not in h.shard.consumer.groups["g"].members
    assert a.count == 4
    assert b.beat() is ErrorCode.unknown_member_id


def test_member_that_will_not_revoke_is_fenced_after_its_rebalance_timeout() -> None:
    h = Harness()
    topic = h.add_topic("t", 4)
    a = Client(h, "g", ("t",))
    a.beat()
    b = Client(h, "g", ("t",))
    b.beat()
    stubborn = {topic: {0, 1, 2, 3}}
    result = h.consumer_heartbeat("g", a.member_id, 1, owned=stubborn)
    assert result.error is ErrorCode.none and result.member_epoch == 1
    h.advance(29_999)
    h.consumer_heartbeat("g", a.member_id, 1, owned=stubborn)
    assert a.member_id in h.shard.consumer.groups["g"].members
    h.advance(1)
    assert a.member_id not in h.shard.consumer.groups["g"].members
    settle(b)
    assert b.count == 4


def test_member_epoch_rules() -> None:
    h = Harness()
    topic = h.add_topic("t", 2)
    a = Client(h, "g", ("t",))
    a.beat()
    ahead = h.consumer_heartbeat("g", a.member_id, 5, owned=a.owned)
    assert ahead.error is ErrorCode.fenced_member_epoch
    b = Client(h, "g", ("t",))
    b.beat()
    settle(a, b)
    assert a.epoch == 2
    # The answer that moved A to epoch 2 was lost: the retry with epoch 1 is accepted.
    retry = h.consumer_heartbeat("g", a.member_id, 1, owned={topic: set(a.owned[topic])})
    assert retry.error is ErrorCode.none and retry.member_epoch == 2
    # The previous epoch is not accepted from a member claiming more than it was given.
    greedy = h.consumer_heartbeat("g", a.member_id, 1, owned={topic: {0, 1}})
    assert greedy.error is ErrorCode.fenced_member_epoch
    missing = h.consumer_heartbeat("nope", "m", 3, owned={})
    assert missing.error is ErrorCode.group_id_not_found
    unknown = h.consumer_heartbeat("g", "who", 2, owned={})
    assert unknown.error is ErrorCode.unknown_member_id


def test_invalid_requests() -> None:
    h = Harness()
    assert h.consumer_heartbeat("", "m", 0, topics=("t",)).error is ErrorCode.invalid_request
    assert h.consumer_heartbeat("g", "", 0, topics=("t",)).error is ErrorCode.invalid_request
    assert h.consumer_heartbeat("g", "m", 0).error is ErrorCode.invalid_request
    assert h.consumer_heartbeat("g", "m", -3).error is ErrorCode.invalid_request
    bad = h.consumer_heartbeat("g", "m", 0, topics=("t",), assignor="sticky")
    assert bad.error is ErrorCode.unsupported_assignor
    regex = h.consumer_heartbeat("g", "m", 0, topics=None, regex="(")
    assert regex.error is ErrorCode.invalid_regular_expression
    assert h.log == []


def test_range_assignor_on_request_and_regex_subscription() -> None:
    h = Harness()
    t1, t2 = h.add_topic("orders", 3), h.add_topic("orders-eu", 3)
    h.add_topic("payments", 3)
    a = Client(h, "g", (), assignor="range", regex="orders.*")
    b = Client(h, "g", (), assignor="range", regex="orders.*")
    settle(a, b)
    group = h.shard.consumer.groups["g"]
    first, second = sorted(group.members)
    assert group.target[first] == {t1: frozenset({0, 1}), t2: frozenset({0, 1})}
    assert group.target[second] == {t1: frozenset({2}), t2: frozenset({2})}
    assert h.shard.consumer.describe("g").assignor == "range"
    # A topic created later that matches the regex joins the subscription.
    t3 = h.add_topic("orders-us", 2)
    settle(a, b)
    assert t3 in group.target[first] or t3 in h.shard.consumer.groups["g"].target[first]


def test_new_partitions_are_assigned_after_the_topic_grows() -> None:
    h = Harness()
    topic = h.add_topic("t", 2)
    a = Client(h, "g", ("t",))
    settle(a)
    h.add_topic("t", 5)
    settle(a)
    assert a.owned == {topic: {0, 1, 2, 3, 4}}


def test_static_member_takes_over_its_assignment_without_a_rebalance() -> None:
    h = Harness()
    h.add_topic("t", 4)
    a = Client(h, "g", ("t",), instance="i-a")
    b = Client(h, "g", ("t",), instance="i-b")
    settle(a, b)
    epoch = h.shard.consumer.groups["g"].group_epoch
    kept = dict(b.owned)
    assert b.leave(epoch=-2) is ErrorCode.none
    again = Client(h, "g", ("t",), instance="i-b")
    assert again.beat() is ErrorCode.none
    assert again.owned == kept and again.epoch == b.epoch
    assert h.shard.consumer.groups["g"].group_epoch == epoch  # no rebalance
    assert b.member_id not in h.shard.consumer.groups["g"].members
    busy = Client(h, "g", ("t",), instance="i-a")
    assert busy.beat() is ErrorCode.unreleased_instance_id


def test_consumer_group_survives_a_restart() -> None:
    h = Harness()
    h.add_topic("t", 4)
    a, b = Client(h, "g", ("t",)), Client(h, "g", ("t",))
    settle(a, b)
    h.commit("g", {("t", 0): 9}, generation=a.epoch, member_id=a.member_id)
    before = h.shard.consumer.groups["g"]
    loaded = h.restarted()
    after = loaded.shard.consumer.groups["g"]
    assert (after.group_epoch, after.assignment_epoch) == (
        before.group_epoch,
        before.assignment_epoch,
    )
    assert {m: x.assigned for m, x in after.members.items()} == {
        m: x.assigned for m, x in before.members.items()
    }
    assert after.owners == before.owners
    assert loaded.committed("g") == {("t", 0): 9}
    # The members carry on against the loaded coordinator and keep their partitions.
    a.h = b.h = loaded
    kept = (dict(a.owned), dict(b.owned))
    settle(a, b)
    assert (a.owned, b.owned) == kept and a.last_error is ErrorCode.none
    # Nobody heartbeats: both are fenced a session timeout after the load.
    loaded.advance(SESSION_MS)
    assert loaded.shard.consumer.groups["g"].members == {}


def test_offsets_of_consumer_groups_check_member_epochs() -> None:
    h = Harness()
    h.add_topic("t", 1)
    a = Client(h, "g", ("t",))
    a.beat()
    ok = h.commit("g", {("t", 0): 1}, generation=a.epoch, member_id=a.member_id)
    assert ok == {("t", 0): ErrorCode.none}
    stale = h.commit("g", {("t", 0): 2}, generation=a.epoch + 1, member_id=a.member_id)
    assert stale == {("t", 0): ErrorCode.stale_member_epoch}
    outsider = h.commit("g", {("t", 0): 2})
    assert outsider == {("t", 0): ErrorCode.unknown_member_id}
    old_api = h.commit("g", {("t", 0): 2}, generation=a.epoch, member_id=a.member_id, version=8)
    assert old_api == {("t", 0): ErrorCode.unsupported_version}
    assert h.shard.fetch_offsets("g", None, a.member_id, a.epoch + 3).error is (
        ErrorCode.stale_member_epoch
    )
    assert h.shard.fetch_offsets("g", None).topics[0][1][0].offset == 1
    a.leave()
    assert h.commit("g", {("t", 0): 3}) == {("t", 0): ErrorCode.none}  # admin, group empty


def test_only_empty_groups_change_kind_when_member_metadata_is_unreadable() -> None:
    # The harness's members send b"m", not a consumer-protocol subscription: the online migration
    # (test_group_migration.py) cannot read them, so only empty groups change kind here.
    h = Harness()
    h.add_topic("t", 2)
    h.stable_group("classic", 1)
    refused = h.consumer_heartbeat("classic", "m", 0, topics=("t",))
    assert refused.error is ErrorCode.group_id_not_found
    h.commit("was-simple", {("t", 0): 4})
    converted = Client(h, "was-simple", ("t",))
    assert converted.beat() is ErrorCode.none
    assert "was-simple" not in h.shard.groups and "was-simple" in h.shard.consumer.groups
    assert h.committed("was-simple") == {("t", 0): 4}
    join = h.answers[h.join("was-simple", version=3)]
    assert join.error is ErrorCode.inconsistent_group_protocol
    converted.leave()
    assert h.answers[h.join("was-simple", version=3)].error is ErrorCode.none
    assert "was-simple" not in h.shard.consumer.groups


def test_list_describe_and_delete_consumer_groups() -> None:
    h = Harness()
    topic = h.add_topic("t", 2)
    a = Client(h, "g", ("t",))
    settle(a)
    listed = {g.group_id: (g.state, g.group_type) for g in h.shard.list_groups()}
    assert listed == {"g": ("Stable", "consumer")}
    assert h.shard.list_groups(types=["classic"]) == []
    described = h.shard.describe_consumer_group("g")
    assert (described.state, described.group_epoch, described.assignor) == ("Stable", 1, "uniform")
    assert described.members[0].assignment == {topic: frozenset({0, 1})}
    h.stable_group("old", 1)
    assert h.shard.describe_consumer_group("old").error is ErrorCode.group_id_not_found
    assert h.apply(h.shard.delete_group("g")) is ErrorCode.non_empty_group
    a.leave()
    assert h.apply(h.shard.delete_group("g")) is ErrorCode.none
    assert "g" not in h.shard.consumer.groups and "g" not in h.restarted().shard.consumer.groups


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["beat", "beat", "beat", "join", "leave", "grow", "tick"]),
            st.integers(0, 4),
        ),
        max_size=60,
    )
)
def test_random_histories_never_give_a_partition_to_two_members(
    ops: list[tuple[str, int]],
) -> None:
    h = Harness()
    h.add_topic("t", 3)
    h.add_topic("u", 2)
    clients: list[Client] = []
    for kind, index in ops:
        live = [
            c for c in clients if c.member_id in h.shard.consumer.groups.get("g", _NONE).members
        ]
        if kind == "join" or not live:
            clients.append(Client(h, "g", ("t", "u") if index % 2 else ("t",)))
            clients[-1].beat()
        elif kind == "beat":
            live[index % len(live)].beat()
        elif kind == "leave":
            live[index % len(live)].leave()
        elif kind == "grow":
            name = "t" if index % 2 else "u"
            h.add_topic(name, h.topics[name][1] + 1)
        else:
            h.advance(1000)
        # Exclusive ownership among the members the coordinator still knows.
        members = h.shard.consumer.groups.get("g", _NONE).members
        owned = all_owned(*(c for c in clients if c.member_id in members))
        assert len(owned) == len(set(owned))
    # Recovery is replay: a restarted coordinator has the same group.
    if "g" in h.shard.consumer.groups:
        live_group, loaded = h.shard.consumer.groups["g"], h.restarted().shard.consumer.groups["g"]
        assert (loaded.group_epoch, loaded.assignment_epoch, loaded.target, loaded.owners) == (
            live_group.group_epoch,
            live_group.assignment_epoch,
            live_group.target,
            live_group.owners,
        )
        assert {m: x.current() for m, x in loaded.members.items()} == {
            m: x.current() for m, x in live_group.members.items()
        }
    # Once everyone keeps heartbeating, the group converges: all partitions owned, balanced.
    live = [c for c in clients if c.member_id in h.shard.consumer.groups.get("g", _NONE).members]
    settle(*live, rounds=8)
    if live:
        assert state(h, "g") is ConsumerGroupState.STABLE
        subscribed = {t for c in live for t in c.topics}
        total = sum(h.topics[t][1] for t in subscribed)
        assert len(all_owned(*live)) == total
        single = [c for c in live if c.topics == ("t",)]
        if len(single) == len(live):
            counts = [c.count for c in live]
            assert max(counts) - min(counts) <= 1


_NONE = ConsumerGroup("none")
