"""A KIP-848 consumer group as data: epochs, members, target assignment, and how records change them.

Model (Kafka's ConsumerGroup):
- The *group epoch* moves whenever what the assignment depends on changes (members, subscriptions,
  partition counts). The *assignment epoch* is the group epoch the target assignment was computed for.
- Each member has a *member epoch*, the assignment it may use now (`assigned`) and partitions it must
  give up (`pending_revocation`). It converges on its target step by step (`reconcile`): first revoke,
  then move to the new epoch, taking partitions as soon as their previous owners released them.
- A partition is owned by at most one member at a time: `owners` maps every assigned or pending-revocation
  partition to its member — a new owner waits (UNRELEASED_PARTITIONS) until it is free.
Group state (derived, as Kafka derives it): Empty without members; Assigning while the group epoch is
ahead of the assignment epoch; Reconciling while a member is not stable at the assignment epoch; Stable.

Everything here changes by replaying records (`replay_consumer_record`), live or while loading; the one
exception is `subscription_metadata`, the partition counts the last epoch was computed for, a cache
rebuilt (and compared) on the first heartbeat after a load.
"""

from __future__ import annotations

import enum
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from riverlog.coordinator.group.consumer_records import (
    Assignment,
    ConsumerGroupMetadataRecord,
    ConsumerMemberMetadata,
    ConsumerMemberMetadataRecord,
    ConsumerRecord,
    CurrentAssignment,
    CurrentAssignmentRecord,
    TargetAssignmentMemberRecord,
    TargetAssignmentMetadataRecord,
)

TopicPartition = tuple[uuid.UUID, int]
LEAVE_EPOCH = -1
STATIC_LEAVE_EPOCH = -2
EMPTY_ASSIGNMENT: Assignment = {}


class ConsumerGroupState(enum.Enum):
    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


class MemberState(enum.IntEnum):
    STABLE = 0
    UNREVOKED_PARTITIONS = 1
    UNRELEASED_PARTITIONS = 2
    UNKNOWN = 127


@dataclass(slots=True)
class ConsumerMember:
    member_id: str
    metadata: ConsumerMemberMetadata
    member_epoch: int = 0
    previous_member_epoch: int = -1
    state: MemberState = MemberState.STABLE
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)

    def current(self) -> CurrentAssignment:
        return CurrentAssignment(
            self.member_epoch,
            self.previous_member_epoch,
            int(self.state),
            self.assigned,
            self.pending_revocation,
        )


@dataclass(slots=True)
class ConsumerGroup:
    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ConsumerMember] = field(default_factory=dict)
    target: dict[str, Assignment] = field(default_factory=dict)
    owners: dict[TopicPartition, str] = field(default_factory=dict)
    subscription_metadata: dict[str, tuple[uuid.UUID, int]] | None = None

    @property
    def state(self) -> ConsumerGroupState:
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.group_epoch > self.assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        for member in self.members.values():
            if member.state is not MemberState.STABLE:
                return ConsumerGroupState.RECONCILING
            if member.member_epoch != self.assignment_epoch:
                return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def static_member_id(self, instance_id: str | None) -> str | None:
        if instance_id is None:
            return None
        for member in self.members.values():
            if member.metadata.instance_id == instance_id:
                return member.member_id
        return None

    def subscribed_topic_names(self) -> set[str]:
        return {t for m in self.members.values() for t in m.metadata.subscribed_topic_names}

    def is_subscribed_to(self, topic: str) -> bool:
        return topic in self.subscribed_topic_names()

    def preferred_assignor(self, default: str) -> str:
        """The server assignor most members ask for, else the broker's default (Kafka's rule)."""
        asked = Counter(m.metadata.server_assignor for m in self.members.values())
        asked.pop(None, None)
        if not asked:
            return default
        return str(max(sorted(asked, key=str), key=lambda name: asked[name]))

    def is_free_for(self, tp: TopicPartition, member_id: str) -> bool:
        """May `member_id` take `tp` now (nobody else holds it)?"""
        owner = self.owners.get(tp)
        return owner is None or owner == member_id


def partitions_of(assignment: Assignment) -> set[TopicPartition]:
    return {(t, p) for t, parts in assignment.items() for p in parts}


def assignment_of(partitions: set[TopicPartition]) -> dict[uuid.UUID, frozenset[int]]:
    grouped: dict[uuid.UUID, set[int]] = {}
    for topic_id, partition in partitions:
        grouped.setdefault(topic_id, set()).add(partition)
    return {t: frozenset(p) for t, p in grouped.items()}


# --- reconciliation (Kafka's CurrentAssignmentBuilder) --------------------------------------------


