"""KIP-848 consumer groups: ConsumerGroupHeartbeat, its timeouts, and what offsets and admin APIs ask.

One heartbeat, in Kafka's order (its GroupMetadataManager.consumerGroupHeartbeat):
1. check the request (INVALID_REQUEST, UNSUPPORTED_ASSIGNOR) and the member epoch (FENCED_MEMBER_EPOCH,
   tolerating a retry with the previous epoch whose answer was lost);
2. store the member's changed metadata; a new member, a changed subscription or changed partition counts
   of subscribed topics bump the group epoch;
3. when the group epoch is ahead of the assignment epoch, run the server assignor (`uniform` or
   `range`) and store the new target assignment;
4. reconcile the member one step towards its target (`consumer_group.reconcile`) and store it;
5. answer with the member epoch, the heartbeat interval and, when it changed (or was asked for), the
   partitions the member may own now.
Member epoch -1 leaves; -2 leaves temporarily (a static member keeps its assignment for its session
timeout, and its next incarnation takes it over without a rebalance). A member that misses its session
timeout, or keeps partitions it must revoke past its rebalance timeout, is fenced: removed, group epoch
bumped. All changes are records (`consumer_records.py`); the group changes when they are replayed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace

from kio.schema.errors import ErrorCode

from riverlog.coordinator.group.assignors import ASSIGNORS, assignor_name
from riverlog.coordinator.group.config import GroupConfig
from riverlog.coordinator.group.consumer_group import (
    LEAVE_EPOCH,
    STATIC_LEAVE_EPOCH,
    ConsumerGroup,
    ConsumerMember,
    MemberState,
    partitions_of,
    reconcile,
    resolve_topics,
)
from riverlog.coordinator.group.consumer_records import (
    Assignment,
    ConsumerGroupMetadataRecord,
    ConsumerMemberMetadata,
    ConsumerMemberMetadataRecord,
    CurrentAssignmentRecord,
    TargetAssignmentMemberRecord,
    TargetAssignmentMetadataRecord,
)
from riverlog.coordinator.group.messages import (
    ConsumerHeartbeatRequest,
    ConsumerHeartbeatResult,
    DescribedConsumerGroup,
    DescribedConsumerMember,
)
from riverlog.coordinator.group.records import CoordinatorRecord
from riverlog.coordinator.group.timers import DeadlineQueue

SESSION, REVOCATION = "consumer-session", "consumer-revocation"
# Deadlines of members using the classic protocol inside a consumer group (KIP-848 migration): rejoin
# after REBALANCE_IN_PROGRESS, and SyncGroup after the JoinGroup, each within the rebalance timeout.
CLASSIC_JOIN, CLASSIC_SYNC = "consumer-classic-join", "consumer-classic-sync"
CONSUMER_TIMERS = frozenset({SESSION, REVOCATION, CLASSIC_JOIN, CLASSIC_SYNC})
TopicsView = Mapping[str, tuple[uuid.UUID, int]]  # topic name -> (topic id, partition count)
Records = list[CoordinatorRecord]


class HeartbeatError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def session_key(group_id: str, member_id: str) -> tuple[str, str, str]:
    return (SESSION, group_id, member_id)


def revocation_key(group_id: str, member_id: str) -> tuple[str, str, str]:
    return (REVOCATION, group_id, member_id)


def session_timeout_ms(member: ConsumerMember, group_timeout_ms: int) -> int:
    """A classic-protocol member keeps its own session timeout; others the group's."""
    classic = member.metadata.classic
    return group_timeout_ms if classic is None else classic.session_timeout_ms


def member_topics(metadata: ConsumerMemberMetadata, topics: TopicsView) -> set[str]:
    """Subscribed names, plus every non-internal topic its regex matches in full (as Kafka's RE2J)."""
    names = set(metadata.subscribed_topic_names)
    if metadata.subscribed_topic_regex:
        pattern = re.compile(metadata.subscribed_topic_regex)
        names |= {t for t in topics if not t.startswith("__") and pattern.fullmatch(t)}
    return names


