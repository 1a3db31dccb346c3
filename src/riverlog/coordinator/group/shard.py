"""The group coordinator of one `__consumer_offsets` partition (Kafka's GroupCoordinatorShard).

Contract with the runtime that drives it (sans-IO: no sockets, files, clocks or tasks here):
1. call an operation with the current time (and, for JoinGroup/SyncGroup, a waiter ticket);
2. append the returned `records` to this shard's partition as one batch; on success `replay` each record
   in order (which may answer parked requests), on failure call `write_failed`;
3. answer with `response` unless it is None (parked), and deliver every `Completion` returned by the
   operation and by `replay`/`write_failed` to the request parked under its ticket;
4. call `tick(now)` once `next_deadline()` has passed, and `expire_offsets(now)` every
   `offsets.retention.check.interval.ms`, treating their results the same way.
Recovery is step 2 alone: replay every record of the partition, in offset order, on a fresh shard.
Operations on one shard must not interleave between steps 1 and 2 (one event loop owns it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence

from kio.schema.errors import ErrorCode

from riverlog.coordinator.group.classic import ClassicGroups
from riverlog.coordinator.group.classic_common import TimerKey
from riverlog.coordinator.group.config import GroupConfig
from riverlog.coordinator.group.consumer import (
    CONSUMER_TIMERS,
    ConsumerGroups,
    TopicsView,
    session_key,
    session_timeout_ms,
    validate_consumer_offset_fetch,
)
from riverlog.coordinator.group.consumer_classic import (
    classic_heartbeat,
    classic_join,
    classic_leave,
    classic_sync,
)
from riverlog.coordinator.group.consumer_group import ConsumerGroup, replay_consumer_record
from riverlog.coordinator.group.consumer_protocol import CONSUMER_PROTOCOL_TYPE
from riverlog.coordinator.group.consumer_records import ConsumerGroupMetadataRecord
from riverlog.coordinator.group.messages import (
    Completion,
    ConsumerHeartbeatRequest,
    ConsumerHeartbeatResult,
    CoordinatorResult,
    DescribedConsumerGroup,
    DescribedGroup,
    DescribedMember,
    Effects,
    HeartbeatRequest,
    JoinGroupRequest,
    JoinGroupResult,
    LeaveGroupRequest,
    LeaveGroupResult,
    ListedGroup,
    OffsetCommitRequest,
    OffsetCommitResult,
    OffsetFetchResult,
    SyncGroupRequest,
    SyncGroupResult,
    TopicErrors,
)
from riverlog.coordinator.group.migration import can_downgrade, can_upgrade, downgrade, upgrade
from riverlog.coordinator.group.offsets import OffsetStore
from riverlog.coordinator.group.records import (
    CoordinatorRecord,
    GroupMetadataRecord,
    OffsetCommitRecord,
)
from riverlog.coordinator.group.replay import replay_group_metadata
from riverlog.coordinator.group.state import ClassicGroup, GroupState

CLASSIC_GROUP_TYPE, CONSUMER_GROUP_TYPE = "classic", "consumer"


def _not_a_consumer_group(group_id: str) -> CoordinatorResult[ConsumerHeartbeatResult]:
    error = ErrorCode.group_id_not_found
    message = f"Group {group_id} is not a consumer group."
    return CoordinatorResult(response=ConsumerHeartbeatResult(error, error_message=message))


class TimerFailed(Exception):
    """Firing one timer raised (a coordinator bug, never a client's doing). The timer is gone;
    `done` holds the records and completions of the timers fired before it in the same tick,
    which the runtime must still apply. The original exception is the `__cause__`."""

    def __init__(self, timer: TimerKey, done: CoordinatorResult[None]) -> None:
        super().__init__(f"timer {timer} failed")
        self.timer = timer
        self.done = done


def random_member_id(prefix: str) -> str:
    """Kafka's member ids: the client id (or group instance id), a dash and a random UUID."""
    return f"{prefix}-{uuid.uuid4()}"


class GroupCoordinatorShard:
    def __init__(
        self,
        config: GroupConfig,
        new_member_id: Callable[[str], str] = random_member_id,
        topics: Callable[[], TopicsView] = dict,
    ) -> None:
        """`topics`: the cluster's topics now (name -> id, partition count), for classic-protocol
        members of consumer groups and the migrations between the two kinds of group."""
        self.config = config
        self.topics = topics
        self.classic = ClassicGroups(config, new_member_id)
        self.consumer = ConsumerGroups(config, self.classic.timers)
        self.consumer.downgrade = self._maybe_downgrade
        self.offsets = OffsetStore(self.classic, self.consumer, config)
        # Downgraded groups whose classic record is not replayed yet: group -> its generation.
        # The replay starts the classic group's first rebalance (soft state, as Kafka's).
        self.pending_rebalances: dict[str, int] = {}

    @property
    def groups(self) -> dict[str, ClassicGroup]:
        return self.classic.groups

    # --- membership -----------------------------------------------------------------------------

    def join_group(
        self, req: JoinGroupRequest, waiter: int, now: int
    ) -> CoordinatorResult[JoinGroupResult]:
        fx = Effects()
        consumer_group = self.consumer.groups.get(req.group_id)
        if consumer_group is not None:
            if consumer_group.members:
                # A classic member in a consumer group (KIP-848 migration): answered at once.
                error = self.classic.join_request_error(req)
                if error is not ErrorCode.none:
                    return fx.result(JoinGroupResult(error, member_id=req.member_id))
                records: list[CoordinatorRecord] = []
                joined = classic_join(
                    self.consumer, consumer_group, req, self.topics(), now, records
                )
                return CoordinatorResult(records, joined)
            fx.extend(self.consumer.deletion(consumer_group))
        return fx.result(self.classic.join(req, waiter, now, fx))

    def consumer_group_heartbeat(
        self, req: ConsumerHeartbeatRequest, topics: TopicsView, now: int
    ) -> CoordinatorResult[ConsumerHeartbeatResult]:
        """KIP-848 ConsumerGroupHeartbeat; a classic group of that id is converted when it is
        empty, or upgraded with its members when the migration policy allows (`migration.py`)."""
        records: list[CoordinatorRecord] = []
        answers: list[Completion] = []
        converted = None
        classic = self.groups.get(req.group_id)
        if classic is not None and req.group_id not in self.consumer.groups:
            upgraded = None
            if req.member_epoch == 0 and not classic.is_in(GroupState.EMPTY):
                if can_upgrade(classic, self.config):
                    upgraded = upgrade(classic, topics)
                if upgraded is None:
                    return _not_a_consumer_group(req.group_id)
                converted, records, answers = upgraded
            elif req.member_epoch == 0:
                records.append(GroupMetadataRecord(req.group_id, None))
            else:
                return _not_a_consumer_group(req.group_id)
        result = self.consumer.heartbeat(req, topics, now, records, converted)
        if result.error is not ErrorCode.none:
            return CoordinatorResult([], result)
        if converted is not None:
            for member_id, member in converted.members.items():
                if member_id != result.member_id:
                    group_timeout = self.consumer.group_session_timeout_ms(req.group_id)
                    deadline = now + session_timeout_ms(member, group_timeout)
                    self.classic.timers.schedule(session_key(req.group_id, member_id), deadline)
        return CoordinatorResult(records, result, answers)

    def _maybe_downgrade(
        self, group: ConsumerGroup, leaving: str
    ) -> list[CoordinatorRecord] | None:
        """Records turning `group` back into a classic group as `leaving` goes, or None."""
        if not can_downgrade(group, leaving, self.config):
            return None
        self.pending_rebalances[group.group_id] = group.group_epoch
        return downgrade(group, leaving, self.topics())

    def describe_consumer_group(self, group_id: str) -> DescribedConsumerGroup:
        """ConsumerGroupDescribe: a classic group is not a consumer group (GROUP_ID_NOT_FOUND)."""
        if group_id in self.groups:
            error = ErrorCode.group_id_not_found
            return DescribedConsumerGroup(
                group_id, error, error_message=f"Group {group_id} is not a consumer group."
            )
        return self.consumer.describe(group_id)

    def sync_group(
        self, req: SyncGroupRequest, waiter: int, now: int
    ) -> CoordinatorResult[SyncGroupResult]:
        consumer_group = self.consumer.groups.get(req.group_id)
        if consumer_group is not None:
            topics = self.topics()
            return CoordinatorResult(
                response=classic_sync(self.consumer, consumer_group, req, topics, now)
            )
        fx = Effects()
        return fx.result(self.classic.sync(req, waiter, now, fx))

    def heartbeat(self, req: HeartbeatRequest, now: int) -> CoordinatorResult[ErrorCode]:
        consumer_group = self.consumer.groups.get(req.group_id)
        if consumer_group is not None:
            return CoordinatorResult(
                response=classic_heartbeat(self.consumer, consumer_group, req, now)
            )
        return CoordinatorResult(response=self.classic.heartbeat(req, now))

    def leave_group(self, req: LeaveGroupRequest, now: int) -> CoordinatorResult[LeaveGroupResult]:
        consumer_group = self.consumer.groups.get(req.group_id)
        if consumer_group is not None:
            records: list[CoordinatorRecord] = []
            left = classic_leave(self.consumer, consumer_group, req, records)
            return CoordinatorResult(records, left)
        fx = Effects()
        return fx.result(self.classic.leave(req, now, fx))

    # --- offsets --------------------------------------------------------------------------------

    def commit_offsets(
        self, req: OffsetCommitRequest, now: int
    ) -> CoordinatorResult[OffsetCommitResult]:
        records, result = self.offsets.commit(req, now)
        return CoordinatorResult(records, result)

    def txn_commit_offsets(
        self, req: OffsetCommitRequest, now: int
    ) -> CoordinatorResult[OffsetCommitResult]:
        """TxnOffsetCommit: records the runtime must append in the producer's transaction and
        replay with `replay(record, now, producer_id)`."""
        records, result = self.offsets.txn_commit(req, now)
        return CoordinatorResult(records, result)

    def fetch_offsets(
        self,
        group_id: str,
        topics: Iterable[tuple[str, Iterable[int]]] | None,
        member_id: str | None = None,
        member_epoch: int = -1,
        require_stable: bool = False,
    ) -> OffsetFetchResult:
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            error = validate_consumer_offset_fetch(consumer_group, member_id, member_epoch)
            if error is not ErrorCode.none:
                return OffsetFetchResult(error)
        return self.offsets.fetch(group_id, topics, require_stable)

    def delete_offsets(
        self, group_id: str, topics: Iterable[tuple[str, Iterable[int]]]
    ) -> CoordinatorResult[tuple[ErrorCode, TopicErrors]]:
        records, error, answer = self.offsets.delete(group_id, topics)
        return CoordinatorResult(records, (error, answer))

    def expire_offsets(self, now: int) -> CoordinatorResult[None]:
        return CoordinatorResult(self.offsets.expire(now))

    # --- administration -------------------------------------------------------------------------

    def describe_group(self, group_id: str) -> DescribedGroup:
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            return _describe_consumer_group_classically(consumer_group)
        group = self.groups.get(group_id)
        if group is None:
            return DescribedGroup(group_id, ErrorCode.none, GroupState.DEAD.value)
        stable = group.is_in(GroupState.STABLE)
        members = tuple(
            DescribedMember(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                metadata=m.metadata(group.protocol_name) if stable else b"",
                assignment=m.assignment if stable else b"",
            )
            for m in group.members.values()
        )
        return DescribedGroup(
            group_id,
            ErrorCode.none,
            group.state.value,
            group.protocol_type or "",
            (group.protocol_name or "") if stable else "",
            members,
        )

    def list_groups(
        self, states: Sequence[str] = (), types: Sequence[str] = ()
    ) -> list[ListedGroup]:
        """Groups matching the filters (case-insensitive; an empty filter matches everything)."""
        wanted_states = {s.lower() for s in states}
        wanted_types = {t.lower() for t in types}
        listed = [
            ListedGroup(g.group_id, g.protocol_type or "", g.state.value, CLASSIC_GROUP_TYPE)
            for g in self.groups.values()
        ]
        listed += [
            ListedGroup(g.group_id, CONSUMER_PROTOCOL_TYPE, g.state.value, CONSUMER_GROUP_TYPE)
            for g in self.consumer.groups.values()
        ]
        return [
            g
            for g in listed
            if (not wanted_states or g.state.lower() in wanted_states)
            and (not wanted_types or g.group_type in wanted_types)
        ]

    def delete_group(self, group_id: str) -> CoordinatorResult[ErrorCode]:
        """DeleteGroups for one group: only an Empty group; its offsets go with it."""
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            if consumer_group.members:
                return CoordinatorResult(response=ErrorCode.non_empty_group)
            deleted = self.offsets.tombstones(group_id) + self.consumer.deletion(consumer_group)
            return CoordinatorResult(deleted, ErrorCode.none)
        group = self.groups.get(group_id)
        if group is None or group.is_in(GroupState.DEAD):
            return CoordinatorResult(response=ErrorCode.group_id_not_found)
        if not group.is_in(GroupState.EMPTY):
            return CoordinatorResult(response=ErrorCode.non_empty_group)
        records: list[CoordinatorRecord] = self.offsets.tombstones(group_id)
        records.append(GroupMetadataRecord(group_id, None))
        return CoordinatorResult(records, ErrorCode.none)

    # --- time -----------------------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        return self.classic.timers.next_deadline()

    def tick(self, now: int) -> CoordinatorResult[None]:
        """Fire due timers, stopping after the first that produces records (they must be replayed
        before the next timer looks at the group); call again while `next_deadline() <= now`.

        A timer whose firing raises is dropped (it is popped first) and reported as `TimerFailed`,
        which carries what the timers fired before it produced: one group's failure never holds
        up another group's timeouts."""
        fx = Effects()
        while not fx.records:
            key = self.classic.timers.pop_due(now)
            if key is None:
                break
            timer = _timer_key(key)
            fired = Effects()
            try:
                self._fire(timer, now, fired)
            except Exception as exc:
                raise TimerFailed(timer, fx.result(None)) from exc
            fx.extend(fired.records)
            fx.completions.extend(fired.completions)
        return fx.result(None)

    def _fire(self, timer: TimerKey, now: int, fx: Effects) -> None:
        kind, group_id, member_id = timer
        if kind in CONSUMER_TIMERS:
            fx.extend(self.consumer.fire(kind, group_id, member_id))
        else:
            self.classic.fire(timer, now, fx)

    # --- replay ---------------------------------------------------------------------------------

    def replay(
        self, record: CoordinatorRecord, now: int, producer_id: int = -1
    ) -> list[Completion]:
        """Apply one record; `producer_id` >= 0 for a record of a transactional batch."""
        fx = Effects()
        if isinstance(record, OffsetCommitRecord) and producer_id >= 0:
            self.offsets.replay_transactional(producer_id, record, now)
        elif isinstance(record, OffsetCommitRecord):
            self.offsets.replay(record, now)
        elif isinstance(record, GroupMetadataRecord):
            replay_group_metadata(self.classic, record.group, record.value, now, fx)
            self._maybe_rebalance_downgraded(record, now, fx)
        else:
            replay_consumer_record(self.consumer.groups, record)
            if isinstance(record, ConsumerGroupMetadataRecord) and record.epoch is None:
                self.consumer.metadata_cache.pop(record.group, None)
        return fx.completions

    def _maybe_rebalance_downgraded(
        self, record: GroupMetadataRecord, now: int, fx: Effects
    ) -> None:
        generation = self.pending_rebalances.pop(record.group, None)
        group = self.groups.get(record.group)
        if generation is None or group is None or record.value is None:
            return
        if record.value.generation == generation and group.is_in(GroupState.STABLE):
            self.classic.prepare_rebalance(group, now, fx)

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        """A COMMIT/ABORT marker on this partition: the producer's pending offsets land or vanish."""
        self.offsets.replay_end_transaction(producer_id, commit)

    def loaded(self, now: int) -> None:
        """After a load: consumer-group members must heartbeat within their session from now."""
        self.consumer.after_load(now)

    def write_failed(
        self, records: Sequence[CoordinatorRecord], error: ErrorCode, now: int
    ) -> list[Completion]:
        fx = Effects()
        for group_id in dict.fromkeys(
            r.group for r in records if isinstance(r, GroupMetadataRecord)
        ):
            self.pending_rebalances.pop(group_id, None)  # a downgrade that was not stored
            self.classic.write_failed(group_id, error, now, fx)
        return fx.completions


def _describe_consumer_group_classically(group: ConsumerGroup) -> DescribedGroup:
    """DescribeGroups (the classic API) on a KIP-848 group: state and members, no metadata."""
    members = tuple(
        DescribedMember(m.member_id, m.metadata.instance_id, m.metadata.client_id,
                        m.metadata.client_host, b"", b"")
        for m in group.members.values()
    )  # fmt: skip
    return DescribedGroup(
        group.group_id, ErrorCode.none, group.state.value, CONSUMER_PROTOCOL_TYPE, "", members
    )


def _timer_key(key: object) -> TimerKey:
    assert isinstance(key, tuple) and len(key) == 3
    kind, group_id, member_id = key
    return (str(kind), str(group_id), str(member_id))
