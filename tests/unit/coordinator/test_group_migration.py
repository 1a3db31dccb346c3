"""KIP-848 online migration with a fake clock: a classic group upgraded by a consumer-protocol member,
its classic members served inside the consumer group, and the downgrade when that member leaves."""

from __future__ import annotations

from dataclasses import dataclass, field

from group_harness import CONFIG, Harness, subscription
from kio.schema.errors import ErrorCode
from test_consumer_groups import Client

from riverlog.coordinator.group import GroupConfig, GroupState
from riverlog.coordinator.group.consumer_group import ConsumerGroupState
from riverlog.coordinator.group.consumer_protocol import encode_assignment, parse_assignment
from riverlog.coordinator.group.messages import JoinGroupResult, SyncGroupRequest, SyncGroupResult


@dataclass
class ClassicClient:
    """An eager classic consumer: revokes everything before it rejoins, syncs as told."""

    h: Harness
    group: str
    topics: tuple[str, ...] = ("t",)
    member_id: str = ""
    generation: int = -1
    owned: dict[str, set[int]] = field(default_factory=dict)
    last: JoinGroupResult | None = None

    @property
    def protocols(self) -> tuple[tuple[str, bytes], ...]:
        return (("range", subscription(*self.topics)),)

    def join(self) -> int:
        """Send a JoinGroup; returns its ticket (the answer may be parked)."""
        self.owned = {}
        ticket = self.h.join(self.group, self.member_id, self.protocols, session=10_000)
        answer = self.h.answers.get(ticket)
        if answer is not None and answer.error is ErrorCode.member_id_required:
            self.member_id = answer.member_id
            ticket = self.h.join(self.group, self.member_id, self.protocols, session=10_000)
        return ticket

    def joined(self, ticket: int) -> JoinGroupResult:
        answer: JoinGroupResult = self.h.answers[ticket]
        assert answer.error is ErrorCode.none, answer
        self.member_id, self.generation, self.last = answer.member_id, answer.generation_id, answer
        return answer

    def sync(self, assignments: dict[str, bytes] | None = None) -> ErrorCode:
        assert self.last is not None
        ticket = next(self.h._tickets)
        req = SyncGroupRequest(
            self.group,
            self.generation,
            self.member_id,
            tuple((assignments or {}).items()),
            protocol_type="consumer",
            protocol_name=self.last.protocol_name,
        )
        self.h.apply(self.h.shard.sync_group(req, ticket, self.h.now), ticket)
        answer: SyncGroupResult = self.h.answers[ticket]
        if answer.error is ErrorCode.none:
            self.owned = {t: set(p) for t, p in parse_assignment(answer.assignment).items()}
        return answer.error

    def heartbeat(self) -> ErrorCode:
        return self.h.heartbeat(self.group, self.generation, self.member_id)

    def step(self) -> ErrorCode:
        """One poll: heartbeat; rejoin and sync when asked to (answered at once in a consumer group)."""
        error = self.heartbeat()
        if error is ErrorCode.rebalance_in_progress:
            self.joined(self.join())
            error = self.sync()
        return error


def classic_group(h: Harness, group: str = "g") -> tuple[ClassicClient, ClassicClient]:
    """Two classic members, Stable, sharing topic t's 4 partitions (a at 0-1, b at 2-3)."""
    a, b = ClassicClient(h, group), ClassicClient(h, group)
    a.joined(a.join())
    pending = b.join()
    first = a.join()
    a.joined(first), b.joined(pending)
    assert a.last is not None and a.last.leader == a.member_id
    plan = {a.member_id: {"t": [0, 1]}, b.member_id: {"t": [2, 3]}}
    assert a.sync({m: encode_assignment(p) for m, p in plan.items()}) is ErrorCode.none
    assert b.sync() is ErrorCode.none
    assert h.shard.groups[group].state is GroupState.STABLE
    return a, b


def owners(*clients: ClassicClient | Client) -> list[int]:
    parts: list[int] = []
    for client in clients:
        if isinstance(client, ClassicClient):
            parts += [p for ps in client.owned.values() for p in ps]
        else:
            parts += [p for ps in client.owned.values() for p in ps]
    return sorted(parts)


