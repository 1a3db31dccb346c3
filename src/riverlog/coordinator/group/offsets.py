"""Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and expiry (Kafka's OffsetMetadataManager).

State: group -> (topic, partition) -> the last committed `OffsetCommitValue`. It changes only by replay of
OffsetCommit records (a tombstone deletes), so after a restart the offsets are whatever the partition
holds. Replaying a commit for a group that does not exist creates it as an Empty classic group without a
protocol type — Kafka's "simple" group of consumers that assign partitions themselves.

Who may commit (Kafka's ClassicGroup.validateOffsetCommit):
- generation -1 while the group is Empty (or does not exist yet): anyone (admin tools, manual assignment);
- otherwise the caller must be a member (static members by instance id) of the current generation;
  during CompletingRebalance commits are refused with REBALANCE_IN_PROGRESS.
Expiry (`offsets.retention.minutes`): an Empty group's offsets expire that long after it became Empty; a
Stable consumer group's offsets of topics it no longer subscribes to, and a simple group's offsets, that
long after their commit. An Empty group left with no offsets is deleted.

Transactional offsets (TxnOffsetCommit, Kafka's pending transactional offsets): the records are written
in a transactional batch by the producer's id and epoch and, on replay, held in `pending` by producer
id; the COMMIT marker on this partition makes them committed (unless a plain commit of the same
partition was replayed after them: log order wins), the ABORT marker drops them. Replay order is log
order, so `_sequence` (one tick per replayed commit) stands in for the record's log offset.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from riverlog.coordinator.group.classic import ClassicGroups
from riverlog.coordinator.group.classic_common import validate_existing_member
from riverlog.coordinator.group.config import GroupConfig
from riverlog.coordinator.group.consumer import (
    ConsumerGroups,
    validate_consumer_offset_commit,
)
from riverlog.coordinator.group.consumer_group import ConsumerGroup
from riverlog.coordinator.group.messages import (
    UNKNOWN_MEMBER_ID,
    FetchedOffset,
    OffsetCommitRequest,
    OffsetCommitResult,
    OffsetFetchResult,
    TopicErrors,
)
from riverlog.coordinator.group.records import (
    CoordinatorRecord,
    GroupMetadataRecord,
    OffsetCommitRecord,
    OffsetCommitValue,
)
from riverlog.coordinator.group.state import ClassicGroup, GroupState

S = GroupState
TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class _Pending:
    sequence: int  # replay order of the record (stands in for its log offset)
    value: OffsetCommitValue


class OffsetStore:
    def __init__(
        self, groups: ClassicGroups, consumer: ConsumerGroups, config: GroupConfig
    ) -> None:
        self.groups = groups
        self.consumer = consumer
        self.config = config
        self.offsets: dict[str, dict[TopicPartition, OffsetCommitValue]] = {}
        self.pending: dict[int, dict[str, dict[TopicPartition, _Pending]]] = {}  # by producer id
        self._sequence = 0
        self._committed_at: dict[tuple[str, TopicPartition], int] = {}  # sequence of the commit

    # --- replay ---------------------------------------------------------------------------------

    def replay(self, record: OffsetCommitRecord, now: int) -> None:
        tp = (record.topic, record.partition)
        if record.value is None:
            committed = self.offsets.get(record.group)
            if committed is not None:
                committed.pop(tp, None)
                if not committed:
                    del self.offsets[record.group]
            return
        if record.group not in self.consumer.groups:
            self.groups.get_or_create(record.group, now)
        self._sequence += 1
        self._committed_at[(record.group, tp)] = self._sequence
        self.offsets.setdefault(record.group, {})[tp] = record.value

    def replay_transactional(self, producer_id: int, record: OffsetCommitRecord, now: int) -> None:
        """A TxnOffsetCommit record: pending until the producer's transaction ends."""
        if record.value is None:
            return  # transactions never delete offsets
        if record.group not in self.consumer.groups:
            self.groups.get_or_create(record.group, now)
        self._sequence += 1
        by_group = self.pending.setdefault(producer_id, {}).setdefault(record.group, {})
        by_group[(record.topic, record.partition)] = _Pending(self._sequence, record.value)

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        """A COMMIT/ABORT marker of the producer: its pending offsets are committed or dropped."""
        pending = self.pending.pop(producer_id, {})
        if not commit:
            return
        for group_id, by_partition in pending.items():
            for tp, entry in by_partition.items():
                if self._committed_at.get((group_id, tp), 0) < entry.sequence:
                    self._committed_at[(group_id, tp)] = entry.sequence
                    self.offsets.setdefault(group_id, {})[tp] = entry.value

    def has_pending(self, group_id: str, tp: TopicPartition) -> bool:
        """Whether an open transaction holds an offset for the partition (UNSTABLE_OFFSET_COMMIT)."""
        return any(tp in groups.get(group_id, {}) for groups in self.pending.values())

    def forget_group(self, group_id: str) -> None:
        self.offsets.pop(group_id, None)
        for tp in [key for key in self._committed_at if key[0] == group_id]:
            del self._committed_at[tp]

    # --- OffsetCommit ---------------------------------------------------------------------------

    def commit(
        self, req: OffsetCommitRequest, now: int
    ) -> tuple[list[CoordinatorRecord], OffsetCommitResult]:
        error = self._commit_error(req)
        if error is not ErrorCode.none:
            return [], OffsetCommitResult(_all(req, error))
        return self._commit_records(req, now)

    def _commit_records(
        self, req: OffsetCommitRequest, now: int
    ) -> tuple[list[CoordinatorRecord], OffsetCommitResult]:
        expire = now + req.retention_time_ms if req.retention_time_ms >= 0 else -1
        records: list[CoordinatorRecord] = []
        topics = []
        for topic, partitions in req.topics:
            answers = []
            for p in partitions:
                metadata = p.metadata or ""
                if len(metadata.encode()) > self.config.offset_metadata_max_bytes:
                    answers.append((p.partition, ErrorCode.offset_metadata_too_large))
                    continue
                value = OffsetCommitValue(p.offset, metadata, now, p.leader_epoch, expire)
                records.append(OffsetCommitRecord(req.group_id, topic, p.partition, value))
                answers.append((p.partition, ErrorCode.none))
            topics.append((topic, tuple(answers)))
        return records, OffsetCommitResult(tuple(topics))

    def _commit_error(self, req: OffsetCommitRequest) -> ErrorCode:
        if not req.group_id:
            return ErrorCode.invalid_group_id
        consumer_group = self.consumer.groups.get(req.group_id)
        if consumer_group is not None:
            return validate_consumer_offset_commit(
                consumer_group, req.member_id, req.generation_id, req.api_version
            )
        group = self.groups.groups.get(req.group_id)
        if group is None:
            if req.generation_id < 0:
                return ErrorCode.none  # a simple group, created when the commit is replayed
            # OffsetCommit v9+ says so plainly; older versions get what they always got.
            if req.api_version >= 9:
                return ErrorCode.group_id_not_found
            return ErrorCode.illegal_generation
        return validate_offset_commit(group, req)

    def txn_commit(
        self, req: OffsetCommitRequest, now: int
    ) -> tuple[list[CoordinatorRecord], OffsetCommitResult]:
        """TxnOffsetCommit: the records to write transactionally (Kafka's validation for it)."""
        error = self._txn_commit_error(req)
        if error is not ErrorCode.none:
            return [], OffsetCommitResult(_all(req, error))
        return self._commit_records(req, now)

    def _txn_commit_error(self, req: OffsetCommitRequest) -> ErrorCode:
        if not req.group_id:
            return ErrorCode.invalid_group_id
        anonymous = (
            req.generation_id < 0
            and req.member_id == UNKNOWN_MEMBER_ID
            and req.group_instance_id is None
        )
        consumer_group = self.consumer.groups.get(req.group_id)
        if consumer_group is not None:
            if anonymous or (req.generation_id < 0 and not consumer_group.members):
                return ErrorCode.none
            member = consumer_group.members.get(req.member_id)
            if member is None:
                return ErrorCode.unknown_member_id
            if req.generation_id != member.member_epoch:
                return ErrorCode.stale_member_epoch
            return ErrorCode.none
        group = self.groups.groups.get(req.group_id)
        if group is None:
            return ErrorCode.none if req.generation_id < 0 else ErrorCode.illegal_generation
        return validate_txn_offset_commit(group, req)

    # --- OffsetFetch ----------------------------------------------------------------------------

    def fetch(
        self,
        group_id: str,
        topics: Iterable[tuple[str, Iterable[int]]] | None,
        require_stable: bool = False,
    ) -> OffsetFetchResult:
        """Committed offsets of the given partitions (-1 where none), or of all (`topics` None);
        with `require_stable`, UNSTABLE_OFFSET_COMMIT where a transaction holds one (KIP-447)."""
        committed = self.offsets.get(group_id, {})
        if topics is None:
            by_topic: dict[str, list[FetchedOffset]] = {}
            for (topic, partition), value in sorted(committed.items()):
                by_topic.setdefault(topic, []).append(_fetched(partition, value))
            return OffsetFetchResult(
                ErrorCode.none, tuple((t, tuple(ps)) for t, ps in by_topic.items())
            )
        answer = []
        for topic, partitions in topics:
            fetched = []
            for partition in partitions:
                found = committed.get((topic, partition))
                if require_stable and self.has_pending(group_id, (topic, partition)):
                    fetched.append(FetchedOffset(partition, error=ErrorCode.unstable_offset_commit))
                elif found is None:
                    fetched.append(FetchedOffset(partition))
                else:
                    fetched.append(_fetched(partition, found))
            answer.append((topic, tuple(fetched)))
        return OffsetFetchResult(ErrorCode.none, tuple(answer))

    # --- OffsetDelete ---------------------------------------------------------------------------

    def delete(
        self, group_id: str, topics: Iterable[tuple[str, Iterable[int]]]
    ) -> tuple[list[CoordinatorRecord], ErrorCode, TopicErrors]:
        consumer_group = self.consumer.groups.get(group_id)
        group = self.groups.groups.get(group_id)
        if consumer_group is not None:
            active = bool(consumer_group.members)
            subscribed: ClassicGroup | ConsumerGroup = consumer_group
        elif group is None or group.is_in(S.DEAD):
            return [], ErrorCode.group_id_not_found, ()
        else:
            active, subscribed = not group.is_in(S.EMPTY), group
            if active and not group.uses_consumer_protocol():
                return [], ErrorCode.non_empty_group, ()
        committed = self.offsets.get(group_id, {})
        records: list[CoordinatorRecord] = []
        answer = []
        for topic, partitions in topics:
            if active and subscribed.is_subscribed_to(topic):
                answer.append(
                    (topic, tuple((p, ErrorCode.group_subscribed_to_topic) for p in partitions))
                )
                continue
            for partition in partitions:
                if (topic, partition) in committed:
                    records.append(OffsetCommitRecord(group_id, topic, partition, None))
            answer.append((topic, tuple((p, ErrorCode.none) for p in partitions)))
        return records, ErrorCode.none, tuple(answer)

    def tombstones(self, group_id: str) -> list[CoordinatorRecord]:
        """Records deleting every committed offset of the group (DeleteGroups)."""
        return [
            OffsetCommitRecord(group_id, topic, partition, None)
            for topic, partition in self.offsets.get(group_id, {})
        ]

    # --- expiry ---------------------------------------------------------------------------------

    def expire(self, now: int) -> list[CoordinatorRecord]:
        """Tombstones for expired offsets, and for Empty groups left without any offsets."""
        records: list[CoordinatorRecord] = []
        for group_id in sorted(set(self.groups.groups) | set(self.offsets)):
            if group_id in self.consumer.groups:
                continue
            group = self.groups.groups.get(group_id)
            remaining = self._expire_group(group_id, group, now, records)
            if remaining == 0 and group is not None and group.is_in(S.EMPTY):
                records.append(GroupMetadataRecord(group_id, None))
        for group_id, consumer_group in sorted(self.consumer.groups.items()):
            remaining = self._expire_consumer_group(group_id, consumer_group, now, records)
            if remaining == 0 and not consumer_group.members:
                records += self.consumer.deletion(consumer_group)
        return records

    def _expire_consumer_group(
        self, group_id: str, group: ConsumerGroup, now: int, out: list[CoordinatorRecord]
    ) -> int:
        """Consumer groups: offsets expire from their commit time, except for subscribed topics
        while the group has members (Kafka's ConsumerGroup.offsetExpirationCondition)."""
        committed = self.offsets.get(group_id, {})
        remaining = 0
        for (topic, partition), value in sorted(committed.items()):
            held = bool(group.members) and group.is_subscribed_to(topic)
            if not held and _expired(value, value.commit_timestamp, now, self.config):
                out.append(OffsetCommitRecord(group_id, topic, partition, None))
            else:
                remaining += 1
        return remaining

    def _expire_group(
        self, group_id: str, group: ClassicGroup | None, now: int, out: list[CoordinatorRecord]
    ) -> int:
        """Append tombstones for the group's expired offsets; returns how many offsets remain."""
        committed = self.offsets.get(group_id, {})
        base = _expiry_base(group)
        if base is None:
            return len(committed)
        remaining = 0
        for (topic, partition), value in sorted(committed.items()):
            if group is not None and not group.is_in(S.EMPTY) and group.is_subscribed_to(topic):
                remaining += 1
                continue
            if _expired(value, base if base >= 0 else value.commit_timestamp, now, self.config):
                out.append(OffsetCommitRecord(group_id, topic, partition, None))
            else:
                remaining += 1
        return remaining


