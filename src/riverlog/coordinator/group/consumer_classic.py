"""Members using the classic protocol inside a KIP-848 consumer group (Kafka's online migration).

After a classic group is upgraded (or when a classic consumer joins a consumer group) its members keep
speaking JoinGroup, SyncGroup, Heartbeat and LeaveGroup; the coordinator serves them from the consumer
group's state, with the server-side assignor (Kafka's GroupMetadataManager, "classicGroup*ToConsumerGroup"):
- JoinGroup (protocol type "consumer", a protocol every classic member supports) stores the member
  with its subscription read from its first protocol's metadata and its session timeout and protocols
  (ClassicMemberMetadata), moves the group epoch when it is new or its subscription changed, computes
  the target assignment and reconciles the member one step, using the partitions its subscription says
  it owns. It is answered at once, as a follower (no leader, no members): generation = member epoch,
  protocol = its first one. The member must then send SyncGroup within its rebalance timeout.
- SyncGroup answers the member's assigned partitions as a ConsumerProtocolAssignment in its
  subscription's version; REBALANCE_IN_PROGRESS when the group epoch moved past the member's epoch
  (unless it is still revoking).
- Heartbeat answers REBALANCE_IN_PROGRESS when the member must rejoin: the group epoch moved on, it must
  revoke partitions, or the partitions it waits for were released; it then has its rebalance timeout to
  rejoin. Every Heartbeat and SyncGroup renews its session.
- LeaveGroup removes the members named (by member id, or by instance id for static members), and the
  group epoch moves on.
A member that misses its session, rejoin or sync deadline is fenced like any consumer-group member.
Like every consumer-group operation, these only return records; the group changes on replay.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.coordinator.group.consumer import (
    CLASSIC_JOIN,
    CLASSIC_SYNC,
    ConsumerGroups,
    Records,
    TopicsView,
    session_key,
)
from riverlog.coordinator.group.consumer_group import (
    ConsumerGroup,
    ConsumerMember,
    MemberState,
    partitions_of,
)
from riverlog.coordinator.group.consumer_protocol import (
    CONSUMER_PROTOCOL_TYPE,
    TopicPartitions,
    encode_assignment,
    parse_subscription,
    subscription_version,
)
from riverlog.coordinator.group.consumer_records import (
    Assignment,
    ClassicMemberMetadata,
    ConsumerGroupMetadataRecord,
    ConsumerMemberMetadata,
)
from riverlog.coordinator.group.messages import (
    UNKNOWN_MEMBER_ID,
    HeartbeatRequest,
    JoinGroupRequest,
    JoinGroupResult,
    LeaveGroupRequest,
    LeaveGroupResult,
    LeftMember,
    SyncGroupRequest,
    SyncGroupResult,
)


class ClassicMemberError(Exception):
    def __init__(self, code: ErrorCode) -> None:
        super().__init__(code.name)
        self.code = code


def classic_join(
    consumers: ConsumerGroups,
    group: ConsumerGroup,
    req: JoinGroupRequest,
    topics: TopicsView,
    now: int,
    records: Records,
) -> JoinGroupResult:
    """A JoinGroup from a classic member into a non-empty consumer group."""
    unknown = req.member_id == UNKNOWN_MEMBER_ID
    member_id = consumers.new_member_id() if unknown else req.member_id
    names = [p.name for p in req.protocols]
    if req.protocol_type != CONSUMER_PROTOCOL_TYPE or not _supports(group, names):
        return JoinGroupResult(ErrorCode.inconsistent_group_protocol, member_id=req.member_id)
    if unknown and req.api_version >= 4 and req.group_instance_id is None:
        # A dynamic member must come back with the id it is given (KIP-394).
        return JoinGroupResult(ErrorCode.member_id_required, member_id=member_id)
    try:
        subscription = parse_subscription(req.protocols[0].metadata)
    except ValueError:
        return JoinGroupResult(ErrorCode.inconsistent_group_protocol, member_id=req.member_id)
    member, replaced = _joining_member(group, member_id, req, unknown, records, consumers)
    if member is None:
        return JoinGroupResult(ErrorCode.fenced_instance_id, member_id=req.member_id)
    joined = member.member_id not in group.members
    rebalance_timeout = req.rebalance_timeout_ms
    if rebalance_timeout < 0:  # JoinGroup v0 has none: Kafka uses the session timeout
        rebalance_timeout = req.session_timeout_ms
    metadata = ConsumerMemberMetadata(
        client_id=req.client_id,
        client_host=req.client_host,
        subscribed_topic_names=subscription.topics,
        rebalance_timeout_ms=rebalance_timeout,
        instance_id=req.group_instance_id,
        rack_id=subscription.rack_id,
        classic=ClassicMemberMetadata(
            req.session_timeout_ms, tuple((p.name, p.metadata) for p in req.protocols)
        ),
    )
    owned = _by_id(subscription.owned, topics)
    updated = consumers.converge(group, member, metadata, joined, replaced, topics, records, owned)
    # Now the member has its session, and its rebalance timeout to send SyncGroup.
    consumers.timers.cancel((CLASSIC_JOIN, group.group_id, member_id))
    consumers.timers.schedule(session_key(group.group_id, member_id), now + req.session_timeout_ms)
    consumers.timers.schedule((CLASSIC_SYNC, group.group_id, member_id), now + rebalance_timeout)
    return JoinGroupResult(
        ErrorCode.none,
        member_id=member_id,
        generation_id=updated.member_epoch,
        protocol_type=CONSUMER_PROTOCOL_TYPE,
        protocol_name=names[0],
    )


def classic_sync(
    consumers: ConsumerGroups,
    group: ConsumerGroup,
    req: SyncGroupRequest,
    topics: TopicsView,
    now: int,
) -> SyncGroupResult:
    try:
        member = _classic_member(group, req.member_id, req.group_instance_id)
        classic = member.metadata.classic
        assert classic is not None
        if req.generation_id != member.member_epoch:
            return SyncGroupResult(ErrorCode.illegal_generation)
        protocol_name = classic.protocols[0][0]
        if (req.protocol_type is not None and req.protocol_type != CONSUMER_PROTOCOL_TYPE) or (
            req.protocol_name is not None and req.protocol_name != protocol_name
        ):
            return SyncGroupResult(ErrorCode.inconsistent_group_protocol)
        if group.group_epoch > member.member_epoch and (
            member.state is not MemberState.UNREVOKED_PARTITIONS
        ):
            _expect_rejoin(consumers, group, member, now)
            return SyncGroupResult(ErrorCode.rebalance_in_progress)
    except ClassicMemberError as exc:
        return SyncGroupResult(exc.code)
    consumers.timers.cancel((CLASSIC_SYNC, group.group_id, member.member_id))
    consumers.timers.schedule(
        session_key(group.group_id, member.member_id), now + classic.session_timeout_ms
    )
    version = subscription_version(classic.protocols[0][1])
    assignment = encode_assignment(_by_name(member.assigned, topics), version)
    return SyncGroupResult(ErrorCode.none, req.protocol_type, req.protocol_name, assignment)


def classic_heartbeat(
    consumers: ConsumerGroups, group: ConsumerGroup, req: HeartbeatRequest, now: int
) -> ErrorCode:
    try:
        member = _classic_member(group, req.member_id, req.group_instance_id)
    except ClassicMemberError as exc:
        return exc.code
    if req.generation_id != member.member_epoch:
        return ErrorCode.illegal_generation
    classic = member.metadata.classic
    assert classic is not None
    consumers.timers.schedule(
        session_key(group.group_id, member.member_id), now + classic.session_timeout_ms
    )
    if (
        member.member_epoch < group.group_epoch
        or member.state is MemberState.UNREVOKED_PARTITIONS
        or (
            member.state is MemberState.UNRELEASED_PARTITIONS
            and not _waiting_on_unreleased(group, member)
        )
    ):
        _expect_rejoin(consumers, group, member, now)
        return ErrorCode.rebalance_in_progress
    return ErrorCode.none


def classic_leave(
    consumers: ConsumerGroups, group: ConsumerGroup, req: LeaveGroupRequest, records: Records
) -> LeaveGroupResult:
    answers = []
    left = False
    for identity in req.members:
        try:
            if identity.group_instance_id is None:
                member = _classic_member(group, identity.member_id, None)
            else:
                member = _static_member(group, identity.group_instance_id)
                if identity.member_id not in (UNKNOWN_MEMBER_ID, member.member_id):
                    raise ClassicMemberError(ErrorCode.fenced_instance_id)
                if member.metadata.classic is None:
                    raise ClassicMemberError(ErrorCode.unknown_member_id)
        except ClassicMemberError as exc:
            answers.append(LeftMember(identity.member_id, identity.group_instance_id, exc.code))
            continue
        records += consumers.removal(group.group_id, member.member_id)
        left = True
        answers.append(LeftMember(member.member_id, identity.group_instance_id, ErrorCode.none))
    if left:
        records.append(ConsumerGroupMetadataRecord(group.group_id, group.group_epoch + 1))
    return LeaveGroupResult(ErrorCode.none, tuple(answers))


# --- helpers --------------------------------------------------------------------------------------


def _supports(group: ConsumerGroup, names: list[str]) -> bool:
    """Kafka's supportsClassicProtocols: a protocol every classic member supports (any, if none)."""
    classic = [m.metadata.classic for m in group.members.values() if m.metadata.classic]
    if not names:
        return False
    if not classic:
        return True
    return any(all(name in {p for p, _ in c.protocols} for c in classic) for name in names)


