"""A classic group as data: its state machine, members, generation, leader and protocol.

The rules (Kafka's ClassicGroupState):
- Empty: no members. A first JoinGroup starts a rebalance; offsets may still be committed by
  non-members (generation -1) and expire after `offsets.retention.minutes` from when it became Empty.
- PreparingRebalance: members (re)join; it ends when every known member has rejoined (never early for
  the initial rebalance, which waits `group.initial.rebalance.delay.ms`) or the rebalance timeout passes.
  Members that did not rejoin are dropped; the generation then moves on.
- CompletingRebalance: the members of the new generation wait for the leader's assignment (SyncGroup).
- Stable: the leader's assignment is stored; members heartbeat.
- Dead: the group is gone (deleted, or all its offsets expired while Empty).

Durable state (generation, protocol, leader, members and their assignments, committed offsets) changes
only when a record of `__consumer_offsets` is replayed (`replay.py`). What Kafka never stores — members
joining during a rebalance, pending member ids, waiters, deadlines — lives only here and is rebuilt by the
clients after a coordinator restart, exactly as with Kafka.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from riverlog.coordinator.group.consumer_protocol import CONSUMER_PROTOCOL_TYPE, subscribed_topics
from riverlog.coordinator.group.messages import JoinGroupMember, Protocol


class GroupState(enum.Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


# The transition table: a state, and the states it may be entered from.
VALID_PREVIOUS_STATES: dict[GroupState, frozenset[GroupState]] = {
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.PREPARING_REBALANCE: frozenset(
        {GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY}
    ),
    GroupState.COMPLETING_REBALANCE: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.STABLE: frozenset({GroupState.COMPLETING_REBALANCE}),
    GroupState.DEAD: frozenset(GroupState),
}
# States from which a join or leave starts a new rebalance (otherwise one is already under way).
CAN_REBALANCE = frozenset({GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY})


class IllegalStateTransition(Exception):
    """A transition the table does not allow: a coordinator bug, never a client's doing."""


@dataclass(slots=True)
class ClassicMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: tuple[Protocol, ...]
    assignment: bytes = b""
    awaiting_join: int | None = None  # waiter ticket of a parked JoinGroup
    awaiting_sync: int | None = None  # waiter ticket of a parked SyncGroup
    is_new: bool = False

    def metadata(self, protocol: str | None) -> bytes:
        for candidate in self.protocols:
            if candidate.name == protocol:
                return candidate.metadata
        return b""

    def matches(self, protocols: tuple[Protocol, ...]) -> bool:
        return self.protocols == protocols

    def vote(self, candidates: set[str]) -> str:
        """This member's most preferred protocol among `candidates`."""
        return next(p.name for p in self.protocols if p.name in candidates)

    @property
    def protocol_names(self) -> list[str]:
        """Each protocol name once, in preference order.

        A JoinGroup may list a name twice (the wire allows it); counting it twice would leave the
        group without a protocol every member supports. The first entry of a name is the one used."""
        return list(dict.fromkeys(p.name for p in self.protocols))

    @property
    def has_satisfied_heartbeat(self) -> bool:
        """Waiting in a rebalance counts as a heartbeat, except for a member that never joined."""
        if self.is_new:
            return False
        return self.awaiting_join is not None or self.awaiting_sync is not None


@dataclass(slots=True)
class PendingStaticJoin:
    """A static member's rejoin during Stable, parked until the renamed member is stored."""

    old_member_id: str
    member: ClassicMember
    waiter: int
    api_version: int


