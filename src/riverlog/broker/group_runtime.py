"""Runs the group coordinator shards on the event loop: `__consumer_offsets`, appends, waiters, timers.

Format: `__consumer_offsets` is an ordinary compacted topic (`offsets.topic.num.partitions`, created on
the first FindCoordinator, as Kafka does) whose records are Kafka's coordinator records
(`riverlog.coordinator.group.records`). A group lives in partition
`abs(java_string_hashcode(group_id)) % partitions` (Kafka's `Utils.abs(groupId.hashCode)`); the leader of
that partition is the group's coordinator, and one `GroupCoordinatorShard` per led partition holds its
groups and offsets.

Invariants:
- A write is: run the shard operation, append its records as one batch (origin COORDINATOR), replay
  them into the shard — all without yielding to the event loop, so the log order is the replay order —
  then (strict durability) wait for the fsync, then answer. A failed append is reported back to the
  shard (`write_failed`) and answered with Kafka's error mapping.
- Parked JoinGroup/SyncGroup requests wait on futures keyed by ticket; completions resolve them.
- One timer task fires the shards' deadlines (classic heartbeats, rebalance and sync timeouts; KIP-848
  session and revocation timeouts) and expires offsets every `offsets.retention.check.interval.ms`;
  an operation wakes it when it set a deadline earlier than the task's next wake-up.
- KIP-848 heartbeats see the cluster's topics (name -> id, partition count) as of the current image.

Crash behaviour: nothing here is durable beyond the log. On start every led partition of
`__consumer_offsets` is replayed into a fresh shard; groups come back Stable or Empty at their last
stored generation, offsets as last committed (Kafka's coordinator loading).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kio.schema.errors import ErrorCode

from riverlog.broker.config import BrokerConfig
from riverlog.broker.replica_manager import Partition, ReplicaManager
from riverlog.broker.topic_admin import AdminError, TopicAdmin
from riverlog.coordinator.group import GroupConfig, GroupCoordinatorShard
from riverlog.coordinator.group.messages import Completion, CoordinatorResult
from riverlog.coordinator.group.records import (
    CoordinatorRecord,
    OffsetCommitRecord,
    decode_record,
    encode_record,
)
from riverlog.protocol.errors import CorruptRecordError
from riverlog.protocol.records import build_batch, decode_records, iter_batches
from riverlog.storage import AppendOrigin
from riverlog.storage import errors as storage_errors
from riverlog.storage.clock import Clock

log = logging.getLogger(__name__)

OFFSETS_TOPIC = "__consumer_offsets"
MAX_TIMER_SLEEP_S = 1.0
READ_CHUNK_BYTES = 1 << 20
R = TypeVar("R")
Operation = Callable[[GroupCoordinatorShard, int, int], CoordinatorResult[R]]


class CoordinatorError(Exception):
    """The request cannot be served here; `code` is Kafka's answer (NOT_COORDINATOR, …)."""

    def __init__(self, code: ErrorCode, message: str = "") -> None:
        super().__init__(message or code.name)
        self.code = code


