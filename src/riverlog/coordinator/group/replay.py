"""Replaying GroupMetadata records: the one path by which a group's stored state changes.

The same code runs for records the coordinator just appended and for records read back while loading a
`__consumer_offsets` partition after a restart:
- a tombstone removes the group (Dead);
- no members: the generation ended empty — the group is Empty at that generation;
- the leader's assignment for the generation now completing: every member gets its assignment, parked
  SyncGroups are answered, and the group is Stable;
- the current Stable generation with a static member under a new member id: the rename is applied and
  the parked JoinGroup of that static member answered;
- anything else is a load: the group is rebuilt Stable from the record, and every member must heartbeat
  within its session timeout from now (Kafka's behaviour on coordinator failover).
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.coordinator.group.classic import ClassicGroups
from riverlog.coordinator.group.classic_common import heartbeat_key, join_key, sync_key
from riverlog.coordinator.group.messages import (
    Effects,
    JoinGroupResult,
    Protocol,
    SyncGroupResult,
)
from riverlog.coordinator.group.records import GroupMetadataValue, MemberMetadata
from riverlog.coordinator.group.state import ClassicGroup, ClassicMember, GroupState

S = GroupState


def replay_group_metadata(
    groups: ClassicGroups,
    group_id: str,
    value: GroupMetadataValue | None,
    now: int,
    fx: Effects,
) -> None:
    if value is None:
        _remove(groups, group_id, now)
        return
    group = groups.get_or_create(group_id, now)
    if not value.members:
        _become_empty(groups, group, value, now)
    elif group.is_in(S.COMPLETING_REBALANCE) and group.generation_id == value.generation:
        _apply_assignment(groups, group, value, now, fx)
    elif group.is_in(S.STABLE) and group.generation_id == value.generation:
        _apply_static_renames(groups, group, value, now, fx)
    else:
        _load(groups, group, value, now)


def _remove(groups: ClassicGroups, group_id: str, now: int) -> None:
    group = groups.groups.pop(group_id, None)
    if group is None:
        return
    _cancel_timers(groups, group)
    group.transition_to(S.DEAD, now)


def _cancel_timers(groups: ClassicGroups, group: ClassicGroup) -> None:
    for member_id in [*group.members, *group.pending_members]:
        groups.timers.cancel(heartbeat_key(group.group_id, member_id))
    groups.timers.cancel(join_key(group.group_id))
    groups.timers.cancel(sync_key(group.group_id))
    groups.initial_delay.pop(group.group_id, None)
    groups.sync_generation.pop(group.group_id, None)


def _become_empty(
    groups: ClassicGroups, group: ClassicGroup, value: GroupMetadataValue, now: int
) -> None:
    for member_id in list(group.members):
        groups.timers.cancel(heartbeat_key(group.group_id, member_id))
        group.remove(member_id)
    group.generation_id = value.generation
    group.protocol_type = value.protocol_type or None
    group.protocol_name = group.leader_id = None
    group.subscribed_topics = None
    if group.is_in(S.PREPARING_REBALANCE):
        group.transition_to(S.EMPTY, now)
    else:
        group.state = S.EMPTY
    if value.current_state_timestamp >= 0:
        group.state_timestamp_ms = value.current_state_timestamp


def _apply_assignment(
    groups: ClassicGroups, group: ClassicGroup, value: GroupMetadataValue, now: int, fx: Effects
) -> None:
    stored = {m.member_id: m.assignment for m in value.members}
    for member in group.members.values():
        member.assignment = stored.get(member.member_id, b"")
        fx.complete(
            member.awaiting_sync,
            SyncGroupResult(
                ErrorCode.none, group.protocol_type, group.protocol_name, member.assignment
            ),
        )
        member.awaiting_sync = None
        # The leader may have taken its time: nobody expires for waiting on it.
        groups.timers.schedule(
            heartbeat_key(group.group_id, member.member_id), now + member.session_timeout_ms
        )
    group.transition_to(S.STABLE, now)


def _apply_static_renames(
    groups: ClassicGroups, group: ClassicGroup, value: GroupMetadataValue, now: int, fx: Effects
) -> None:
    for stored in value.members:
        instance_id = stored.group_instance_id
        current = group.static_member_id(instance_id)
        if instance_id is None or current == stored.member_id:
            continue
        pending = group.pending_static_joins.pop(instance_id, None)
        if pending is not None and pending.member.member_id == stored.member_id:
            member = pending.member
        else:
            member = _member(stored, value)
            pending = None
        old_id = current if current is not None else ""
        group.replace_static_member(instance_id, old_id, member)
        member.assignment = stored.assignment
        groups.timers.cancel(heartbeat_key(group.group_id, old_id))
        groups.timers.schedule(
            heartbeat_key(group.group_id, member.member_id), now + member.session_timeout_ms
        )
        if pending is not None:
            fx.complete(pending.waiter, _static_join_result(group, member, pending.api_version))


def _static_join_result(
    group: ClassicGroup, member: ClassicMember, version: int
) -> JoinGroupResult:
    """A static member back without a rebalance: the current generation. A returning leader gets the
    members (to keep watching metadata) and skips the assignment, from JoinGroup v9 (KIP-814)."""
    skip = group.is_leader(member.member_id) and version >= 9
    return JoinGroupResult(
        ErrorCode.none,
        member_id=member.member_id,
        generation_id=group.generation_id,
        protocol_type=group.protocol_type,
        protocol_name=group.protocol_name,
        leader=group.leader_id or "",
        skip_assignment=skip,
        members=group.join_members() if skip else (),
    )


def _load(groups: ClassicGroups, group: ClassicGroup, value: GroupMetadataValue, now: int) -> None:
    _cancel_timers(groups, group)
    for member_id in list(group.members):
        group.remove(member_id)
    group.pending_members.clear()
    group.pending_sync_members.clear()
    group.pending_static_joins.clear()
    group.leader_id = None
    for stored in value.members:
        group.add(_member(stored, value))
    group.protocol_type = value.protocol_type or None
    group.protocol_name = value.protocol
    group.leader_id = value.leader if value.leader in group.members else group.leader_id
    group.generation_id = value.generation
    group.state, group.previous_state = S.STABLE, None
    group.state_timestamp_ms = (
        value.current_state_timestamp if value.current_state_timestamp >= 0 else now
    )
    group.subscribed_topics = group.compute_subscribed_topics()
    for member in group.members.values():
        groups.timers.schedule(
            heartbeat_key(group.group_id, member.member_id), now + member.session_timeout_ms
        )


def _member(stored: MemberMetadata, value: GroupMetadataValue) -> ClassicMember:
    rebalance_timeout = stored.rebalance_timeout
    if rebalance_timeout < 0:  # GroupMetadataValue v0 has none
        rebalance_timeout = stored.session_timeout
    return ClassicMember(
        member_id=stored.member_id,
        group_instance_id=stored.group_instance_id,
        client_id=stored.client_id,
        client_host=stored.client_host,
        rebalance_timeout_ms=rebalance_timeout,
        session_timeout_ms=stored.session_timeout,
        protocol_type=value.protocol_type,
        protocols=(Protocol(value.protocol or "", stored.subscription),),
        assignment=stored.assignment,
    )