@dataclass(slots=True)
class ClassicGroup:
    group_id: str
    state: GroupState = GroupState.EMPTY
    state_timestamp_ms: int = -1
    previous_state: GroupState | None = None
    generation_id: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str | None = None
    members: dict[str, ClassicMember] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)  # instance id -> member id
    pending_members: set[str] = field(default_factory=set)  # MEMBER_ID_REQUIRED handed out
    pending_sync_members: set[str] = field(default_factory=set)
    supported_protocols: Counter[str] = field(default_factory=Counter)
    new_member_added: bool = False
    subscribed_topics: frozenset[str] | None = None
    pending_static_joins: dict[str, PendingStaticJoin] = field(default_factory=dict)

    # --- state ---

    def is_in(self, *states: GroupState) -> bool:
        return self.state in states

    def transition_to(self, target: GroupState, now_ms: int) -> None:
        if self.state not in VALID_PREVIOUS_STATES[target]:
            raise IllegalStateTransition(
                f"group {self.group_id!r} cannot go from {self.state.value} to {target.value}"
            )
        self.previous_state, self.state = self.state, target
        self.state_timestamp_ms = now_ms

    def can_rebalance(self) -> bool:
        return self.state in CAN_REBALANCE

    # --- members ---

    def has_member(self, member_id: str) -> bool:
        return member_id in self.members

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    def static_member_id(self, instance_id: str | None) -> str | None:
        return None if instance_id is None else self.static_members.get(instance_id)

    def add(self, member: ClassicMember) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        self.members[member.member_id] = member
        self.supported_protocols.update(member.protocol_names)
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.pending_members.discard(member.member_id)

    def remove(self, member_id: str) -> ClassicMember | None:
        member = self.members.pop(member_id, None)
        if member is None:
            return None
        self.supported_protocols.subtract(member.protocol_names)
        self.supported_protocols += Counter()  # drop non-positive counts
        if member.group_instance_id is not None:
            self.static_members.pop(member.group_instance_id, None)
        self.pending_sync_members.discard(member_id)
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        return member

    def update_protocols(self, member: ClassicMember, protocols: tuple[Protocol, ...]) -> None:
        self.supported_protocols.subtract(member.protocol_names)
        member.protocols = protocols
        self.supported_protocols.update(member.protocol_names)
        self.supported_protocols += Counter()

    def replace_static_member(self, instance_id: str, old_id: str, new: ClassicMember) -> None:
        """The member of `instance_id` continues under a new member id (same place, same role)."""
        old = self.members.pop(old_id, None)
        if old is not None:
            self.supported_protocols.subtract(old.protocol_names)
            new.assignment = old.assignment
        self.members[new.member_id] = new
        self.supported_protocols.update(new.protocol_names)
        self.supported_protocols += Counter()
        self.static_members[instance_id] = new.member_id
        if self.leader_id == old_id:
            self.leader_id = new.member_id
        if old_id in self.pending_sync_members:
            self.pending_sync_members.discard(old_id)
            self.pending_sync_members.add(new.member_id)

    def supports_protocols(self, protocol_type: str, names: list[str]) -> bool:
        if self.state is GroupState.EMPTY:
            return bool(protocol_type) and bool(names)
        count = len(self.members)
        return self.protocol_type == protocol_type and any(
            self.supported_protocols.get(name, 0) == count for name in names
        )

    def select_protocol(self) -> str:
        """The protocol most members prefer among those every member supports.

        Ties go to the protocol the earliest-joined member prefers most (Kafka leaves ties to a hash
        map's order; any choice among the tied candidates is valid)."""
        count = len(self.members)
        candidates = {name for name, n in self.supported_protocols.items() if n == count}
        votes = Counter(member.vote(candidates) for member in self.members.values())
        best = max(votes.values())
        first = next(iter(self.members.values()))
        return next(p for p in first.protocol_names if votes.get(p) == best)

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def awaiting_join_count(self) -> int:
        return sum(1 for m in self.members.values() if m.awaiting_join is not None)

    def has_all_members_joined(self) -> bool:
        return self.awaiting_join_count() == len(self.members) and not self.pending_members

    def not_yet_rejoined(self) -> list[ClassicMember]:
        return [m for m in self.members.values() if m.awaiting_join is None]

    def join_members(self) -> tuple[JoinGroupMember, ...]:
        """What the leader gets in its JoinGroup response: every member's chosen-protocol metadata."""
        return tuple(
            JoinGroupMember(m.member_id, m.group_instance_id, m.metadata(self.protocol_name))
            for m in self.members.values()
        )

    # --- generations ---

    def init_next_generation(self, now_ms: int) -> None:
        """End PreparingRebalance with members: a new generation, protocol and leader (in memory;
        only the leader's assignment is stored)."""
        self.generation_id += 1
        self.protocol_name = self.select_protocol()
        self.subscribed_topics = self.compute_subscribed_topics()
        self.transition_to(GroupState.COMPLETING_REBALANCE, now_ms)

    def compute_subscribed_topics(self) -> frozenset[str] | None:
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE or not self.members:
            return None
        return subscribed_topics(m.metadata(self.protocol_name) for m in self.members.values())

    def is_subscribed_to(self, topic: str) -> bool:
        return self.subscribed_topics is not None and topic in self.subscribed_topics

    def uses_consumer_protocol(self) -> bool:
        return self.protocol_type == CONSUMER_PROTOCOL_TYPE