def settle(classics: list[ClassicClient], consumers: list[Client], rounds: int = 8) -> None:
    for _ in range(rounds):
        for c in classics:
            c.step()
        for k in consumers:
            k.beat()


def test_a_consumer_member_upgrades_a_classic_group_and_all_share_it() -> None:
    h = Harness()
    h.add_topic("t", 4)
    a, b = classic_group(h)
    generation = a.generation
    c = Client(h, "g", ("t",))
    assert c.beat() is ErrorCode.none
    assert "g" not in h.shard.groups and "g" in h.shard.consumer.groups
    group = h.shard.consumer.groups["g"]
    assert group.group_epoch == generation + 1
    assert {m: x.member_epoch for m, x in group.members.items() if m != c.member_id} == {
        a.member_id: generation,
        b.member_id: generation,
    }
    assert all(group.members[m].metadata.classic is not None for m in (a.member_id, b.member_id))
    described = {
        m.member_id: m.uses_classic_protocol for m in h.shard.describe_consumer_group("g").members
    }
    assert described == {a.member_id: True, b.member_id: True, c.member_id: False}
    # The classic members are told to rejoin; they do, into the consumer group.
    assert a.heartbeat() is ErrorCode.rebalance_in_progress
    settle([a, b], [c])
    assert owners(a, b, c) == [0, 1, 2, 3]
    assert all(owners(x) for x in (a, b, c))
    assert h.shard.consumer.groups["g"].state is ConsumerGroupState.STABLE
    assert a.heartbeat() is ErrorCode.none and a.generation == group.group_epoch


def test_classic_members_commit_with_their_generation() -> None:
    h = Harness()
    h.add_topic("t", 4)
    a, b = classic_group(h)
    c = Client(h, "g", ("t",))
    c.beat()
    settle([a, b], [c])
    ok = h.commit("g", {("t", 0): 5}, a.generation, a.member_id, version=7)
    assert ok == {("t", 0): ErrorCode.none}
    stale = h.commit("g", {("t", 0): 6}, a.generation - 1, a.member_id, version=7)
    assert stale == {("t", 0): ErrorCode.illegal_generation}


def test_the_last_consumer_member_leaving_downgrades_the_group() -> None:
    h = Harness()
    h.add_topic("t", 4)
    a, b = classic_group(h)
    c = Client(h, "g", ("t",))
    c.beat()
    settle([a, b], [c])
    epoch = h.shard.consumer.groups["g"].group_epoch
    assert c.leave() is ErrorCode.none
    assert "g" not in h.shard.consumer.groups
    classic = h.shard.groups["g"]
    assert classic.state is GroupState.PREPARING_REBALANCE
    assert classic.generation_id == epoch and classic.protocol_name == "range"
    assert sorted(classic.members) == sorted([a.member_id, b.member_id])
    # The classic members rejoin a classic group again; the leader assigns.
    assert a.heartbeat() is ErrorCode.rebalance_in_progress
    ta, tb = a.join(), b.join()
    ja, jb = a.joined(ta), b.joined(tb)
    leader = a if ja.leader == a.member_id else b
    assert ja.generation_id == jb.generation_id == epoch + 1
    plan = {a.member_id: {"t": [0, 1]}, b.member_id: {"t": [2, 3]}}
    assert leader.sync({m: encode_assignment(p) for m, p in plan.items()}) is ErrorCode.none
    follower = b if leader is a else a
    assert follower.sync() is ErrorCode.none
    assert h.shard.groups["g"].state is GroupState.STABLE
    assert owners(a, b) == [0, 1, 2, 3]


def test_a_classic_member_joins_a_consumer_group() -> None:
    h = Harness()
    h.add_topic("t", 2)
    c = Client(h, "g", ("t",))
    c.beat()
    k = ClassicClient(h, "g")
    k.joined(k.join())
    assert k.sync() is ErrorCode.none
    settle([k], [c])
    assert owners(k, c) == [0, 1] and owners(k) and owners(c)
    # It leaves with LeaveGroup; the consumer member gets everything.
    left = h.leave("g", (k.member_id, None))
    assert [m.error for m in left.members] == [ErrorCode.none]
    settle([], [c])
    assert owners(c) == [0, 1]
    assert "g" in h.shard.consumer.groups  # a classic member leaving never downgrades


