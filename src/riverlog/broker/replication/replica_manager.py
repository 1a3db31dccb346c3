"""The partitions this broker hosts, their roles (leader or follower), and the append/read paths.

Invariants:
- A hosted partition has exactly one `PartitionLog`; the map follows the cluster image
  (`sync_with_image`): partitions appear when the image assigns them here and are deleted with their topic.
- Roles follow the image: on becoming leader (new leader epoch) the partition starts a new epoch in its
  log and forgets its followers' progress; on becoming follower it hands the partition to the replica
  fetcher, which first truncates a divergent tail (leader epochs) and then fetches from the leader.
- The high watermark is the minimum log end offset of the ISR (`riverlog.broker.replication.isr`); with this broker
  the only ISR member (a single node) that is the log end offset once an append is acknowledged. In
  strict durability mode the leader's own part of it moves only after the group-commit fsync.
- acks=all completes when the high watermark passes the batch; `min.insync.replicas` is checked before the
  append (NOT_ENOUGH_REPLICAS) and at completion (NOT_ENOUGH_REPLICAS_AFTER_APPEND), as Kafka does.
- `notify` on the purgatory after every append, high-watermark move and role change wakes long-poll
  fetches (consumers and followers) and waiting acks=all produces.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kio.schema.errors import ErrorCode

from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import TOPIC_CONFIGS
from riverlog.broker.metadata_store import PartitionStateWriter
from riverlog.broker.replication.isr import (
    FollowerState,
    fresh_followers,
    isr_high_watermark,
    lagging_members,
    may_join,
)
from riverlog.broker.replication.purgatory import Purgatory
from riverlog.metadata.image import ClusterImage, PartitionState
from riverlog.metadata.zk_format import LeaderAndIsr
from riverlog.storage.append_result import AppendResult
from riverlog.storage.clock import Clock
from riverlog.storage.config import LogConfig
from riverlog.storage.durability import GroupCommitter
from riverlog.storage.errors import OffsetOutOfRangeError
from riverlog.storage.log import PartitionLog
from riverlog.storage.manager import LogManager

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


def effective_topic_configs(config: BrokerConfig, overrides: Mapping[str, str]) -> dict[str, str]:
    """Every topic config: the topic's override, else the broker's default (Kafka's synonyms)."""
    values = {name: config.topic_default(name) for name in TOPIC_CONFIGS}
    values.update(overrides)
    return values


def topic_log_config(config: BrokerConfig, overrides: Mapping[str, str]) -> LogConfig:
    return LogConfig.from_topic_configs(effective_topic_configs(config, overrides))


@dataclass(slots=True)
class Partition:
    topic: str
    index: int
    topic_id: uuid.UUID
    log: PartitionLog
    leader_epoch: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    version: int = 0
    min_insync: int = 1
    followers: dict[int, FollowerState] = field(default_factory=dict)
    epoch_start_offset: int = 0
    isr_change_pending: bool = False

    @property
    def key(self) -> TopicPartition:
        return (self.topic, self.index)

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset


class Follower(Protocol):
    """The replica fetcher, as the replica manager drives it."""

    def follow(self, part: Partition) -> None: ...

    def unfollow(self, key: TopicPartition) -> None: ...


class ReplicaManager:
    def __init__(
        self,
        logs: LogManager,
        config: BrokerConfig,
        clock: Clock,
        broker_id: int,
    ) -> None:
        self.logs = logs
        self.config = config
        self.clock = clock
        self.broker_id = broker_id
        self.partitions: dict[TopicPartition, Partition] = {}
        self.purgatory = Purgatory()
        self.committer = GroupCommitter()
        self.strict = config.get_str("riverlog.durability") == "strict"
        self.fetcher: Follower | None = None
        self.state_writer: PartitionStateWriter | None = None
        self.max_lag_ms = config.get_int("replica.lag.time.max.ms")
        self.isr_shrinks = 0  # ISR changes this broker made as leader (metrics)
        self.isr_expands = 0

    def log_config(self, overrides: Mapping[str, str]) -> LogConfig:
        return topic_log_config(self.config, overrides)

    # --- following the cluster image ---

    def sync_with_image(self, image: ClusterImage) -> None:
        wanted: set[TopicPartition] = set()
        for topic in image.topics.values():
            configs = effective_topic_configs(self.config, topic.configs)
            config = LogConfig.from_topic_configs(configs)
            min_insync = int(configs["min.insync.replicas"])
            for state in topic.partitions.values():
                if self.broker_id not in state.replicas:
                    continue
                tp = (topic.name, state.partition)
                wanted.add(tp)
                part = self._host(tp, topic.topic_id, config)
                part.min_insync = min_insync
                self._apply_state(part, state)
        for tp in set(self.partitions) - wanted:
            self._drop(tp)

    def _host(self, tp: TopicPartition, topic_id: uuid.UUID, config: LogConfig) -> Partition:
        part = self.partitions.get(tp)
        if part is None or part.topic_id != topic_id:
            if part is not None:
                self._drop(tp)
            plog = self.logs.get_or_create(tp[0], tp[1], config)
            part = Partition(tp[0], tp[1], topic_id, plog, -1, -1, (), ())
            self.partitions[tp] = part
        elif part.log.config != config:
            part.log.update_config(config)
        return part

    def _apply_state(self, part: Partition, state: PartitionState) -> None:
        was_leader = part.leader == self.broker_id
        changed = (part.leader, part.leader_epoch) != (state.leader, state.leader_epoch)
        part.replicas, part.version = state.replicas, state.partition_epoch
        part.leader, part.leader_epoch = state.leader, state.leader_epoch
        if not part.isr_change_pending or changed:
            part.isr = state.isr
        if state.leader == self.broker_id:
            if changed or not was_leader:
                self._become_leader(part)
            self.maybe_advance_high_watermark(part)
        elif changed:
            self._become_follower(part)
        if changed:
            self.purgatory.notify(part.key)

    def _become_leader(self, part: Partition) -> None:
        if self.fetcher is not None:
            self.fetcher.unfollow(part.key)
        if self.strict and part.log.recovery_point < part.log.log_end_offset:
            # Strict mode's high watermark covers only fsynced data: a tail recovered after a crash
            # (or replicated as a follower) is made durable before this leader exposes it.
            part.log.flush()
        part.log.assign_epoch(part.leader_epoch)
        part.epoch_start_offset = part.log.log_end_offset
        part.followers = fresh_followers(part.replicas, self.broker_id, self.clock.now_ms())
        part.isr_change_pending = False
        log.debug("%s-%d: leader in epoch %d", part.topic, part.index, part.leader_epoch)

    def _become_follower(self, part: Partition) -> None:
        part.followers = {}
        if self.fetcher is None:
            return
        if part.leader < 0:
            self.fetcher.unfollow(part.key)
        else:
            self.fetcher.follow(part)

    def _drop(self, tp: TopicPartition) -> None:
        if self.fetcher is not None:
            self.fetcher.unfollow(tp)
        self.partitions.pop(tp, None)
        self.logs.delete(tp[0], tp[1])
        self.purgatory.notify(tp)

    # --- data path ---

    def get(self, topic: str, partition: int) -> Partition | None:
        return self.partitions.get((topic, partition))

    def is_leader(self, part: Partition) -> bool:
        return part.leader == self.broker_id

    def check_partition(
        self,
        topic: str,
        index: int,
        current_leader_epoch: int = -1,
        *,
        follower_reads: bool = False,
    ) -> Partition | ErrorCode:
        """The one check every partition-addressed request makes (produce, fetch, offsets): the
        partition when it is hosted here, led here (or, with `follower_reads`, a KIP-392 consumer
        read, hosted at all) and at the client's leader epoch (-1: not checked); else Kafka's error."""
        part = self.partitions.get((topic, index))
        if part is None:
            return ErrorCode.unknown_topic_or_partition
        if part.leader != self.broker_id and not follower_reads:
            return ErrorCode.not_leader_or_follower
        if current_leader_epoch >= 0 and current_leader_epoch != part.leader_epoch:
            if current_leader_epoch < part.leader_epoch:
                return ErrorCode.fenced_leader_epoch
            return ErrorCode.unknown_leader_epoch
        return part

    def enough_replicas(self, part: Partition) -> bool:
        return len(part.isr or (self.broker_id,)) >= part.min_insync

    async def append(self, part: Partition, records: bytes | memoryview) -> AppendResult:
        """Append as leader; returns once the leader holds the batch under the durability mode."""
        result = part.log.append(
            records, leader_epoch=part.leader_epoch, now_ms=self.clock.now_ms()
        )
        if self.strict:
            await self.committer.sync(part.log)
        self.maybe_advance_high_watermark(part)
        self.purgatory.notify(part.key)
        return result

    def delete_records(self, part: Partition, requested: int) -> ErrorCode:
        """DeleteRecords as leader: move the log start offset up to `requested` (-1: the high
        watermark); POLICY_VIOLATION on a topic without cleanup.policy=delete."""
        plog = part.log
        if not plog.config.delete:
            return ErrorCode.policy_violation
        offset = plog.high_watermark if requested == -1 else requested
        if offset < 0 or offset > plog.high_watermark:
            return ErrorCode.offset_out_of_range
        if offset > plog.log_start_offset:
            try:
                plog.delete_records_before(offset)
            except OffsetOutOfRangeError:
                return ErrorCode.offset_out_of_range
        return ErrorCode.none

    async def wait_for_replication(
        self, part: Partition, offset: int, timeout_s: float
    ) -> ErrorCode:
        """acks=all: wait until the high watermark passes `offset` (Kafka's DelayedProduce)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while part.log.high_watermark <= offset:
            if part.leader != self.broker_id or self.partitions.get(part.key) is not part:
                return ErrorCode.not_leader_or_follower
            remaining = deadline - loop.time()
            if remaining <= 0:
                return ErrorCode.request_timed_out
            await self.purgatory.wait([part.key], remaining)
        if not self.enough_replicas(part):
            return ErrorCode.not_enough_replicas_after_append
        return ErrorCode.none

    def maybe_advance_high_watermark(self, part: Partition) -> None:
        if part.leader != self.broker_id:
            return
        leo = part.log.recovery_point if self.strict else part.log.log_end_offset
        isr = part.isr or (self.broker_id,)
        self.advance_high_watermark(
            part, isr_high_watermark(self.broker_id, leo, isr, part.followers)
        )

    def advance_high_watermark(self, part: Partition, offset: int) -> None:
        if offset > part.log.high_watermark:
            part.log.high_watermark = min(offset, part.log.log_end_offset)
            self.purgatory.notify(part.key)

    # --- the leader's side of replication ---

    def record_follower_fetch(self, part: Partition, replica_id: int, fetch_offset: int) -> None:
        follower = part.followers.get(replica_id)
        if follower is None:
            if replica_id not in part.replicas:
                return
            follower = part.followers[replica_id] = FollowerState()
        follower.record_fetch(fetch_offset, part.log.log_end_offset, self.clock.now_ms())
        self.maybe_advance_high_watermark(part)
        if replica_id not in part.isr and may_join(
            follower, part.log.high_watermark, part.epoch_start_offset
        ):
            self._change_isr(part, tuple(sorted({*part.isr, replica_id})))

    def shrink_isr_pass(self) -> None:
        """Drop followers that have not caught up within `replica.lag.time.max.ms` (every leader)."""
        now = self.clock.now_ms()
        for part in list(self.partitions.values()):
            if part.leader != self.broker_id or part.isr_change_pending:
                continue
            lagging = lagging_members(
                self.broker_id, part.isr, part.followers, now, self.max_lag_ms
            )
            if lagging:
                self._change_isr(part, tuple(b for b in part.isr if b not in lagging))

    def _change_isr(self, part: Partition, isr: tuple[int, ...]) -> None:
        if self.state_writer is None or part.isr_change_pending or isr == part.isr:
            return
        part.isr_change_pending = True
        asyncio.get_running_loop().create_task(self._write_isr(part, isr))

    async def _write_isr(self, part: Partition, isr: tuple[int, ...]) -> None:
        assert self.state_writer is not None
        epoch = part.leader_epoch
        state = LeaderAndIsr(self.broker_id, epoch, isr)
        try:
            version = await self.state_writer.alter_partition(
                part.topic, part.index, state, part.version
            )
        finally:
            part.isr_change_pending = False
        if version is None or part.leader_epoch != epoch or part.leader != self.broker_id:
            return
        log.info("%s-%d: ISR %s -> %s", part.topic, part.index, list(part.isr), list(isr))
        if len(isr) < len(part.isr):
            self.isr_shrinks += 1
        elif len(isr) > len(part.isr):
            self.isr_expands += 1
        part.isr, part.version = isr, version
        self.maybe_advance_high_watermark(part)
        self.purgatory.notify(part.key)