def _joining_member(
    group: ConsumerGroup,
    member_id: str,
    req: JoinGroupRequest,
    unknown: bool,
    records: Records,
    consumers: ConsumerGroups,
) -> tuple[ConsumerMember | None, str | None]:
    """The member as it stands (a new one if absent) and the static member it replaces;
    None when the instance id belongs to another member and this one claims a known id."""
    previous = None
    if req.group_instance_id is not None:
        previous = group.static_member_id(req.group_instance_id)
        if previous is not None and previous != member_id:
            if not unknown:
                return None, None
            # A restarted static member takes the old one's place; the assignment is recomputed.
            records += consumers.removal(group.group_id, previous)
            consumers.cancel(group.group_id, previous)
        else:
            previous = None
    existing = group.members.get(member_id)
    if existing is not None:
        return existing, previous
    placeholder = ConsumerMemberMetadata(req.client_id, req.client_host, (), -1)
    return ConsumerMember(member_id, placeholder), previous


def _classic_member(
    group: ConsumerGroup, member_id: str, instance_id: str | None
) -> ConsumerMember:
    """Kafka's validateConsumerGroupMember + throwIfMemberDoesNotUseClassicProtocol."""
    if instance_id is None:
        member = group.members.get(member_id)
        if member is None:
            raise ClassicMemberError(ErrorCode.unknown_member_id)
    else:
        member = _static_member(group, instance_id)
        if member.member_id != member_id:
            raise ClassicMemberError(ErrorCode.fenced_instance_id)
    if member.metadata.classic is None:
        raise ClassicMemberError(ErrorCode.unknown_member_id)
    return member


