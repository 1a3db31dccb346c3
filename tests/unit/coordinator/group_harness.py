"""Drives a GroupCoordinatorShard the way the broker runtime does, with a fake clock and an in-memory log.

Every record an operation returns is encoded to Kafka's bytes, "appended" to `log`, decoded back and
replayed, so each test also checks the on-disk format round trip; parked requests are answered into
`answers` by ticket. Due timers run after every operation (the runtime wakes at once for due deadlines).
"""

from __future__ import annotations

import itertools
import struct
import uuid
from collections.abc import Sequence
from typing import Any

from kio.schema.errors import ErrorCode

from riverlog.coordinator.group import GroupConfig, GroupCoordinatorShard
from riverlog.coordinator.group.messages import (
    ConsumerHeartbeatRequest,
    ConsumerHeartbeatResult,
    CoordinatorResult,
    HeartbeatRequest,
    JoinGroupRequest,
    JoinGroupResult,
    LeaveGroupRequest,
    LeaveGroupResult,
    MemberIdentity,
    OffsetCommitRequest,
    OffsetCommitResult,
    PartitionCommit,
    Protocol,
    SyncGroupRequest,
    SyncGroupResult,
)
from riverlog.coordinator.group.records import decode_record, encode_record

START = 1_700_000_000_000
CONFIG = GroupConfig(
    min_session_timeout_ms=1000,
    max_session_timeout_ms=60_000,
    initial_rebalance_delay_ms=0,
    offsets_retention_ms=24 * 3600 * 1000,
)


def subscription(*topics: str) -> bytes:
    """A ConsumerProtocolSubscription v0 (what Java consumers send for "range")."""
    out = struct.pack(">hi", 0, len(topics))
    for topic in topics:
        out += struct.pack(">h", len(topic)) + topic.encode()
    return out + struct.pack(">i", -1)


