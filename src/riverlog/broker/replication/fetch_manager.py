"""The one door for reads: Fetch and its long-poll, offset lookups and log queries (Kafka's
ReplicaManager.fetchMessages with DelayedFetch, fetchOffsetForTimestamp, lastOffsetForLeaderEpoch).

Handlers translate the wire into these calls and the answers back; none of them touches a partition's
log. Writes (append, acks=all waits, DeleteRecords) stay on `ReplicaManager`; both sides check a
partition with the one `ReplicaManager.check_partition`.

Invariants:
- A fetch waits at most `max_wait_ms` by the injected clock: the deadline is taken from `clock.now_ms()`
  and every wait in the purgatory is for what is left of it. A wait that times out ends the long-poll
  (one last read answers it), so a clock that does not move (tests) never makes a fetch spin.
- A fetch answers at once when it has `min_bytes`, when any partition has an error, or when a consumer is
  sent to a preferred read replica; otherwise it waits for an append, a high-watermark move or a role
  change on any of its partitions (`ReplicaManager.purgatory`).
- The first partition with data may exceed the byte limits by one batch, so consumers always progress.
- Reads are bounded by the high watermark (consumers), the last stable offset (read_committed), or the
  log end offset (followers); a follower's fetch offset is recorded before its read (ISR, high watermark).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from riverlog.broker.config import BrokerConfig
from riverlog.broker.replication.replica_manager import Partition, ReplicaManager, TopicPartition
from riverlog.broker.replication.replica_selector import (
    NO_PREFERRED_REPLICA,
    ReplicaView,
    preferred_read_replica,
)
from riverlog.metadata.image import BrokerInfo
from riverlog.protocol.messages.fetch import FetchRequest
from riverlog.storage.clock import Clock
from riverlog.storage.errors import OffsetOutOfRangeError
from riverlog.storage.producer_append import ProducerStateEntry

# ListOffsets' special timestamps (Kafka's ListOffsetsRequest).
LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL, EARLIEST_TIERED = -1, -2, -3, -4, -5


def fetch_replica_id(request: FetchRequest) -> int:
    """Who sent a Fetch: a follower's broker id (replica_id before v15, replica_state from v15), or -1
    for a consumer."""
    state_id = request.replica_state.replica_id
    return state_id if state_id >= 0 else request.replica_id


@dataclass(frozen=True, slots=True)
class FetchParams:
    """What applies to a whole fetch (Kafka's FetchParams): who fetches — a follower's broker id, or
    -1 for a consumer with, from v11 on, its rack (KIP-392) — and the wait and size limits."""

    replica_id: int
    rack: str | None
    max_wait_ms: int
    min_bytes: int
    max_bytes: int
    read_committed: bool

    @property
    def is_follower(self) -> bool:
        return self.replica_id >= 0


@dataclass(slots=True)
class FetchPartition:
    """One partition a fetch asks for; `error`, set by the handler (unknown topic id, not
    authorized), answers it without a read."""

    key: TopicPartition
    topic_id: uuid.UUID | None
    fetch_offset: int
    max_bytes: int
    leader_epoch: int = -1
    error: ErrorCode | None = None


@dataclass(slots=True)
class PartitionRead:
    """What a fetch read from one partition (Kafka's FetchPartitionData)."""

    wanted: FetchPartition
    error: ErrorCode
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    records: bytes = b""
    aborted: list[tuple[int, int]] | None = None
    preferred_read_replica: int = NO_PREFERRED_REPLICA


@dataclass(frozen=True, slots=True)
class OffsetLookup:
    """A ListOffsets answer for one partition: (timestamp, offset, leader epoch), -1 when none."""

    timestamp: int
    offset: int
    leader_epoch: int


@dataclass(frozen=True, slots=True)
class LogDirEntry:
    """DescribeLogDirs' view of one hosted partition."""

    partition: Partition
    size_in_bytes: int
    offset_lag: int


class FetchManager:
    def __init__(self, replicas: ReplicaManager, config: BrokerConfig, clock: Clock) -> None:
        self.replicas = replicas
        self.config = config
        self.clock = clock

    # --- Fetch ---

    async def fetch(
        self,
        params: FetchParams,
        wanted: list[FetchPartition],
        brokers: Mapping[int, BrokerInfo],
    ) -> list[PartitionRead]:
        """Read every wanted partition, long-polling until `min_bytes` or `max_wait_ms`."""
        clock = self.clock
        deadline = clock.now_ms() + params.max_wait_ms
        while True:
            results = self._read_all(params, wanted, brokers)
            remaining_ms = deadline - clock.now_ms()
            if remaining_ms <= 0 or not wanted or self._complete(params, results):
                return results
            keys = [w.key for w in wanted]
            if not await self.replicas.purgatory.wait(keys, remaining_ms / 1000):
                return self._read_all(params, wanted, brokers)  # timed out: the last read answers

    @staticmethod
    def _complete(params: FetchParams, results: list[PartitionRead]) -> bool:
        total = 0
        for r in results:
            # An error, or a preferred read replica to move to, is answered at once (as Kafka).
            if r.error != ErrorCode.none or r.preferred_read_replica != NO_PREFERRED_REPLICA:
                return True
            total += len(r.records)
        return total >= params.min_bytes

    def _read_all(
        self,
        params: FetchParams,
        wanted: list[FetchPartition],
        brokers: Mapping[int, BrokerInfo],
    ) -> list[PartitionRead]:
        budget = params.max_bytes
        min_one = True
        results = []
        for w in wanted:
            limit = min(w.max_bytes, max(budget, 0))
            result = self._read_partition(params, w, limit, min_one, brokers)
            budget -= len(result.records)
            min_one = min_one and not result.records
            results.append(result)
        return results

    def _read_partition(
        self,
        params: FetchParams,
        w: FetchPartition,
        max_bytes: int,
        min_one: bool,
        brokers: Mapping[int, BrokerInfo],
    ) -> PartitionRead:
        if w.error is not None:
            return PartitionRead(w, w.error)
        follower = params.is_follower
        # KIP-392: a consumer that sends client metadata (v11+) may read from a follower, up to the
        # follower's high watermark; followers and older consumers read from the leader only.
        found = self.replicas.check_partition(
            *w.key, w.leader_epoch, follower_reads=not follower and params.rack is not None
        )
        if isinstance(found, ErrorCode):
            return PartitionRead(w, found)
        part = found
        if follower:
            self.replicas.record_follower_fetch(part, params.replica_id, w.fetch_offset)
        plog = part.log
        hw, lso = plog.high_watermark, plog.last_stable_offset
        upper = None if follower else (lso if params.read_committed else hw)
        result = PartitionRead(w, ErrorCode.none, hw, lso, plog.log_start_offset)
        if params.rack is not None and not follower and self.replicas.is_leader(part):
            result.preferred_read_replica = self._preferred_read_replica(
                part, params.rack, w.fetch_offset, brokers
            )
            if result.preferred_read_replica != NO_PREFERRED_REPLICA:
                return result  # no records: the consumer moves to that replica
        try:
            records = plog.read(w.fetch_offset, max_bytes, max_offset=upper, min_one=min_one).read()
        except OffsetOutOfRangeError:
            result.error = ErrorCode.offset_out_of_range
            return result
        result.records = records
        if params.read_committed:
            end = w.fetch_offset + 1 if not records else lso
            result.aborted = plog.aborted_transactions(w.fetch_offset, max(end, w.fetch_offset + 1))
        return result

    def _preferred_read_replica(
        self, part: Partition, rack: str, fetch_offset: int, brokers: Mapping[int, BrokerInfo]
    ) -> int:
        """KIP-392 on the leader: the replica the consumer should read from, or -1 (this one)."""
        selector = self.config.get_str("replica.selector.class")
        if not selector:
            return NO_PREFERRED_REPLICA

        def view(broker_id: int, leo: int, caught_up_ms: int) -> ReplicaView:
            return ReplicaView(broker_id, brokers[broker_id].rack, leo, caught_up_ms)

        leader = view(part.leader, part.log.log_end_offset, self.clock.now_ms())
        followers = [
            view(broker_id, state.log_end_offset, state.last_caught_up_ms)
            for broker_id, state in part.followers.items()
            if broker_id in brokers and broker_id in part.replicas
        ]
        return preferred_read_replica(selector, leader, followers, rack, fetch_offset)

    # --- offsets and log queries ---

    def list_offset(
        self, part: Partition, timestamp: int, read_committed: bool, follower: bool
    ) -> OffsetLookup | ErrorCode:
        """ListOffsets on a partition this broker leads. A stored batch that does not decode raises
        riverlog.protocol.errors.CorruptRecordError (the handler answers it per partition)."""
        plog = part.log
        if not follower and plog.high_watermark < part.epoch_start_offset:
            # KIP-207: a new leader whose high watermark has not reached the start of its epoch yet
            # would answer an offset below what was acknowledged; clients retry OFFSET_NOT_AVAILABLE.
            return ErrorCode.offset_not_available
        ts, offset = self._lookup(part, timestamp, read_committed, follower)
        epoch = plog.epoch_for_offset(offset) if offset >= 0 else -1
        return OffsetLookup(ts, offset, epoch)

    @staticmethod
    def _lookup(
        part: Partition, timestamp: int, read_committed: bool, follower: bool
    ) -> tuple[int, int]:
        plog = part.log
        if timestamp in (EARLIEST, EARLIEST_LOCAL):
            return -1, plog.log_start_offset
        if timestamp == LATEST:
            if follower:
                return -1, plog.log_end_offset
            return -1, plog.last_stable_offset if read_committed else plog.high_watermark
        if timestamp == EARLIEST_TIERED:
            return -1, -1
        if timestamp == MAX_TIMESTAMP:
            found = plog.max_timestamp_offset()
            return (found[1], found[0]) if found is not None else (-1, -1)
        if timestamp < 0:
            return -1, -1
        found = plog.offset_for_timestamp(timestamp)
        if found is None or found[0] >= plog.high_watermark:
            return -1, -1
        return found[1], found[0]

    @staticmethod
    def end_offset_for_epoch(part: Partition, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: (the largest epoch ≤ `epoch`, its end offset)."""
        return part.log.end_offset_for_epoch(epoch)

    @staticmethod
    def producers(part: Partition) -> list[ProducerStateEntry]:
        """DescribeProducers: the partition's active producers, by producer id."""
        entries = part.log.producer_state.producers.values()
        return sorted(entries, key=lambda e: e.producer_id)

    @staticmethod
    def producer_entry(part: Partition, producer_id: int) -> ProducerStateEntry | None:
        return part.log.producer_state.last_entry(producer_id)

    def log_dir_entries(self) -> list[LogDirEntry]:
        """DescribeLogDirs: every hosted partition with its size and lag."""
        return [
            LogDirEntry(
                part,
                part.log.size_in_bytes,
                max(part.log.high_watermark - part.log.log_end_offset, 0),
            )
            for part in self.replicas.partitions.values()
        ]