class ConsumerGroups:
    def __init__(
        self,
        config: GroupConfig,
        timers: DeadlineQueue,
        new_member_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.config = config
        self.timers = timers
        self.new_member_id = new_member_id
        self.groups: dict[str, ConsumerGroup] = {}
        # Partition counts each group's epoch was computed for (a cache: rebuilt after a load).
        self.metadata_cache: dict[str, dict[str, tuple[uuid.UUID, int]]] = {}
        # Set by the shard: records turning the group into a classic one when `member_id` leaves
        # (KIP-848 online downgrade), or None when the group stays a consumer group.
        self.downgrade: Callable[[ConsumerGroup, str], Records | None] = lambda g, m: None
        # Set by the runtime: a group's dynamic config overrides (KIP-848 GROUP resource configs).
        self.group_overrides: Callable[[str], Mapping[str, str]] = lambda group_id: {}

    def group_session_timeout_ms(self, group_id: str) -> int:
        """`consumer.session.timeout.ms` of the group, else the broker's."""
        value = self.group_overrides(group_id).get("consumer.session.timeout.ms")
        return self.config.consumer_session_timeout_ms if value is None else int(value)

    def group_heartbeat_interval_ms(self, group_id: str) -> int:
        """`consumer.heartbeat.interval.ms` of the group, else the broker's."""
        value = self.group_overrides(group_id).get("consumer.heartbeat.interval.ms")
        return self.config.consumer_heartbeat_interval_ms if value is None else int(value)

    # --- ConsumerGroupHeartbeat -------------------------------------------------------------------

    def heartbeat(
        self,
        req: ConsumerHeartbeatRequest,
        topics: TopicsView,
        now: int,
        records: Records,
        converted: ConsumerGroup | None = None,
    ) -> ConsumerHeartbeatResult:
        """`converted`: the group as a classic group's conversion makes it (its records are already
        in `records`), when this heartbeat upgrades one."""
        try:
            self._check_request(req)
            if req.member_epoch in (LEAVE_EPOCH, STATIC_LEAVE_EPOCH):
                return self._leave(req, now, records)
            return self._heartbeat(req, topics, now, records, converted)
        except HeartbeatError as exc:
            return ConsumerHeartbeatResult(
                exc.code, req.member_id or None, -1, error_message=str(exc)
            )

    def _check_request(self, req: ConsumerHeartbeatRequest) -> None:
        def invalid(message: str) -> HeartbeatError:
            return HeartbeatError(ErrorCode.invalid_request, message)

        if not req.group_id:
            raise invalid("GroupId can't be empty.")
        if req.api_version >= 1 and not req.member_id:
            raise invalid("MemberId can't be empty.")
        if req.instance_id == "" or req.rack_id == "":
            raise invalid("InstanceId and RackId can't be empty strings.")
        if req.member_epoch < STATIC_LEAVE_EPOCH:
            raise invalid(f"MemberEpoch {req.member_epoch} is invalid.")
        if req.member_epoch == STATIC_LEAVE_EPOCH and req.instance_id is None:
            raise invalid("InstanceId can't be null when leaving as a static member.")
        if req.member_epoch == 0:
            if req.rebalance_timeout_ms == -1:
                raise invalid("RebalanceTimeoutMs must be provided in first request.")
            if req.subscribed_topic_names is None and req.subscribed_topic_regex is None:
                raise invalid("SubscribedTopicNames or SubscribedTopicRegex must be set.")
            if req.owned:
                raise invalid("TopicPartitions must be empty when (re-)joining.")
        if req.server_assignor is not None and assignor_name(req.server_assignor) is None:
            raise HeartbeatError(
                ErrorCode.unsupported_assignor,
                f"ServerAssignor {req.server_assignor} is not supported.",
            )
        if req.subscribed_topic_regex:
            try:
                re.compile(req.subscribed_topic_regex)
            except re.error as exc:
                raise HeartbeatError(ErrorCode.invalid_regular_expression, str(exc)) from None

    def _heartbeat(
        self,
        req: ConsumerHeartbeatRequest,
        topics: TopicsView,
        now: int,
        records: Records,
        converted: ConsumerGroup | None = None,
    ) -> ConsumerHeartbeatResult:
        group = converted or self.groups.get(req.group_id)
        if group is None:
            if req.member_epoch != 0:
                raise HeartbeatError(
                    ErrorCode.group_id_not_found, f"Group {req.group_id} not found."
                )
            group = ConsumerGroup(req.group_id)  # created when its first record is replayed
        member_id = req.member_id or self.new_member_id()
        member, joined, replaced = self._member(group, member_id, req, records)
        before = member
        metadata = _updated_metadata(member.metadata, req)
        updated = self.converge(
            group, member, metadata, joined, replaced, topics, records, req.owned
        )
        self._schedule(group.group_id, before, updated, now)
        send = req.owned is not None or joined or updated.assigned != before.assigned
        return ConsumerHeartbeatResult(
            ErrorCode.none,
            member_id,
            updated.member_epoch,
            self.group_heartbeat_interval_ms(group.group_id),
            dict(updated.assigned) if send else None,
        )

    def converge(
        self,
        group: ConsumerGroup,
        member: ConsumerMember,
        metadata: ConsumerMemberMetadata,
        joined: bool,
        replaced: str | None,
        topics: TopicsView,
        records: Records,
        owned: Assignment | None,
    ) -> ConsumerMember:
        """Steps 2-4 of a heartbeat (or of a classic member's JoinGroup): store the member's
        metadata, maybe bump the group epoch and compute a new target, reconcile one step."""
        member_id, before = member.member_id, member
        # 1. Metadata; what the assignment depends on moves the group epoch.
        if metadata != member.metadata or joined:
            records.append(ConsumerMemberMetadataRecord(group.group_id, member_id, metadata))
        bump = joined and member_id not in group.members and replaced is None
        bump = bump or _subscription(metadata) != _subscription(member.metadata)
        member = replace(member, metadata=metadata)
        members = {m: x for m, x in group.members.items() if m != replaced}
        members[member_id] = member
        subscribed = set().union(*(member_topics(m.metadata, topics) for m in members.values()))
        partition_counts = resolve_topics(subscribed, topics)
        bump = bump or partition_counts != self.metadata_cache.get(group.group_id)
        epoch = group.group_epoch
        if bump:
            epoch += 1
            self.metadata_cache[group.group_id] = partition_counts
            records.append(ConsumerGroupMetadataRecord(group.group_id, epoch))
        # 2. A new target assignment when the group epoch moved on.
        view = ConsumerGroup(
            group.group_id, epoch, group.assignment_epoch, members, group.target, group.owners
        )
        if epoch > group.assignment_epoch:
            self._assign(view, topics, records)
        # 3. One reconciliation step for this member.
        updated = reconcile(view, member, owned)
        if joined or updated.current() != before.current():
            records.append(CurrentAssignmentRecord(group.group_id, member_id, updated.current()))
        return updated

    def _member(
        self, group: ConsumerGroup, member_id: str, req: ConsumerHeartbeatRequest, records: Records
    ) -> tuple[ConsumerMember, bool, str | None]:
        """The member as it stands, whether it (re)joins now, and the static member it replaces."""
        member = group.members.get(member_id)
        if req.member_epoch != 0:
            if member is None:
                raise HeartbeatError(
                    ErrorCode.unknown_member_id, f"Member {member_id} is not in the group."
                )
            _check_epoch(member, req)
            return member, False, None
        previous = group.static_member_id(req.instance_id)
        if previous is not None and previous != member_id:
            old = group.members[previous]
            return self._take_over(group, old, member_id, records), True, previous
        if member is None:
            return ConsumerMember(member_id, _updated_metadata(None, req)), True, None
        # Rejoining with epoch 0: the client starts over and owns nothing.
        fresh = replace(
            member, member_epoch=0, state=MemberState.STABLE, assigned={}, pending_revocation={}
        )
        return fresh, True, None

    def _take_over(
        self, group: ConsumerGroup, old: ConsumerMember, member_id: str, records: Records
    ) -> ConsumerMember:
        """A static member's new incarnation inherits the old one's assignment, no rebalance."""
        if old.member_epoch != STATIC_LEAVE_EPOCH:
            raise HeartbeatError(
                ErrorCode.unreleased_instance_id,
                f"Static member {old.metadata.instance_id} is still in use by {old.member_id}.",
            )
        records += self.removal(group.group_id, old.member_id)
        target = group.target.get(old.member_id)
        if target is not None:
            records.append(TargetAssignmentMemberRecord(group.group_id, member_id, target))
        self.cancel(group.group_id, old.member_id)
        return replace(
            old,
            member_id=member_id,
            member_epoch=old.previous_member_epoch,
            previous_member_epoch=old.previous_member_epoch,
        )

    def _assign(self, view: ConsumerGroup, topics: TopicsView, records: Records) -> None:
        default = self.config.consumer_assignors[0]
        name = assignor_name(view.preferred_assignor(default)) or default
        ids = {m: {topics[t][0] for t in member_topics(x.metadata, topics) if t in topics}
               for m, x in view.members.items()}  # fmt: skip
        counts = {topic_id: count for topic_id, count in topics.values()}
        current = {m: {t: set(p) for t, p in a.items()} for m, a in view.target.items()}
        target = ASSIGNORS[name](ids, counts, current)
        for member_id, assignment in target.items():
            if partitions_of(assignment) != partitions_of(view.target.get(member_id, {})):
                records.append(TargetAssignmentMemberRecord(view.group_id, member_id, assignment))
        records.append(TargetAssignmentMetadataRecord(view.group_id, view.group_epoch))
        view.target = {**view.target, **target}
        view.assignment_epoch = view.group_epoch

    def _schedule(
        self, group_id: str, before: ConsumerMember, updated: ConsumerMember, now: int
    ) -> None:
        self.timers.schedule(
            session_key(group_id, updated.member_id),
            now + self.group_session_timeout_ms(group_id),
        )
        key = revocation_key(group_id, updated.member_id)
        if updated.state is not MemberState.UNREVOKED_PARTITIONS:
            self.timers.cancel(key)
        elif before.state is not MemberState.UNREVOKED_PARTITIONS or key not in self.timers:
            self.timers.schedule(key, now + max(updated.metadata.rebalance_timeout_ms, 0))

    # --- leaving and fencing ----------------------------------------------------------------------

    def _leave(
        self, req: ConsumerHeartbeatRequest, now: int, records: Records
    ) -> ConsumerHeartbeatResult:
        group = self.groups.get(req.group_id)
        member = None if group is None else group.members.get(req.member_id)
        if group is None or member is None:
            raise HeartbeatError(
                ErrorCode.unknown_member_id, f"Member {req.member_id} is not in the group."
            )
        if req.member_epoch == STATIC_LEAVE_EPOCH and member.metadata.instance_id is not None:
            # Kept for its session timeout, for the next incarnation to take over.
            away = replace(
                member, member_epoch=STATIC_LEAVE_EPOCH, previous_member_epoch=member.member_epoch
            )
            records.append(
                CurrentAssignmentRecord(group.group_id, member.member_id, away.current())
            )
            self.timers.cancel(revocation_key(group.group_id, member.member_id))
            return ConsumerHeartbeatResult(ErrorCode.none, member.member_id, STATIC_LEAVE_EPOCH)
        records += self.fence(group, member.member_id)
        return ConsumerHeartbeatResult(ErrorCode.none, member.member_id, LEAVE_EPOCH)

    def removal(self, group_id: str, member_id: str) -> Records:
        return [
            CurrentAssignmentRecord(group_id, member_id, None),
            TargetAssignmentMemberRecord(group_id, member_id, None),
            ConsumerMemberMetadataRecord(group_id, member_id, None),
        ]

    def fence(self, group: ConsumerGroup, member_id: str) -> Records:
        """Remove a member; the others rebalance (group epoch + 1) — or, when it was the last
        member using the consumer protocol, the group may turn back into a classic group."""
        downgrade = self.downgrade(group, member_id)
        if downgrade is not None:
            for other in group.members:
                self.cancel(group.group_id, other)
            return downgrade
        self.cancel(group.group_id, member_id)
        return [
            *self.removal(group.group_id, member_id),
            ConsumerGroupMetadataRecord(group.group_id, group.group_epoch + 1),
        ]

    def cancel(self, group_id: str, member_id: str) -> None:
        for kind in CONSUMER_TIMERS:
            self.timers.cancel((kind, group_id, member_id))

    def fire(self, kind: str, group_id: str, member_id: str) -> Records:
        """A session or revocation deadline passed: fence the member if it is still at fault."""
        group = self.groups.get(group_id)
        member = None if group is None else group.members.get(member_id)
        if group is None or member is None:
            return []
        if kind == REVOCATION and member.state is not MemberState.UNREVOKED_PARTITIONS:
            return []
        return self.fence(group, member_id)

    def after_load(self, now: int) -> None:
        """Every loaded member must heartbeat within its session timeout from now."""
        for group in self.groups.values():
            for member_id, member in group.members.items():
                self.timers.schedule(
                    session_key(group.group_id, member_id),
                    now + session_timeout_ms(member, self.group_session_timeout_ms(group.group_id)),
                )

    # --- reads and deletion -----------------------------------------------------------------------

    def describe(self, group_id: str) -> DescribedConsumerGroup:
        group = self.groups.get(group_id)
        if group is None:
            return DescribedConsumerGroup(
                group_id, ErrorCode.group_id_not_found, error_message=f"Group {group_id} not found."
            )
        default = self.config.consumer_assignors[0]
        members = tuple(
            DescribedConsumerMember(
                member_id=m.member_id,
                instance_id=m.metadata.instance_id,
                rack_id=m.metadata.rack_id,
                member_epoch=m.member_epoch,
                client_id=m.metadata.client_id,
                client_host=m.metadata.client_host,
                subscribed_topic_names=m.metadata.subscribed_topic_names,
                subscribed_topic_regex=m.metadata.subscribed_topic_regex,
                assignment=m.assigned,
                target_assignment=group.target.get(m.member_id, {}),
                uses_classic_protocol=m.metadata.classic is not None,
            )
            for m in group.members.values()
        )
        return DescribedConsumerGroup(
            group_id,
            ErrorCode.none,
            group.state.value,
            group.group_epoch,
            group.assignment_epoch,
            assignor_name(group.preferred_assignor(default)) or default,
            members,
        )

    def deletion(self, group: ConsumerGroup) -> Records:
        return [
            TargetAssignmentMetadataRecord(group.group_id, None),
            ConsumerGroupMetadataRecord(group.group_id, None),
        ]


def _check_epoch(member: ConsumerMember, req: ConsumerHeartbeatRequest) -> None:
    """Kafka's rule: ahead is fenced; behind is fenced unless it is the previous epoch retried
    (its answer was lost) and the member owns nothing beyond what it was given."""
    if req.member_epoch == member.member_epoch:
        return
    retried = (
        req.member_epoch < member.member_epoch
        and req.member_epoch == member.previous_member_epoch
        and req.owned is not None
        and partitions_of(req.owned) <= partitions_of(member.assigned)
    )
    if not retried:
        raise HeartbeatError(
            ErrorCode.fenced_member_epoch,
            f"The consumer group member has a smaller member epoch ({req.member_epoch}) than the "
            f"one known by the group coordinator ({member.member_epoch})."
            if req.member_epoch < member.member_epoch
            else f"The consumer group member has a greater member epoch ({req.member_epoch}) "
            f"than the one known by the group coordinator ({member.member_epoch}).",
        )


def _updated_metadata(
    current: ConsumerMemberMetadata | None, req: ConsumerHeartbeatRequest
) -> ConsumerMemberMetadata:
    """The member's metadata with the fields the request sets (None: unchanged)."""
    base = current or ConsumerMemberMetadata(req.client_id, req.client_host, (), -1)
    return ConsumerMemberMetadata(
        client_id=req.client_id or base.client_id,
        client_host=req.client_host or base.client_host,
        subscribed_topic_names=(
            base.subscribed_topic_names
            if req.subscribed_topic_names is None
            else tuple(req.subscribed_topic_names)
        ),
        rebalance_timeout_ms=(
            base.rebalance_timeout_ms
            if req.rebalance_timeout_ms == -1
            else req.rebalance_timeout_ms
        ),
        instance_id=req.instance_id if req.instance_id is not None else base.instance_id,
        rack_id=req.rack_id if req.rack_id is not None else base.rack_id,
        subscribed_topic_regex=(
            req.subscribed_topic_regex
            if req.subscribed_topic_regex is not None
            else base.subscribed_topic_regex
        ),
        server_assignor=(
            assignor_name(req.server_assignor)
            if req.server_assignor is not None
            else base.server_assignor
        ),
    )


def _subscription(metadata: ConsumerMemberMetadata) -> tuple[object, ...]:
    return (
        tuple(sorted(metadata.subscribed_topic_names)),
        metadata.subscribed_topic_regex,
        metadata.server_assignor,
    )


def validate_consumer_offset_commit(
    group: ConsumerGroup, member_id: str, member_epoch: int, api_version: int
) -> ErrorCode:
    """Kafka's ConsumerGroup.validateOffsetCommit (a classic-protocol member commits with its
    generation, any version, and a mismatch is ILLEGAL_GENERATION)."""
    if member_epoch < 0 and not group.members:
        return ErrorCode.none  # admin tools, when nobody is in the group
    member = group.members.get(member_id)
    if member is None:
        return ErrorCode.unknown_member_id
    classic = member.metadata.classic is not None
    if api_version < 9 and not classic:
        return ErrorCode.unsupported_version  # KIP-848 members commit with OffsetCommit v9+
    if member_epoch != member.member_epoch:
        return ErrorCode.illegal_generation if classic else ErrorCode.stale_member_epoch
    return ErrorCode.none


def validate_consumer_offset_fetch(
    group: ConsumerGroup, member_id: str | None, member_epoch: int
) -> ErrorCode:
    """Kafka's ConsumerGroup.validateOffsetFetch."""
    if member_id is None and member_epoch < 0:
        return ErrorCode.none
    member = group.members.get(member_id or "")
    if member is None:
        return ErrorCode.unknown_member_id
    if member_epoch != member.member_epoch:
        return ErrorCode.stale_member_epoch
    return ErrorCode.none