class Harness:
    def __init__(self, config: GroupConfig = CONFIG, now: int = START) -> None:
        self.config = config
        self.now = now
        self._ids = itertools.count(1)
        # The cluster's topics as the runtime shows them to KIP-848 heartbeats.
        self.topics: dict[str, tuple[uuid.UUID, int]] = {}
        self.shard = GroupCoordinatorShard(
            config, lambda prefix: f"{prefix}-{next(self._ids)}", lambda: self.topics
        )
        self.log: list[tuple[bytes, bytes | None]] = []
        self.answers: dict[int, Any] = {}
        self._tickets = itertools.count(1)

    # --- the runtime's contract ---

    def apply(self, result: CoordinatorResult[Any], ticket: int | None = None) -> Any:
        for record in result.records:
            key, value = encode_record(record)
            self.log.append((key, value))
            # Replay what was written (as recovery will): the format decides what is kept.
            decoded = decode_record(key, value)
            assert decoded is not None and encode_record(decoded) == (key, value)
            self._deliver(self.shard.replay(decoded, self.now))
        self._deliver(result.completions)
        if result.response is not None and ticket is not None:
            self.answers[ticket] = result.response
        self.run_timers()
        return result.response

    def _deliver(self, completions: Sequence[Any]) -> None:
        for completion in completions:
            self.answers[completion.waiter] = completion.result

    def run_timers(self) -> None:
        while (deadline := self.shard.next_deadline()) is not None and deadline <= self.now:
            self.apply(self.shard.tick(self.now))

    def advance(self, ms: int) -> None:
        """Move the clock, firing timers at each deadline on the way (as a real clock would)."""
        target = self.now + ms
        while (deadline := self.shard.next_deadline()) is not None and deadline <= target:
            self.now = max(self.now, deadline)
            self.run_timers()
        self.now = target
        self.run_timers()

    def restarted(self) -> Harness:
        """A new shard that loads this one's log (a coordinator restart)."""
        fresh = Harness(self.config, self.now)
        fresh.log = list(self.log)
        for key, value in self.log:
            record = decode_record(key, value)
            assert record is not None
            fresh.shard.replay(record, fresh.now)
        fresh.shard.loaded(fresh.now)
        fresh.topics = dict(self.topics)
        return fresh

    def add_topic(self, name: str, partitions: int) -> uuid.UUID:
        topic_id = self.topics[name][0] if name in self.topics else uuid.uuid4()
        self.topics[name] = (topic_id, partitions)
        return topic_id

    def consumer_heartbeat(
        self,
        group: str,
        member_id: str,
        epoch: int,
        *,
        topics: tuple[str, ...] | None = None,
        owned: dict[uuid.UUID, set[int]] | None = None,
        assignor: str | None = None,
        instance: str | None = None,
        rebalance: int = 30_000,
        regex: str | None = None,
    ) -> ConsumerHeartbeatResult:
        req = ConsumerHeartbeatRequest(
            group_id=group,
            member_id=member_id,
            member_epoch=epoch,
            rebalance_timeout_ms=rebalance if epoch == 0 else -1,
            subscribed_topic_names=topics,
            subscribed_topic_regex=regex,
            server_assignor=assignor,
            owned=None if owned is None else {t: frozenset(p) for t, p in owned.items()},
            instance_id=instance,
            client_id="cc",
            client_host="/127.0.0.1",
        )
        result: ConsumerHeartbeatResult = self.apply(
            self.shard.consumer_group_heartbeat(req, self.topics, self.now)
        )
        return result

    # --- requests ---

    def join(
        self,
        group: str,
        member_id: str = "",
        protocols: Sequence[tuple[str, bytes]] = (("range", b"m"),),
        *,
        session: int = 10_000,
        rebalance: int = 30_000,
        instance: str | None = None,
        version: int = 9,
        client: str = "c",
        protocol_type: str = "consumer",
    ) -> int:
        ticket = next(self._tickets)
        req = JoinGroupRequest(
            group_id=group,
            member_id=member_id,
            protocol_type=protocol_type,
            protocols=tuple(Protocol(n, m) for n, m in protocols),
            session_timeout_ms=session,
            rebalance_timeout_ms=rebalance,
            group_instance_id=instance,
            client_id=client,
            client_host="/127.0.0.1",
            api_version=version,
        )
        self.apply(self.shard.join_group(req, ticket, self.now), ticket)
        return ticket

    def join_new(self, group: str, **kwargs: Any) -> int:
        """A dynamic member's first join: the MEMBER_ID_REQUIRED round trip, then the real join."""
        first = self.answers[self.join(group, **kwargs)]
        assert first.error is ErrorCode.member_id_required
        return self.join(group, first.member_id, **kwargs)

    def sync(
        self,
        group: str,
        generation: int,
        member_id: str,
        assignments: dict[str, bytes] | None = None,
        instance: str | None = None,
    ) -> int:
        ticket = next(self._tickets)
        req = SyncGroupRequest(
            group, generation, member_id, tuple((assignments or {}).items()), instance
        )
        self.apply(self.shard.sync_group(req, ticket, self.now), ticket)
        return ticket

    def heartbeat(
        self, group: str, generation: int, member_id: str, instance: str | None = None
    ) -> ErrorCode:
        req = HeartbeatRequest(group, generation, member_id, instance)
        error: ErrorCode = self.apply(self.shard.heartbeat(req, self.now))
        return error

    def leave(self, group: str, *members: tuple[str, str | None]) -> LeaveGroupResult:
        req = LeaveGroupRequest(group, tuple(MemberIdentity(m, i) for m, i in members))
        result: LeaveGroupResult = self.apply(self.shard.leave_group(req, self.now))
        return result

    def commit(
        self,
        group: str,
        offsets: dict[tuple[str, int], int],
        generation: int = -1,
        member_id: str = "",
        *,
        version: int = 9,
        metadata: str = "",
        instance: str | None = None,
        retention: int = -1,
    ) -> dict[tuple[str, int], ErrorCode]:
        topics: dict[str, list[PartitionCommit]] = {}
        for (topic, partition), offset in offsets.items():
            topics.setdefault(topic, []).append(PartitionCommit(partition, offset, 3, metadata))
        req = OffsetCommitRequest(
            group,
            tuple((t, tuple(ps)) for t, ps in topics.items()),
            generation,
            member_id,
            instance,
            retention,
            version,
        )
        result: OffsetCommitResult = self.apply(self.shard.commit_offsets(req, self.now))
        return {(t, p): e for t, parts in result.topics for p, e in parts}

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        fetched = self.shard.fetch_offsets(group, None)
        return {(t, p.partition): p.offset for t, parts in fetched.topics for p in parts}

    # --- whole flows ---

    def stable_group(self, group: str, count: int, **kwargs: Any) -> tuple[int, list[str]]:
        """`count` dynamic members joined and synced; returns (generation, member ids)."""
        tickets = [self.join_new(group, **kwargs)]
        first: JoinGroupResult = self.answers[tickets[0]]
        generation = first.generation_id
        members = [first.member_id]
        for _ in range(count - 1):
            tickets.append(self.join_new(group, **kwargs))
            # Everyone already in must rejoin for the rebalance to complete.
            for old in members:
                tickets.append(self.join(group, old, **kwargs))
            results = [self.answers[t] for t in tickets[-len(members) - 1 :]]
            assert all(r.error is ErrorCode.none for r in results)
            generation = results[0].generation_id
            members = [results[0].member_id, *members]
        members = sorted(members)
        leader = self.answers[tickets[-1]].leader
        assignments = {m: f"assigned-{m}".encode() for m in members}
        for member in members:
            ticket = self.sync(group, generation, member, assignments if member == leader else None)
            if member == leader:
                assert isinstance(self.answers[ticket], SyncGroupResult)
        return generation, members