def validate_offset_commit(group: ClassicGroup, req: OffsetCommitRequest) -> ErrorCode:
    if group.is_in(S.DEAD):
        return ErrorCode.coordinator_not_available
    if req.generation_id < 0 and group.is_in(S.EMPTY):
        return ErrorCode.none  # admin tools and consumers that assign partitions themselves
    identified = (
        req.generation_id >= 0
        or req.member_id != UNKNOWN_MEMBER_ID
        or req.group_instance_id is not None
    )
    if identified:
        error = validate_existing_member(group, req.member_id, req.group_instance_id)
        if error is not ErrorCode.none:
            return error
        if req.generation_id != group.generation_id:
            return ErrorCode.illegal_generation
    elif not group.is_in(S.EMPTY):
        return ErrorCode.unknown_member_id
    if group.is_in(S.COMPLETING_REBALANCE):
        return ErrorCode.rebalance_in_progress
    return ErrorCode.none


def validate_txn_offset_commit(group: ClassicGroup, req: OffsetCommitRequest) -> ErrorCode:
    """Kafka's ClassicGroup.validateOffsetCommit for a transactional commit: member, generation
    and instance id are checked only when given, and a rebalance does not refuse it."""
    if group.is_in(S.DEAD):
        return ErrorCode.coordinator_not_available
    if req.generation_id < 0 and group.is_in(S.EMPTY):
        return ErrorCode.none
    identified = (
        req.generation_id >= 0
        or req.member_id != UNKNOWN_MEMBER_ID
        or req.group_instance_id is not None
    )
    if not identified:
        return ErrorCode.none
    error = validate_existing_member(group, req.member_id, req.group_instance_id)
    if error is not ErrorCode.none:
        return error
    if req.generation_id != group.generation_id:
        return ErrorCode.illegal_generation
    return ErrorCode.none


def _expiry_base(group: ClassicGroup | None) -> int | None:
    """-1: each offset's commit time; a time: since then; None: nothing expires now."""
    if group is None or not group.protocol_type:
        return -1
    if group.is_in(S.EMPTY):
        return group.state_timestamp_ms
    stable = group.is_in(S.STABLE) and group.uses_consumer_protocol()
    if stable and group.subscribed_topics is not None:
        return -1
    return None


def _expired(value: OffsetCommitValue, base: int, now: int, config: GroupConfig) -> bool:
    if value.expire_timestamp >= 0:
        return now >= value.expire_timestamp
    return now - base >= config.offsets_retention_ms


def _fetched(partition: int, value: OffsetCommitValue) -> FetchedOffset:
    return FetchedOffset(partition, value.offset, value.leader_epoch, value.metadata)


def _all(req: OffsetCommitRequest, error: ErrorCode) -> TopicErrors:
    return tuple((topic, tuple((p.partition, error) for p in parts)) for topic, parts in req.topics)
