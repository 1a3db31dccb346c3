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
  an operation wakes it when it set a deadline earlier than the task's next wake-up. A timer that
  raises (a coordinator bug) is logged and dropped; every other timer, of its shard and the others,
  still fires, and what the timers before it produced is still applied.
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
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.topics import TopicAdmin
from riverlog.broker.config import BrokerConfig
from riverlog.broker.coordinators.runtime import (
    READ_CHUNK_BYTES,
    CoordinatorError,
    CoordinatorNode,
    CoordinatorRuntime,
    InternalTopicSettings,
    ProducerIdAndEpoch,
    append_error,
    end_txn_marker,
    java_string_hashcode,
    partition_for,
)
from riverlog.broker.replication.replica_manager import ReplicaManager
from riverlog.coordinator.group import GroupConfig, GroupCoordinatorShard
from riverlog.coordinator.group.messages import Completion, CoordinatorResult
from riverlog.coordinator.group.records import (
    CoordinatorRecord,
    OffsetCommitRecord,
    decode_record,
    encode_record,
)
from riverlog.coordinator.group.shard import TimerFailed
from riverlog.protocol.errors import CorruptRecordError
from riverlog.protocol.records import BatchHeader, build_batch, decode_records
from riverlog.storage.clock import Clock

__all__ = [
    "OFFSETS_TOPIC",
    "READ_CHUNK_BYTES",
    "CoordinatorError",
    "CoordinatorNode",
    "GroupRuntime",
    "append_error",
    "java_string_hashcode",
    "partition_for",
]

log = logging.getLogger(__name__)

OFFSETS_TOPIC = "__consumer_offsets"
MAX_TIMER_SLEEP_S = 1.0
R = TypeVar("R")
Operation = Callable[[GroupCoordinatorShard, int, int], CoordinatorResult[R]]


