"""Online migration between classic and consumer groups (KIP-848, `group.consumer.migration.policy`).

Kafka's rules (GroupMetadataManager.convertToConsumerGroup / convertToClassicGroup, Kafka 4.0's
default policy `bidirectional`):
- Upgrade: a ConsumerGroupHeartbeat joining (epoch 0) a non-empty classic group converts it when the
  policy allows upgrades and the group uses the "consumer" embedded protocol. The classic group is
  deleted (GroupMetadata tombstone) and a consumer group written in its place: group and assignment
  epochs = the classic generation; every member at that epoch, Stable, with its subscription (from its
  metadata for the group's protocol), its last assignment as both current and target, and its classic
  session timeout and protocols. Parked JoinGroup/SyncGroup requests are answered REBALANCE_IN_PROGRESS
  so their members rejoin — into the consumer group, as classic-protocol members.
- Downgrade: when the last member using the consumer protocol leaves (or is fenced) and every other
  member uses the classic protocol, the policy allows downgrades and they fit `group.max.size`, the
  consumer group is deleted (tombstones of all its records) and a classic group written in its place:
  generation = the group epoch, the protocol every member votes for, each member's target assignment
  as its assignment. Once that record is replayed the classic group starts a rebalance.
A subscription or assignment that cannot be read refuses the conversion (the group stays as it is).
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.coordinator.group.config import GroupConfig
from riverlog.coordinator.group.consumer import Records, TopicsView
from riverlog.coordinator.group.consumer_classic import classic_assignment, with_topic_ids
from riverlog.coordinator.group.consumer_group import (
    ConsumerGroup,
    ConsumerMember,
    MemberState,
    partitions_of,
)
from riverlog.coordinator.group.consumer_protocol import (
    CONSUMER_PROTOCOL_TYPE,
    parse_assignment,
    parse_subscription,
)
from riverlog.coordinator.group.consumer_records import (
    ClassicMemberMetadata,
    ConsumerGroupMetadataRecord,
    ConsumerMemberMetadata,
    ConsumerMemberMetadataRecord,
    CurrentAssignmentRecord,
    TargetAssignmentMemberRecord,
    TargetAssignmentMetadataRecord,
)
from riverlog.coordinator.group.messages import (
    Completion,
    JoinGroupResult,
    Protocol,
    SyncGroupResult,
)
from riverlog.coordinator.group.records import (
    GroupMetadataRecord,
    GroupMetadataValue,
    MemberMetadata,
)
from riverlog.coordinator.group.state import ClassicGroup, ClassicMember


def can_upgrade(classic: ClassicGroup, config: GroupConfig) -> bool:
    return config.upgrade_enabled and classic.uses_consumer_protocol() and bool(classic.members)


def upgrade(
    classic: ClassicGroup, topics: TopicsView
) -> tuple[ConsumerGroup, Records, list[Completion]] | None:
    """The consumer group a classic group becomes, the records that write it (classic tombstone
    first), and the answers to its parked requests; None when a member's metadata is unreadable."""
    generation = classic.generation_id
    group = ConsumerGroup(classic.group_id, generation, generation)
    for old in classic.members.values():
        member = _converted_member(old, classic.protocol_name, generation, topics)
        if member is None:
            return None
        group.members[member.member_id] = member
        group.target[member.member_id] = dict(member.assigned)
        for tp in partitions_of(member.assigned):
            group.owners[tp] = member.member_id
    gid = classic.group_id
    records: Records = [GroupMetadataRecord(gid, None)]
    records += [ConsumerMemberMetadataRecord(gid, m, x.metadata) for m, x in group.members.items()]
    records.append(ConsumerGroupMetadataRecord(gid, generation))
    records += [TargetAssignmentMemberRecord(gid, m, t) for m, t in group.target.items()]
    records.append(TargetAssignmentMetadataRecord(gid, generation))
    records += [CurrentAssignmentRecord(gid, m, x.current()) for m, x in group.members.items()]
    return group, records, _rebalance_answers(classic)