def test_migration_survives_a_coordinator_restart() -> None:
    h = Harness()
    h.add_topic("t", 4)
    a, b = classic_group(h)
    c = Client(h, "g", ("t",))
    c.beat()
    settle([a, b], [c])
    fresh = h.restarted()
    group = fresh.shard.consumer.groups["g"]
    classic = group.members[a.member_id].metadata.classic
    assert classic is not None and classic.session_timeout_ms == 10_000
    assert [name for name, _ in classic.protocols] == ["range"]
    a.h = fresh
    assert a.heartbeat() is ErrorCode.none


def test_policy_decides_which_way_groups_may_migrate() -> None:
    disabled = GroupConfig(**{**_fields(CONFIG), "consumer_migration_policy": "disabled"})
    h = Harness(disabled)
    h.add_topic("t", 4)
    classic_group(h)
    refused = h.consumer_heartbeat("g", "m", 0, topics=("t",))
    assert refused.error is ErrorCode.group_id_not_found
    assert "g" in h.shard.groups

    upgrade_only = GroupConfig(**{**_fields(CONFIG), "consumer_migration_policy": "upgrade"})
    h = Harness(upgrade_only)
    h.add_topic("t", 4)
    a, b = classic_group(h)
    c = Client(h, "g", ("t",))
    assert c.beat() is ErrorCode.none
    settle([a, b], [c])
    c.leave()
    assert "g" in h.shard.consumer.groups and "g" not in h.shard.groups


def test_a_classic_member_missing_its_rejoin_is_fenced() -> None:
    h = Harness()
    h.add_topic("t", 4)
    a, b = classic_group(h)
    c = Client(h, "g", ("t",))
    c.beat()
    assert a.heartbeat() is ErrorCode.rebalance_in_progress  # a must rejoin within 30 s
    for _ in range(4):
        h.advance(9_000)
        b.step()
        c.beat()
    assert a.member_id not in h.shard.consumer.groups["g"].members


def _fields(config: GroupConfig) -> dict[str, object]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


def test_an_upgrade_answers_parked_joins_with_rebalance_in_progress() -> None:
    h = Harness()
    h.add_topic("t", 4)
    a, b = classic_group(h)
    parked = a.join()  # a rejoins: the group rebalances and a waits for b
    assert parked not in h.answers
    c = Client(h, "g", ("t",))
    assert c.beat() is ErrorCode.none
    assert h.answers[parked].error is ErrorCode.rebalance_in_progress
    settle([a, b], [c])
    assert owners(a, b, c) == [0, 1, 2, 3]


def test_a_silent_consumer_member_is_fenced_and_the_group_downgraded() -> None:
    h = Harness()
    h.add_topic("t", 4)
    a, b = classic_group(h)
    c = Client(h, "g", ("t",))
    c.beat()
    settle([a, b], [c])
    for _ in range(6):  # the classic members keep heartbeating; c goes silent
        h.advance(8_000)
        a.heartbeat(), b.heartbeat()
    assert "g" not in h.shard.consumer.groups
    assert h.shard.groups["g"].state is GroupState.PREPARING_REBALANCE


def test_a_join_group_v0_member_keeps_its_session_as_rebalance_timeout() -> None:
    h = Harness()
    h.add_topic("t", 2)
    c = Client(h, "g", ("t",))
    c.beat()
    ticket = h.join("g", "", (("range", subscription("t")),), session=10_000, version=0,
                    rebalance=-1)  # fmt: skip
    joined: JoinGroupResult = h.answers[ticket]
    assert joined.error is ErrorCode.none
    h.advance(1_000)
    member = h.shard.consumer.groups["g"].members[joined.member_id]
    assert member.metadata.rebalance_timeout_ms == 10_000