class GroupRuntime(CoordinatorRuntime[GroupCoordinatorShard]):
    topic_name = OFFSETS_TOPIC
    topic_settings = InternalTopicSettings(
        OFFSETS_TOPIC,
        "offsets.topic",
        {"cleanup.policy": "compact", "compression.type": "producer"},
    )

    def __init__(
        self,
        config: BrokerConfig,
        clock: Clock,
        replicas: ReplicaManager,
        topics: TopicAdmin,
        broker_id: int,
    ) -> None:
        super().__init__(config, clock, replicas, topics, broker_id)
        self.group_config = GroupConfig.from_settings(config.get_int, config.get_str)
        self._waiters: dict[int, asyncio.Future[Any]] = {}
        self._tickets = itertools.count(1)
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_expiry_ms = 0
        self._planned_wake_ms = 0  # when the timer task will look again by itself
        self._topics_view: tuple[object, dict[str, tuple[uuid.UUID, int]]] = (None, {})

    # --- the offsets topic and its partitions -----------------------------------------------------

    def new_shard(self) -> GroupCoordinatorShard:
        shard = GroupCoordinatorShard(self.group_config, topics=self.topics_view)
        shard.consumer.group_overrides = self.group_overrides
        return shard

    def group_overrides(self, group_id: str) -> Mapping[str, str]:
        """A group's dynamic configs (KIP-848 GROUP resource) in the current metadata image."""
        return self.topics.image.group_configs.get(group_id, {})

    def topics_view(self) -> dict[str, tuple[uuid.UUID, int]]:
        """Every topic's id and partition count, for KIP-848 assignments (cached per image)."""
        image = self.topics.image
        if self._topics_view[0] is not image:
            view = {t.name: (t.topic_id, len(t.partitions)) for t in image.topics.values()}
            self._topics_view = (image, view)
        return self._topics_view[1]

    def ensure_offsets_topic(self) -> ErrorCode:
        """Create `__consumer_offsets` if missing (Kafka does so on the first FindCoordinator)."""
        return self.ensure_topic()

    def replay_batch(
        self, shard: GroupCoordinatorShard, data: bytes, pos: int, header: BatchHeader, now: int
    ) -> int:
        if header.is_control:
            marker = end_txn_marker(data, pos, header)
            if marker is not None:
                shard.replay_end_transaction(header.producer_id, marker)
            return 0
        producer_id = header.producer_id if header.is_transactional else -1
        count = 0
        for raw in decode_records(data, pos, header):
            count += self._replay_raw(shard, raw.key, raw.value, now, producer_id)
        return count

    def complete_transaction(self, index: int, producer_id: int, commit: bool) -> None:
        """A COMMIT/ABORT marker was appended to partition `index`: replay it into the shard."""
        shard = self.shards.get(index)
        if shard is not None:
            shard.replay_end_transaction(producer_id, commit)

    def loaded(self, index: int, shard: GroupCoordinatorShard, records: int, now: int) -> None:
        shard.loaded(now)
        log.info(
            "loaded %s-%d: %d records, %d groups", OFFSETS_TOPIC, index, records, len(shard.groups)
        )

    @staticmethod
    def _replay_raw(
        shard: GroupCoordinatorShard,
        key: bytes | None,
        value: bytes | None,
        now: int,
        producer_id: int,
    ) -> int:
        try:
            record = decode_record(key, value)
        except CorruptRecordError as exc:
            log.warning("skipping unreadable %s record: %s", OFFSETS_TOPIC, exc)
            return 0
        if record is None:
            return 0
        shard.replay(record, now, producer_id)  # nobody waits while loading
        return 1

    # --- running operations -------------------------------------------------------------------------

    async def execute(
        self, group_id: str, operation: Operation[R], producer: ProducerIdAndEpoch | None = None
    ) -> R:
        """Run one shard operation: append + replay its records, answer now or when completed.
        With `producer` the records are written in that producer's transaction (TxnOffsetCommit)."""
        index, shard = self.shard_for(group_id)
        ticket = next(self._tickets)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[ticket] = future
        try:
            now = self.clock.now_ms()
            result = operation(shard, ticket, now)
            await self._write(index, shard, result, now, producer)
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
        self,
        index: int,
        shard: GroupCoordinatorShard,
        result: CoordinatorResult[Any],
        now: int,
        producer: ProducerIdAndEpoch | None = None,
    ) -> None:
        completions = list(result.completions)
        try:
            if result.records:
                completions += await self._append_and_replay(
                    index, shard, result.records, now, producer
                )
        finally:
            self._deliver(completions)
            self._maybe_wake(shard)

    async def _append_and_replay(
        self,
        index: int,
        shard: GroupCoordinatorShard,
        records: list[CoordinatorRecord],
        now: int,
        producer: ProducerIdAndEpoch | None = None,
    ) -> list[Completion]:
        offsets = any(isinstance(r, OffsetCommitRecord) for r in records)
        encoded = [(*encode_record(r), (), now) for r in records]
        if producer is None:
            batch, producer_id = build_batch(encoded), -1
        else:
            producer_id = producer.producer_id
            batch = build_batch(
                encoded,
                producer_id=producer_id,
                producer_epoch=producer.producer_epoch,
                transactional=True,
            )

        def replay() -> list[Completion]:
            completions: list[Completion] = []
            for record in records:
                completions += shard.replay(record, now, producer_id)
            return completions

        try:
            return await self.append_and_replay(index, batch, replay, offsets=offsets)
        except CoordinatorError as exc:
            self._deliver(shard.write_failed(records, exc.code, now))
            raise

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
            try:
                await self.run_shard_due(index, shard, now, expire)
            except Exception:
                # One shard's failure must not stop the other shards' timeouts.
                log.exception("group coordinator timers of %s-%d failed", OFFSETS_TOPIC, index)
            deadline = shard.next_deadline()
            if deadline is not None:
                next_due = min(next_due, deadline)
        now = self.clock.now_ms()
        sleep_ms = min(max(next_due - now, 0), int(MAX_TIMER_SLEEP_S * 1000))
        self._planned_wake_ms = now + sleep_ms
        return sleep_ms / 1000

    async def run_shard_due(
        self, index: int, shard: GroupCoordinatorShard, now: int, expire: bool = False
    ) -> None:
        """Fire the shard's deadlines due at `now` (and expire offsets when `expire`)."""
        while (deadline := shard.next_deadline()) is not None and deadline <= now:
            try:
                result = shard.tick(now)
            except TimerFailed as exc:
                # That timer is dropped; the ones after it (this group's and others') still fire.
                log.error("group coordinator timer %s failed", exc.timer, exc_info=exc.__cause__)
                result = exc.done
            await self._background(index, shard, result, now)
        if expire:
            await self._background(index, shard, shard.expire_offsets(now), now)

    async def _background(
        self, index: int, shard: GroupCoordinatorShard, result: CoordinatorResult[Any], now: int
    ) -> None:
        try:
            await self._write(index, shard, result, now)
        except CoordinatorError as exc:
            log.warning("group coordinator write for %s-%d failed: %s", OFFSETS_TOPIC, index, exc)