def _static_member(group: ConsumerGroup, instance_id: str) -> ConsumerMember:
    member_id = group.static_member_id(instance_id)
    if member_id is None:
        raise ClassicMemberError(ErrorCode.unknown_member_id)
    return group.members[member_id]


def _expect_rejoin(
    consumers: ConsumerGroups, group: ConsumerGroup, member: ConsumerMember, now: int
) -> None:
    """The member must rejoin within its rebalance timeout (set once, not renewed)."""
    key = (CLASSIC_JOIN, group.group_id, member.member_id)
    if key not in consumers.timers:
        consumers.timers.schedule(key, now + max(member.metadata.rebalance_timeout_ms, 0))


def _waiting_on_unreleased(group: ConsumerGroup, member: ConsumerMember) -> bool:
    """Does a partition of the member's target still belong to another member?"""
    wanted = partitions_of(group.target.get(member.member_id, {})) - partitions_of(member.assigned)
    return any(not group.is_free_for(tp, member.member_id) for tp in wanted)


def _by_id(partitions: TopicPartitions, topics: TopicsView) -> Assignment:
    """Owned partitions named by topic, as ids (topics that no longer exist are left out)."""
    return {
        topics[name][0]: frozenset(parts)
        for name, parts in partitions.items()
        if name in topics and parts
    }


def _by_name(assignment: Assignment, topics: TopicsView) -> dict[str, frozenset[int]]:
    names = {topic_id: name for name, (topic_id, _) in topics.items()}
    return {names[t]: p for t, p in assignment.items() if t in names and p}


def classic_assignment(
    member: ConsumerMember, assignment: Assignment, topics: TopicsView, protocol: str
) -> bytes:
    """`assignment` as a ConsumerProtocolAssignment in the version of the member's `protocol`."""
    classic = member.metadata.classic
    metadata = b""
    if classic is not None:
        metadata = next((m for name, m in classic.protocols if name == protocol), b"")
    return encode_assignment(_by_name(assignment, topics), subscription_version(metadata))


def with_topic_ids(partitions: TopicPartitions, topics: TopicsView) -> Assignment:
    """Public form of the name -> id mapping (for the upgrade of a classic group)."""
    return _by_id(partitions, topics)