def java_string_hashcode(text: str) -> int:
    """Java's `String.hashCode()`: s[0]*31^(n-1) + … over UTF-16 code units, as an int32."""
    value = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        value = (31 * value + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def partition_for(group_id: str, partitions: int) -> int:
    """Kafka's `Utils.abs(groupId.hashCode) % partitions` (Utils.abs maps Integer.MIN_VALUE to 0)."""
    code = java_string_hashcode(group_id)
    return (0 if code == -(2**31) else abs(code)) % partitions


def append_error(exc: Exception, offsets: bool) -> ErrorCode:
    """Kafka's mapping of a failed coordinator append to the error a client sees."""
    if isinstance(exc, storage_errors.RecordTooLargeError):
        return ErrorCode.invalid_commit_offset_size if offsets else ErrorCode.unknown_server_error
    if isinstance(exc, storage_errors.KafkaStorageError):
        return ErrorCode.not_coordinator
    return ErrorCode.unknown_server_error


@dataclass(frozen=True, slots=True)
class CoordinatorNode:
    node_id: int
    host: str
    port: int


class GroupRuntime:
    def __init__(
        self,
        config: BrokerConfig,
        clock: Clock,
        replicas: ReplicaManager,
        topics: TopicAdmin,
        broker_id: int,
    ) -> None:
        self.config = config
        self.clock = clock
        self.replicas = replicas
        self.topics = topics
        self.broker_id = broker_id
        self.group_config = GroupConfig.from_settings(config.get_int, config.get_str)
        self.shards: dict[int, GroupCoordinatorShard] = {}
        self._waiters: dict[int, asyncio.Future[Any]] = {}
        self._tickets = itertools.count(1)
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_expiry_ms = 0
        self._planned_wake_ms = 0  # when the timer task will look again by itself
        self._topics_view: tuple[object, dict[str, tuple[uuid.UUID, int]]] = (None, {})

    # --- the offsets topic and its partitions -----------------------------------------------------

    @property
    def partition_count(self) -> int:
        topic = self.topics.image.topic(OFFSETS_TOPIC)
        if topic is not None and topic.partitions:
            return len(topic.partitions)
        return self.config.get_int("offsets.topic.num.partitions")

    def topics_view(self) -> dict[str, tuple[uuid.UUID, int]]:
        """Every topic's id and partition count, for KIP-848 assignments (cached per image)."""
        image = self.topics.image
        if self._topics_view[0] is not image:
            view = {t.name: (t.topic_id, len(t.partitions)) for t in image.topics.values()}
            self._topics_view = (image, view)
        return self._topics_view[1]

    def partition_of(self, group_id: str) -> int:
        return partition_for(group_id, self.partition_count)

    def ensure_offsets_topic(self) -> ErrorCode:
        """Create `__consumer_offsets` if missing (Kafka does so on the first FindCoordinator)."""
        if self.topics.image.topic(OFFSETS_TOPIC) is None:
            # Kafka refuses to create it until `offsets.topic.replication.factor` brokers exist; a
            # single riverlog node caps it at the live brokers, like default.replication.factor.
            live = len(self.topics.live_brokers())
            replication = min(self.config.get_int("offsets.topic.replication.factor"), live)
            created = self.topics.create_topic(
                OFFSETS_TOPIC,
                self.config.get_int("offsets.topic.num.partitions"),
                replication,
                {
                    "cleanup.policy": "compact",
                    "compression.type": "producer",
                    "segment.bytes": str(self.config.get_int("offsets.topic.segment.bytes")),
                },
            )
            if isinstance(created, AdminError):
                log.warning("cannot create %s: %s", OFFSETS_TOPIC, created.message)
                return ErrorCode.coordinator_not_available
            log.info("created %s with %d partitions", OFFSETS_TOPIC, self.partition_count)
        self.load()
        return ErrorCode.none

    def coordinator_for(self, group_id: str) -> CoordinatorNode | ErrorCode:
        """Where the group's coordinator is: the leader of its offsets partition."""
        error = self.ensure_offsets_topic()
        if error is not ErrorCode.none:
            return error
        image = self.topics.image
        topic = image.topic(OFFSETS_TOPIC)
        state = None if topic is None else topic.partitions.get(self.partition_of(group_id))
        broker = None if state is None else image.brokers.get(state.leader)
        if broker is None:
            return ErrorCode.coordinator_not_available
        return CoordinatorNode(broker.broker_id, broker.host, broker.port)

    def load(self) -> None:
        """Replay every led partition of the offsets topic not loaded yet; drop the ones gone."""
        for index in range(self.partition_count):
            part = self.replicas.get(OFFSETS_TOPIC, index)
            led = part is not None and part.leader == self.broker_id
            if led and index not in self.shards:
                assert part is not None
                self.shards[index] = self._load_partition(part)
            elif not led and index in self.shards:
                del self.shards[index]
        for index in [i for i in self.shards if i >= self.partition_count]:
            del self.shards[index]

    def _load_partition(self, part: Partition) -> GroupCoordinatorShard:
        shard = GroupCoordinatorShard(self.group_config)
        now = self.clock.now_ms()
        plog, offset, count = part.log, part.log.log_start_offset, 0
        while offset < plog.log_end_offset:
            data = plog.read(offset, READ_CHUNK_BYTES).read()
            if not data:
                break
            for pos, header in iter_batches(data, allow_partial_tail=True):
                offset = header.last_offset + 1
                if header.is_control:
                    continue
                for raw in decode_records(data, pos, header):
                    count += self._replay_raw(shard, raw.key, raw.value, now)
        shard.loaded(now)
        log.info(
            "loaded %s-%d: %d records, %d groups",
            OFFSETS_TOPIC,
            part.index,
            count,
            len(shard.groups),
        )
        return shard

    @staticmethod
    def _replay_raw(
        shard: GroupCoordinatorShard, key: bytes | None, value: bytes | None, now: int
    ) -> int:
        try:
            record = decode_record(key, value)
        except CorruptRecordError as exc:
            log.warning("skipping unreadable %s record: %s", OFFSETS_TOPIC, exc)
            return 0
        if record is None:
            return 0
        shard.replay(record, now)  # nobody waits while loading
        return 1

    def shard_for(self, group_id: str) -> tuple[int, GroupCoordinatorShard]:
        """The shard that owns the group here; CoordinatorError(NOT_COORDINATOR) when none does."""
        if self.topics.image.topic(OFFSETS_TOPIC) is None:
            raise CoordinatorError(ErrorCode.not_coordinator)
        index = self.partition_of(group_id)
        shard = self.shards.get(index)
        if shard is None:
            self.load()
            shard = self.shards.get(index)
        if shard is None:
            raise CoordinatorError(ErrorCode.not_coordinator)
        return index, shard

    # --- running operations -------------------------------------------------------------------------

    async def execute(self, group_id: str, operation: Operation[R]) -> R:
        """Run one shard operation: append + replay its records, answer now or when completed."""
        index, shard = self.shard_for(group_id)
        ticket = next(self._tickets)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[ticket] = future
        try:
            now = self.clock.now_ms()
            result = operation(shard, ticket, now)
            await self._write(index, shard, result, now)
            if result.response is not None:
                return result.response
            answer: R = await future
            return answer
        finally:
            self._waiters.pop(ticket, None)

    def read(self, group_id: str, query: Callable[[GroupCoordinatorShard], R]) -> R:
        """A read-only look at the group's shard."""
        return query(self.shard_for(group_id)[1])

    async def _write(
        self, index: int, shard: GroupCoordinatorShard, result: CoordinatorResult[Any], now: int
    ) -> None:
        completions = list(result.completions)
        try:
            if result.records:
                completions += await self._append_and_replay(index, shard, result.records, now)
        finally:
            self._deliver(completions)
            self._maybe_wake(shard)

    async def _append_and_replay(
        self, index: int, shard: GroupCoordinatorShard, records: list[CoordinatorRecord], now: int
    ) -> list[Completion]:
        part = self.replicas.get(OFFSETS_TOPIC, index)
        offsets = any(isinstance(r, OffsetCommitRecord) for r in records)
        if part is None or part.leader != self.broker_id:
            self._deliver(shard.write_failed(records, ErrorCode.not_coordinator, now))
            raise CoordinatorError(ErrorCode.not_coordinator)
        batch = build_batch([(*encode_record(r), (), now) for r in records])
        try:
            part.log.append(
                batch, leader_epoch=part.leader_epoch, now_ms=now, origin=AppendOrigin.COORDINATOR
            )
        except storage_errors.StorageError as exc:
            code = append_error(exc, offsets)
            log.warning("append to %s-%d failed: %s", OFFSETS_TOPIC, index, exc)
            self._deliver(shard.write_failed(records, code, now))
            raise CoordinatorError(code) from exc
        completions: list[Completion] = []
        for record in records:
            completions += shard.replay(record, now)
        if self.replicas.strict:
            await self.replicas.committer.sync(part.log)
        self.replicas.advance_high_watermark(part, part.log.log_end_offset)
        return completions

    def _deliver(self, completions: list[Completion]) -> None:
        for completion in completions:
            future = self._waiters.get(completion.waiter)
            if future is not None and not future.done():
                future.set_result(completion.result)

    def _maybe_wake(self, shard: GroupCoordinatorShard) -> None:
        """Wake the timer task when this shard now has a deadline before its planned wake-up."""
        deadline = shard.next_deadline()
        if self._wake is not None and deadline is not None and deadline < self._planned_wake_ms:
            self._wake.set()

    # --- timers -------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.load()
        self._wake = asyncio.Event()
        self._next_expiry_ms = self.clock.now_ms() + self._expiry_interval_ms
        self._task = asyncio.get_running_loop().create_task(self._timer_loop())

    @property
    def _expiry_interval_ms(self) -> int:
        return self.config.get_int("offsets.retention.check.interval.ms")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for future in self._waiters.values():
            if not future.done():
                future.cancel()

    async def _timer_loop(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                sleep_s = await self.run_due()
            except Exception:
                log.exception("group coordinator timers failed")
                sleep_s = MAX_TIMER_SLEEP_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), sleep_s)

    async def run_due(self) -> float:
        """Fire every due deadline (and the offsets expiry when due); seconds until the next one."""
        now = self.clock.now_ms()
        expire = now >= self._next_expiry_ms
        if expire:
            self._next_expiry_ms = now + self._expiry_interval_ms
        next_due = self._next_expiry_ms
        for index, shard in list(self.shards.items()):
            while (deadline := shard.next_deadline()) is not None and deadline <= now:
                await self._background(index, shard, shard.tick(now), now)
            if expire:
                await self._background(index, shard, shard.expire_offsets(now), now)
            deadline = shard.next_deadline()
            if deadline is not None:
                next_due = min(next_due, deadline)
        now = self.clock.now_ms()
        sleep_ms = min(max(next_due - now, 0), int(MAX_TIMER_SLEEP_S * 1000))
        self._planned_wake_ms = now + sleep_ms
        return sleep_ms / 1000

    async def _background(
        self, index: int, shard: GroupCoordinatorShard, result: CoordinatorResult[Any], now: int
    ) -> None:
        try:
            await self._write(index, shard, result, now)
        except CoordinatorError as exc:
            log.warning("group coordinator write for %s-%d failed: %s", OFFSETS_TOPIC, index, exc)