def _converted_member(
    old: ClassicMember, protocol: str | None, generation: int, topics: TopicsView
) -> ConsumerMember | None:
    metadata = old.metadata(protocol) if protocol else old.protocols[0].metadata
    try:
        subscription = parse_subscription(metadata)
        assigned = with_topic_ids(parse_assignment(old.assignment), topics)
    except ValueError:
        return None
    return ConsumerMember(
        old.member_id,
        ConsumerMemberMetadata(
            client_id=old.client_id,
            client_host=old.client_host,
            subscribed_topic_names=subscription.topics,
            rebalance_timeout_ms=old.rebalance_timeout_ms,
            instance_id=old.group_instance_id,
            rack_id=subscription.rack_id,
            classic=ClassicMemberMetadata(
                old.session_timeout_ms, tuple((p.name, p.metadata) for p in old.protocols)
            ),
        ),
        member_epoch=generation,
        previous_member_epoch=generation,
        state=MemberState.STABLE,
        assigned=assigned,
    )


def _rebalance_answers(classic: ClassicGroup) -> list[Completion]:
    answers = []
    for member in classic.members.values():
        if member.awaiting_join is not None:
            result = JoinGroupResult(ErrorCode.rebalance_in_progress, member_id=member.member_id)
            answers.append(Completion(member.awaiting_join, result))
        if member.awaiting_sync is not None:
            sync = SyncGroupResult(ErrorCode.rebalance_in_progress)
            answers.append(Completion(member.awaiting_sync, sync))
    return answers


def can_downgrade(group: ConsumerGroup, leaving: str, config: GroupConfig) -> bool:
    """Kafka's validateOnlineDowngradeWithFencedMember."""
    member = group.members.get(leaving)
    if member is None or member.metadata.classic is not None:
        return False
    others = [m for m in group.members.values() if m.member_id != leaving]
    if not others or any(m.metadata.classic is None for m in others):
        return False
    common = set.intersection(*({name for name, _ in _classic(m).protocols} for m in others))
    return config.downgrade_enabled and len(others) <= config.max_size and bool(common)


def downgrade(group: ConsumerGroup, leaving: str, topics: TopicsView) -> Records:
    """The records replacing `group` by a classic group without `leaving` (check `can_downgrade`)."""
    gid = group.group_id
    records: Records = [CurrentAssignmentRecord(gid, m, None) for m in group.members]
    records += [TargetAssignmentMemberRecord(gid, m, None) for m in group.members]
    records.append(TargetAssignmentMetadataRecord(gid, None))
    records += [ConsumerMemberMetadataRecord(gid, m, None) for m in group.members]
    records.append(ConsumerGroupMetadataRecord(gid, None))
    staying = [m for m in group.members.values() if m.member_id != leaving]
    voters = ClassicGroup(gid, generation_id=group.group_epoch)
    for member in staying:
        voters.add(_classic_member(member))
    protocol = voters.select_protocol()
    stored = tuple(
        MemberMetadata(
            member_id=m.member_id,
            client_id=m.metadata.client_id,
            client_host=m.metadata.client_host,
            session_timeout=_classic(m).session_timeout_ms,
            subscription=voters.members[m.member_id].metadata(protocol),
            assignment=classic_assignment(m, group.target.get(m.member_id, {}), topics, protocol),
            rebalance_timeout=m.metadata.rebalance_timeout_ms,
            group_instance_id=m.metadata.instance_id,
        )
        for m in staying
    )
    value = GroupMetadataValue(
        protocol_type=CONSUMER_PROTOCOL_TYPE,
        generation=group.group_epoch,
        protocol=protocol,
        leader=staying[0].member_id,
        members=stored,
    )
    records.append(GroupMetadataRecord(gid, value))
    return records


def _classic(member: ConsumerMember) -> ClassicMemberMetadata:
    classic = member.metadata.classic
    assert classic is not None, "only classic-protocol members are downgraded"
    return classic


def _classic_member(member: ConsumerMember) -> ClassicMember:
    classic = _classic(member)
    return ClassicMember(
        member_id=member.member_id,
        group_instance_id=member.metadata.instance_id,
        client_id=member.metadata.client_id,
        client_host=member.metadata.client_host,
        rebalance_timeout_ms=member.metadata.rebalance_timeout_ms,
        session_timeout_ms=classic.session_timeout_ms,
        protocol_type=CONSUMER_PROTOCOL_TYPE,
        protocols=tuple(Protocol(n, m) for n, m in classic.protocols),
    )
