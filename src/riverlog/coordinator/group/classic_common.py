"""Pieces the classic protocol's modules share: timer keys, member validation, GroupMetadata records."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.coordinator.group.records import (
    GroupMetadataRecord,
    GroupMetadataValue,
    MemberMetadata,
)
from riverlog.coordinator.group.state import ClassicGroup, ClassicMember

HEARTBEAT, JOIN, SYNC = "heartbeat", "join", "sync"
TimerKey = tuple[str, str, str]


def heartbeat_key(group_id: str, member_id: str) -> TimerKey:
    return (HEARTBEAT, group_id, member_id)


def join_key(group_id: str) -> TimerKey:
    return (JOIN, group_id, "")


def sync_key(group_id: str) -> TimerKey:
    return (SYNC, group_id, "")


def validate_existing_member(
    group: ClassicGroup, member_id: str, instance_id: str | None
) -> ErrorCode:
    """UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID when the caller is not (or no longer) this member."""
    if instance_id is None:
        return ErrorCode.none if group.has_member(member_id) else ErrorCode.unknown_member_id
    current = group.static_member_id(instance_id)
    if current is None:
        return ErrorCode.unknown_member_id
    return ErrorCode.none if current == member_id else ErrorCode.fenced_instance_id


def metadata_record(
    group: ClassicGroup, assignments: dict[str, bytes], members: list[ClassicMember] | None = None
) -> GroupMetadataRecord:
    """The GroupMetadata record for the group's current generation with these assignments."""
    listed = list(group.members.values()) if members is None else members
    return GroupMetadataRecord(
        group.group_id,
        GroupMetadataValue(
            protocol_type=group.protocol_type or "",
            generation=group.generation_id,
            protocol=group.protocol_name,
            leader=group.leader_id,
            current_state_timestamp=group.state_timestamp_ms,
            members=tuple(
                MemberMetadata(
                    member_id=m.member_id,
                    client_id=m.client_id,
                    client_host=m.client_host,
                    session_timeout=m.session_timeout_ms,
                    subscription=m.metadata(group.protocol_name),
                    assignment=assignments.get(m.member_id, b""),
                    rebalance_timeout=m.rebalance_timeout_ms,
                    group_instance_id=m.group_instance_id,
                )
                for m in listed
            ),
        ),
    )


def inconsistent(requested: str | None, current: str | None) -> bool:
    return requested is not None and current is not None and requested != current


def with_leader(value: GroupMetadataValue, leader: str | None) -> GroupMetadataValue:
    return GroupMetadataValue(
        value.protocol_type,
        value.generation,
        value.protocol,
        leader,
        value.current_state_timestamp,
        value.members,
    )
