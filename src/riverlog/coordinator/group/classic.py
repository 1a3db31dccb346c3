"""The classic group protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup and their timeouts.

Kafka's rules (its GroupMetadataManager, classic part), in short:
- A new member without a member id gets one back with MEMBER_ID_REQUIRED (JoinGroup v4+) and must join
  again with it within its session timeout; static members (`group.instance.id`) skip that round trip.
- A join in Empty, Stable or CompletingRebalance starts a rebalance; in PreparingRebalance the join phase
  ends once every member has rejoined (not before the initial delay of a new group) or at the rebalance
  timeout, dropping dynamic members that did not rejoin. The leader (first member) gets every member's
  metadata for the protocol chosen by vote, and sends the assignment with its SyncGroup.
- The leader's assignment is stored as a GroupMetadata record; its replay makes the group Stable and
  answers every parked SyncGroup (`replay.py`). A static member that rejoins during Stable with unchanged
  protocols takes over its old member id's place and assignment without a rebalance, once stored.
- A member that sends no heartbeat within its session timeout is removed (and the group rebalances);
  members parked in a rebalance count as heartbeating, except new ones (5 minute join timeout).
- Members that do not send SyncGroup within the rebalance timeout after the join phase are removed.

Timers are keys in a `DeadlineQueue`; `fire(key, now)` runs one that came due.
"""

from __future__ import annotations

from collections.abc import Callable

from kio.schema.errors import ErrorCode

from riverlog.coordinator.group.classic_common import (
    HEARTBEAT,
    JOIN,
    SYNC,
    TimerKey,
    heartbeat_key,
    inconsistent,
    join_key,
    metadata_record,
    sync_key,
    validate_existing_member,
    with_leader,
)
from riverlog.coordinator.group.config import GroupConfig
from riverlog.coordinator.group.messages import (
    UNKNOWN_MEMBER_ID,
    Effects,
    HeartbeatRequest,
    JoinGroupRequest,
    JoinGroupResult,
    LeaveGroupRequest,
    LeaveGroupResult,
    LeftMember,
    MemberIdentity,
    SyncGroupRequest,
    SyncGroupResult,
)
from riverlog.coordinator.group.records import GroupMetadataRecord, GroupMetadataValue
from riverlog.coordinator.group.state import (
    ClassicGroup,
    ClassicMember,
    GroupState,
    PendingStaticJoin,
)
from riverlog.coordinator.group.timers import DeadlineQueue

S = GroupState