def reconcile(
    group: ConsumerGroup,
    member: ConsumerMember,
    owned: Assignment | None,
) -> ConsumerMember:
    """The member's next step towards its target; `owned` is what it reported (None: not sent)."""
    target_epoch = group.assignment_epoch
    target = group.target.get(member.member_id, EMPTY_ASSIGNMENT)
    if member.state is MemberState.UNREVOKED_PARTITIONS and _still_owns(
        owned, member.pending_revocation
    ):
        return member
    if member.state is MemberState.STABLE and member.member_epoch == target_epoch:
        return member
    current, wanted = partitions_of(member.assigned), partitions_of(target)
    keep, revoke = current & wanted, current - wanted
    if revoke and _still_owns(owned, assignment_of(revoke)):
        # 1. Give up what moves elsewhere first; the epoch stays until the client confirms.
        return replace(
            member,
            state=MemberState.UNREVOKED_PARTITIONS,
            assigned=assignment_of(keep),
            pending_revocation=assignment_of(revoke),
        )
    # 2. Move to the target epoch, taking every wanted partition that nobody else holds.
    free = {tp for tp in wanted - current if group.is_free_for(tp, member.member_id)}
    unreleased = (wanted - current) - free
    return replace(
        member,
        member_epoch=target_epoch,
        previous_member_epoch=member.member_epoch,
        state=MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE,
        assigned=assignment_of(keep | free),
        pending_revocation={},
    )


def _still_owns(owned: Assignment | None, revoking: Assignment) -> bool:
    """Does the member still hold partitions it must revoke? Unknown (not reported) counts as yes."""
    if owned is None:
        return True
    return bool(partitions_of(owned) & partitions_of(revoking))


# --- replay ---------------------------------------------------------------------------------------


def replay_consumer_record(groups: dict[str, ConsumerGroup], record: ConsumerRecord) -> None:
    if isinstance(record, ConsumerGroupMetadataRecord):
        if record.epoch is None:
            groups.pop(record.group, None)
        else:
            _group(groups, record.group).group_epoch = record.epoch
    elif isinstance(record, TargetAssignmentMetadataRecord):
        if record.assignment_epoch is not None:
            _group(groups, record.group).assignment_epoch = record.assignment_epoch
    elif isinstance(record, TargetAssignmentMemberRecord):
        target = _group(groups, record.group).target
        if record.partitions is None:
            target.pop(record.member_id, None)
        else:
            target[record.member_id] = dict(record.partitions)
    elif isinstance(record, ConsumerMemberMetadataRecord):
        _replay_member_metadata(_group(groups, record.group), record)
    else:
        _replay_current_assignment(_group(groups, record.group), record)


def _group(groups: dict[str, ConsumerGroup], group_id: str) -> ConsumerGroup:
    group = groups.get(group_id)
    if group is None:
        group = groups[group_id] = ConsumerGroup(group_id)
    return group


def _replay_member_metadata(group: ConsumerGroup, record: ConsumerMemberMetadataRecord) -> None:
    if record.value is None:
        member = group.members.pop(record.member_id, None)
        if member is not None:
            _release(group, member.member_id)
        return
    member = group.members.get(record.member_id)
    if member is None:
        group.members[record.member_id] = ConsumerMember(record.member_id, record.value)
    else:
        member.metadata = record.value


def _replay_current_assignment(group: ConsumerGroup, record: CurrentAssignmentRecord) -> None:
    _release(group, record.member_id)
    member = group.members.get(record.member_id)
    if record.value is None:
        if member is not None:
            member.assigned, member.pending_revocation = {}, {}
        return
    if member is None:
        placeholder = ConsumerMemberMetadata("", "", (), -1)
        member = group.members[record.member_id] = ConsumerMember(record.member_id, placeholder)
    value = record.value
    member.member_epoch, member.previous_member_epoch = (
        value.member_epoch,
        value.previous_member_epoch,
    )
    member.state = _member_state(value.state)
    member.assigned, member.pending_revocation = (
        dict(value.assigned),
        dict(value.pending_revocation),
    )
    for tp in partitions_of(member.assigned) | partitions_of(member.pending_revocation):
        group.owners[tp] = member.member_id


def _member_state(value: int) -> MemberState:
    try:
        return MemberState(value)
    except ValueError:
        return MemberState.UNKNOWN


def _release(group: ConsumerGroup, member_id: str) -> None:
    for tp in [tp for tp, owner in group.owners.items() if owner == member_id]:
        del group.owners[tp]


def resolve_topics(
    names: set[str], topics: Mapping[str, tuple[uuid.UUID, int]]
) -> dict[str, tuple[uuid.UUID, int]]:
    """The subscribed topics that exist, with their ids and partition counts."""
    return {name: topics[name] for name in sorted(names) if name in topics}