class ClassicGroups:
    """Every classic group of one `__consumer_offsets` partition, and their timers."""

    def __init__(self, config: GroupConfig, new_member_id: Callable[[str], str]) -> None:
        self.config = config
        self.new_member_id = new_member_id
        self.groups: dict[str, ClassicGroup] = {}
        self.timers = DeadlineQueue()
        self.initial_delay: dict[str, tuple[int, int]] = {}  # group -> (delay, remaining)
        self.sync_generation: dict[str, int] = {}

    def get_or_create(self, group_id: str, now_ms: int) -> ClassicGroup:
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = ClassicGroup(group_id, state_timestamp_ms=now_ms)
        return group

    # --- JoinGroup ------------------------------------------------------------------------------

    def join(
        self, req: JoinGroupRequest, waiter: int, now: int, fx: Effects
    ) -> JoinGroupResult | None:
        """Answer now, or park under `waiter` (None) until the join phase completes."""
        error = self.join_request_error(req)
        if error is not ErrorCode.none:
            return JoinGroupResult(error, member_id=req.member_id)
        known = req.member_id != UNKNOWN_MEMBER_ID
        group = self.groups.get(req.group_id)
        if group is None and known:
            return JoinGroupResult(ErrorCode.unknown_member_id, member_id=req.member_id)
        if group is None and not (req.protocol_type and req.protocols):
            # Checked before the group exists, so a refused join leaves no empty group behind.
            return JoinGroupResult(ErrorCode.inconsistent_group_protocol, member_id=req.member_id)
        group = group or self.get_or_create(req.group_id, now)
        if group.is_in(S.DEAD):
            return JoinGroupResult(ErrorCode.coordinator_not_available, member_id=req.member_id)
        if not group.supports_protocols(req.protocol_type, [p.name for p in req.protocols]):
            return JoinGroupResult(ErrorCode.inconsistent_group_protocol, member_id=req.member_id)
        if not self._accepts_joining_member(group, req.member_id):
            return JoinGroupResult(ErrorCode.group_max_size_reached)
        if known:
            return self._join_existing(group, req, waiter, now, fx)
        return self._join_new(group, req, waiter, now, fx)

    def join_request_error(self, req: JoinGroupRequest) -> ErrorCode:
        if not req.group_id:
            return ErrorCode.invalid_group_id
        timeout = req.session_timeout_ms
        if not self.config.min_session_timeout_ms <= timeout <= self.config.max_session_timeout_ms:
            return ErrorCode.invalid_session_timeout
        return ErrorCode.none

    def _accepts_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        """Kafka's group.max.size check: members already in count, newcomers need room."""
        limit = self.config.max_size
        if group.is_in(S.EMPTY, S.DEAD):
            return True
        if group.is_in(S.PREPARING_REBALANCE):
            member = group.members.get(member_id)
            if member is not None and member.awaiting_join is not None:
                return True
            return group.awaiting_join_count() < limit
        return group.has_member(member_id) or len(group.members) < limit

    def _join_new(
        self, group: ClassicGroup, req: JoinGroupRequest, waiter: int, now: int, fx: Effects
    ) -> JoinGroupResult | None:
        member_id = self.new_member_id(req.group_instance_id or req.client_id)
        if req.group_instance_id is not None:
            existing = group.static_member_id(req.group_instance_id)
            if existing is not None:
                return self._rejoin_static(group, req, existing, member_id, waiter, now, fx)
        elif req.api_version >= 4:
            # The member must come back with this id; forget it if it does not within its session.
            group.pending_members.add(member_id)
            self.timers.schedule(
                heartbeat_key(group.group_id, member_id), now + req.session_timeout_ms
            )
            return JoinGroupResult(ErrorCode.member_id_required, member_id=member_id)
        self._add_member(group, req, member_id, waiter, now, fx)
        return None

    def _join_existing(
        self, group: ClassicGroup, req: JoinGroupRequest, waiter: int, now: int, fx: Effects
    ) -> JoinGroupResult | None:
        if req.member_id in group.pending_members:
            self._add_member(group, req, req.member_id, waiter, now, fx)
            return None
        error = validate_existing_member(group, req.member_id, req.group_instance_id)
        if error is not ErrorCode.none:
            return JoinGroupResult(error, member_id=req.member_id)
        member = group.members[req.member_id]
        unchanged = member.matches(req.protocols)
        if group.is_in(S.COMPLETING_REBALANCE) and unchanged:
            # It missed the JoinGroup response: answer again for the current generation.
            return self._generation_result(group, member, with_members=True)
        if group.is_in(S.STABLE) and unchanged and not group.is_leader(member.member_id):
            return self._generation_result(group, member, with_members=False)
        if group.is_in(S.PREPARING_REBALANCE, S.COMPLETING_REBALANCE, S.STABLE):
            # A changed member, or the leader asking for a rebalance (e.g. topic metadata changed).
            self._update_member(group, member, req, waiter, fx)
            self._maybe_prepare_rebalance_or_complete_join(group, now, fx)
            return None
        return JoinGroupResult(ErrorCode.unknown_member_id, member_id=req.member_id)

    def _generation_result(
        self, group: ClassicGroup, member: ClassicMember, with_members: bool
    ) -> JoinGroupResult:
        leader = group.is_leader(member.member_id)
        return JoinGroupResult(
            ErrorCode.none,
            member_id=member.member_id,
            generation_id=group.generation_id,
            protocol_type=group.protocol_type,
            protocol_name=group.protocol_name,
            leader=group.leader_id or "",
            members=group.join_members() if with_members and leader else (),
        )

    def _add_member(
        self,
        group: ClassicGroup,
        req: JoinGroupRequest,
        member_id: str,
        waiter: int,
        now: int,
        fx: Effects,
    ) -> None:
        member = self._member_from(req, member_id)
        member.awaiting_join, member.is_new = waiter, True
        if group.is_in(S.PREPARING_REBALANCE) and group.generation_id == 0:
            group.new_member_added = True  # lets the initial delay be extended
        group.add(member)
        # A new member cannot heartbeat before its first JoinGroup answer; give it the join timeout.
        self.timers.schedule(
            heartbeat_key(group.group_id, member_id), now + self.config.new_member_join_timeout_ms
        )
        self._maybe_prepare_rebalance_or_complete_join(group, now, fx)

    @staticmethod
    def _member_from(req: JoinGroupRequest, member_id: str) -> ClassicMember:
        rebalance_timeout = req.rebalance_timeout_ms
        if rebalance_timeout < 0:  # JoinGroup v0 has none: Kafka uses the session timeout
            rebalance_timeout = req.session_timeout_ms
        return ClassicMember(
            member_id=member_id,
            group_instance_id=req.group_instance_id,
            client_id=req.client_id,
            client_host=req.client_host,
            rebalance_timeout_ms=rebalance_timeout,
            session_timeout_ms=req.session_timeout_ms,
            protocol_type=req.protocol_type,
            protocols=req.protocols,
        )

    def _update_member(
        self,
        group: ClassicGroup,
        member: ClassicMember,
        req: JoinGroupRequest,
        waiter: int,
        fx: Effects,
    ) -> None:
        group.update_protocols(member, req.protocols)
        fresh = self._member_from(req, member.member_id)
        member.rebalance_timeout_ms = fresh.rebalance_timeout_ms
        member.session_timeout_ms = fresh.session_timeout_ms
        # A retried JoinGroup supersedes the one still parked (its connection is likely gone).
        fx.complete(member.awaiting_join, JoinGroupResult(ErrorCode.rebalance_in_progress))
        member.awaiting_join = waiter

    def _rejoin_static(
        self,
        group: ClassicGroup,
        req: JoinGroupRequest,
        old_id: str,
        new_id: str,
        waiter: int,
        now: int,
        fx: Effects,
    ) -> JoinGroupResult | None:
        """A known `group.instance.id` joins with no member id: it replaces its old member id."""
        instance_id = req.group_instance_id
        assert instance_id is not None
        member = self._member_from(req, new_id)
        old = group.members[old_id]
        if group.is_in(S.STABLE) and self._same_protocol_after(group, old, member):
            # No rebalance: store the renamed member; its replay answers this join.
            member.assignment = old.assignment
            renamed = [member if m.member_id == old_id else m for m in group.members.values()]
            previous = group.pending_static_joins.pop(instance_id, None)
            if previous is not None:
                fx.complete(previous.waiter, JoinGroupResult(ErrorCode.fenced_instance_id))
            group.pending_static_joins[instance_id] = PendingStaticJoin(
                old_id, member, waiter, req.api_version
            )
            assignments = {m.member_id: m.assignment for m in renamed}
            leader = new_id if group.leader_id == old_id else group.leader_id
            record = metadata_record(group, assignments, renamed)
            assert record.value is not None
            fx.records.append(
                GroupMetadataRecord(group.group_id, with_leader(record.value, leader))
            )
            return None
        # Replace now; the old member id is fenced. Its heartbeat timer dies with it.
        self._replace_static(group, instance_id, old_id, member, now)
        fx.complete(old.awaiting_join, JoinGroupResult(ErrorCode.fenced_instance_id))
        fx.complete(old.awaiting_sync, SyncGroupResult(ErrorCode.fenced_instance_id))
        member.awaiting_join = waiter
        if group.is_in(S.COMPLETING_REBALANCE):
            # The leader may already have assigned to the old id: rebalance again.
            self._prepare_rebalance(group, now, fx)
        elif group.is_in(S.STABLE):
            self._prepare_rebalance(group, now, fx)  # its protocols changed the group's choice
        else:
            self._maybe_complete_join(group, now, fx)
        return None

    @staticmethod
    def _same_protocol_after(group: ClassicGroup, old: ClassicMember, new: ClassicMember) -> bool:
        """Would the group still choose its current protocol with `new` in place of `old`?"""
        names = [p.name for p in new.protocols]
        if group.protocol_name not in names or new.protocol_type != group.protocol_type:
            return False
        trial = ClassicGroup(group.group_id, state=group.state, protocol_type=group.protocol_type)
        for m in group.members.values():
            trial.add(new if m is old else m)
        return trial.select_protocol() == group.protocol_name

    def _replace_static(
        self, group: ClassicGroup, instance_id: str, old_id: str, new: ClassicMember, now: int
    ) -> None:
        group.replace_static_member(instance_id, old_id, new)
        self.timers.cancel(heartbeat_key(group.group_id, old_id))
        self.timers.schedule(
            heartbeat_key(group.group_id, new.member_id), now + new.session_timeout_ms
        )

    # --- rebalancing ----------------------------------------------------------------------------

    def _maybe_prepare_rebalance_or_complete_join(
        self, group: ClassicGroup, now: int, fx: Effects
    ) -> None:
        if group.can_rebalance():
            self._prepare_rebalance(group, now, fx)
        else:
            self._maybe_complete_join(group, now, fx)

    def prepare_rebalance(self, group: ClassicGroup, now: int, fx: Effects) -> None:
        """Start a rebalance (a downgraded group's first, once its record is replayed)."""
        self._prepare_rebalance(group, now, fx)

    def _prepare_rebalance(self, group: ClassicGroup, now: int, fx: Effects) -> None:
        # 1. Members waiting for an assignment must rejoin instead.
        if group.is_in(S.COMPLETING_REBALANCE):
            self._reset_assignment(group, ErrorCode.rebalance_in_progress, fx)
        self.timers.cancel(sync_key(group.group_id))
        self.sync_generation.pop(group.group_id, None)
        # 2. A new group waits the initial delay (extended while members keep arriving); otherwise
        #    members have the rebalance timeout to rejoin.
        initial = group.is_in(S.EMPTY)
        if initial:
            delay = self.config.initial_rebalance_delay_ms
            remaining = max(group.rebalance_timeout_ms() - delay, 0)
            self.initial_delay[group.group_id] = (delay, remaining)
            self.timers.schedule(join_key(group.group_id), now + delay)
        else:
            self.initial_delay.pop(group.group_id, None)
            self.timers.schedule(join_key(group.group_id), now + group.rebalance_timeout_ms())
        group.transition_to(S.PREPARING_REBALANCE, now)
        if not initial:
            self._maybe_complete_join(group, now, fx)

    def _maybe_complete_join(self, group: ClassicGroup, now: int, fx: Effects) -> None:
        if (
            group.is_in(S.PREPARING_REBALANCE)
            and group.has_all_members_joined()
            and group.previous_state is not S.EMPTY
        ):
            self._complete_join(group, now, fx)

    def _complete_join(self, group: ClassicGroup, now: int, fx: Effects) -> None:
        gid = group.group_id
        self.timers.cancel(join_key(gid))
        self.initial_delay.pop(gid, None)
        # 1. Dynamic members that did not rejoin are out (static ones keep their place).
        for member in group.not_yet_rejoined():
            if member.group_instance_id is None:
                self._drop_member(group, member, ErrorCode.unknown_member_id, fx)
        # 2. Nobody left: the generation ends empty, which is stored (the replay makes it Empty).
        if not group.members:
            fx.records.append(self._empty_generation_record(group, now))
            return
        # 3. A new generation: answer every parked join; the leader gets the members' metadata.
        group.init_next_generation(now)
        for member in group.members.values():
            result = self._generation_result(group, member, with_members=True)
            fx.complete(member.awaiting_join, result)
            member.awaiting_join, member.is_new = None, False
            self.timers.schedule(
                heartbeat_key(gid, member.member_id), now + member.session_timeout_ms
            )
        # 4. Every member must now SyncGroup within the rebalance timeout.
        group.pending_sync_members = set(group.members)
        self.sync_generation[gid] = group.generation_id
        self.timers.schedule(sync_key(gid), now + group.rebalance_timeout_ms())

    @staticmethod
    def _empty_generation_record(group: ClassicGroup, now: int) -> GroupMetadataRecord:
        return GroupMetadataRecord(
            group.group_id,
            GroupMetadataValue(
                protocol_type=group.protocol_type or "",
                generation=group.generation_id + 1,
                protocol=None,
                leader=None,
                current_state_timestamp=now,
                members=(),
            ),
        )

    def _reset_assignment(self, group: ClassicGroup, error: ErrorCode, fx: Effects) -> None:
        """Answer every parked SyncGroup with `error` and forget the assignments."""
        for member in group.members.values():
            member.assignment = b""
            fx.complete(member.awaiting_sync, SyncGroupResult(error))
            member.awaiting_sync = None

    def _drop_member(
        self, group: ClassicGroup, member: ClassicMember, error: ErrorCode, fx: Effects
    ) -> None:
        fx.complete(member.awaiting_join, JoinGroupResult(error, member_id=member.member_id))
        fx.complete(member.awaiting_sync, SyncGroupResult(error))
        group.remove(member.member_id)
        self.timers.cancel(heartbeat_key(group.group_id, member.member_id))

    def remove_member_and_rebalance(
        self, group: ClassicGroup, member: ClassicMember, now: int, fx: Effects
    ) -> None:
        """A member left or timed out: the others rebalance without it."""
        # A parked join gets UNKNOWN_MEMBER_ID so a live client simply joins again.
        self._drop_member(group, member, ErrorCode.unknown_member_id, fx)
        if group.is_in(S.STABLE, S.COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance_or_complete_join(group, now, fx)
        elif group.is_in(S.PREPARING_REBALANCE):
            self._maybe_complete_join(group, now, fx)

    def _remove_pending_member(
        self, group: ClassicGroup, member_id: str, now: int, fx: Effects
    ) -> None:
        group.pending_members.discard(member_id)
        self.timers.cancel(heartbeat_key(group.group_id, member_id))
        if group.is_in(S.PREPARING_REBALANCE):
            self._maybe_complete_join(group, now, fx)

    # --- SyncGroup ------------------------------------------------------------------------------

    def sync(
        self, req: SyncGroupRequest, waiter: int, now: int, fx: Effects
    ) -> SyncGroupResult | None:
        group = self.groups.get(req.group_id)
        error = self._sync_error(group, req)
        if error is not ErrorCode.none or group is None:
            return SyncGroupResult(error)
        member = group.members[req.member_id]
        group.pending_sync_members.discard(req.member_id)
        if group.is_in(S.STABLE):
            return SyncGroupResult(
                ErrorCode.none, group.protocol_type, group.protocol_name, member.assignment
            )
        # CompletingRebalance: park; the leader's assignment is stored and its replay answers all.
        fx.complete(member.awaiting_sync, SyncGroupResult(ErrorCode.rebalance_in_progress))
        member.awaiting_sync = waiter
        if group.is_leader(req.member_id):
            given = dict(req.assignments)
            assignments = {mid: given.get(mid, b"") for mid in group.members}
            fx.records.append(metadata_record(group, assignments))
        return None

    @staticmethod
    def _sync_error(group: ClassicGroup | None, req: SyncGroupRequest) -> ErrorCode:
        if group is None:
            return ErrorCode.unknown_member_id
        if group.is_in(S.DEAD):
            return ErrorCode.coordinator_not_available
        error = validate_existing_member(group, req.member_id, req.group_instance_id)
        if error is not ErrorCode.none:
            return error
        if req.generation_id != group.generation_id:
            return ErrorCode.illegal_generation
        if inconsistent(req.protocol_type, group.protocol_type) or inconsistent(
            req.protocol_name, group.protocol_name
        ):
            return ErrorCode.inconsistent_group_protocol
        if group.is_in(S.EMPTY):
            return ErrorCode.unknown_member_id
        if group.is_in(S.PREPARING_REBALANCE):
            return ErrorCode.rebalance_in_progress
        return ErrorCode.none

    # --- Heartbeat ------------------------------------------------------------------------------

    def heartbeat(self, req: HeartbeatRequest, now: int) -> ErrorCode:
        group = self.groups.get(req.group_id)
        if group is None:
            return ErrorCode.unknown_member_id
        if group.is_in(S.DEAD):
            return ErrorCode.coordinator_not_available
        error = validate_existing_member(group, req.member_id, req.group_instance_id)
        if error is not ErrorCode.none:
            return error
        if req.generation_id != group.generation_id:
            return ErrorCode.illegal_generation
        if group.is_in(S.EMPTY):
            return ErrorCode.unknown_member_id
        member = group.members[req.member_id]
        self.timers.schedule(
            heartbeat_key(group.group_id, member.member_id), now + member.session_timeout_ms
        )
        if group.is_in(S.PREPARING_REBALANCE):
            return ErrorCode.rebalance_in_progress
        return ErrorCode.none

    # --- LeaveGroup -----------------------------------------------------------------------------

    def leave(self, req: LeaveGroupRequest, now: int, fx: Effects) -> LeaveGroupResult:
        group = self.groups.get(req.group_id)
        if group is None:
            return LeaveGroupResult(
                ErrorCode.none,
                tuple(
                    LeftMember(m.member_id, m.group_instance_id, ErrorCode.unknown_member_id)
                    for m in req.members
                ),
            )
        if group.is_in(S.DEAD):
            return LeaveGroupResult(ErrorCode.coordinator_not_available)
        left = tuple(
            LeftMember(m.member_id, m.group_instance_id, self._leave_one(group, m, now, fx))
            for m in req.members
        )
        return LeaveGroupResult(ErrorCode.none, left)

    def _leave_one(
        self, group: ClassicGroup, identity: MemberIdentity, now: int, fx: Effects
    ) -> ErrorCode:
        member_id = identity.member_id
        if identity.group_instance_id is None:
            if member_id in group.pending_members:
                self._remove_pending_member(group, member_id, now, fx)
                return ErrorCode.none
            member = group.members.get(member_id)
        else:
            current = group.static_member_id(identity.group_instance_id)
            if current is None:
                return ErrorCode.unknown_member_id
            if member_id != UNKNOWN_MEMBER_ID and member_id != current:
                return ErrorCode.fenced_instance_id
            member = group.members.get(current)
        if member is None:
            return ErrorCode.unknown_member_id
        self.remove_member_and_rebalance(group, member, now, fx)
        return ErrorCode.none

    # --- timers ---------------------------------------------------------------------------------

    def fire(self, key: TimerKey, now: int, fx: Effects) -> None:
        kind, group_id, member_id = key
        group = self.groups.get(group_id)
        if group is None or group.is_in(S.DEAD):
            return
        if kind == HEARTBEAT:
            self._expire_member(group, member_id, now, fx)
        elif kind == JOIN:
            self._join_deadline(group, now, fx)
        elif kind == SYNC:
            self._expire_pending_sync(group, now, fx)

    def _expire_member(self, group: ClassicGroup, member_id: str, now: int, fx: Effects) -> None:
        if member_id in group.pending_members:
            self._remove_pending_member(group, member_id, now, fx)
            return
        member = group.members.get(member_id)
        if member is not None and not member.has_satisfied_heartbeat:
            self.remove_member_and_rebalance(group, member, now, fx)

    def _join_deadline(self, group: ClassicGroup, now: int, fx: Effects) -> None:
        if not group.is_in(S.PREPARING_REBALANCE):
            return
        initial = self.initial_delay.pop(group.group_id, None)
        if initial is not None:
            delay, remaining = initial
            if group.new_member_added and remaining != 0:
                # Members keep arriving: wait once more, within the rebalance timeout.
                group.new_member_added = False
                next_delay = min(self.config.initial_rebalance_delay_ms, remaining)
                self.initial_delay[group.group_id] = (next_delay, max(remaining - delay, 0))
                self.timers.schedule(join_key(group.group_id), now + next_delay)
                return
        self._complete_join(group, now, fx)

    def _expire_pending_sync(self, group: ClassicGroup, now: int, fx: Effects) -> None:
        generation = self.sync_generation.pop(group.group_id, None)
        if generation != group.generation_id or not group.is_in(S.COMPLETING_REBALANCE, S.STABLE):
            return
        if not group.pending_sync_members:
            return
        for member_id in list(group.pending_sync_members):
            member = group.members.get(member_id)
            if member is not None:
                self._drop_member(group, member, ErrorCode.unknown_member_id, fx)
        self._prepare_rebalance(group, now, fx)

    # --- failed writes --------------------------------------------------------------------------

    def write_failed(self, group_id: str, error: ErrorCode, now: int, fx: Effects) -> None:
        """A record of this group could not be appended: undo what waited for it, as Kafka does."""
        group = self.groups.get(group_id)
        if group is None:
            return
        for pending in group.pending_static_joins.values():
            fx.complete(pending.waiter, JoinGroupResult(error, member_id=pending.member.member_id))
        group.pending_static_joins.clear()
        if group.is_in(S.COMPLETING_REBALANCE):
            self._reset_assignment(group, error, fx)
            self._maybe_prepare_rebalance_or_complete_join(group, now, fx)
        elif group.is_in(S.PREPARING_REBALANCE) and not group.members:
            # The empty generation was not stored; Kafka's group is Empty in memory all the same.
            group.generation_id += 1
            group.protocol_name = group.leader_id = None
            group.transition_to(S.EMPTY, now)
