"""What the group and transaction coordinator runtimes share: one internal topic, sharded by key.

Format: a coordinator keeps its state in an ordinary compacted internal topic (`__consumer_offsets`,
`__transaction_state`) created on the first FindCoordinator, as Kafka does. A key (group id,
transactional id) lives in partition `abs(java_string_hashcode(key)) % partitions` (Kafka's
`Utils.abs(key.hashCode) % partitions`); the leader of that partition, as the cluster image says, is
the key's coordinator, and holds one shard (the pure state machine) per partition it leads.

Invariants:
- `shards` holds exactly the loaded partitions. `load_partition(index)` replays the partition from
  its log start into a fresh shard (the broker must lead it); `unload_partition(index)` drops the
  shard. `load()` makes the loaded set match the partitions this broker leads now; a replicated
  cluster can instead call the per-partition pair when leadership changes.
- A write is `append_and_replay`: append one batch (origin COORDINATOR) to the led partition, replay
  it into the shard without yielding to the event loop (so log order is replay order), then, under
  strict durability, wait for the fsync, and move the high watermark. Only then is a caller answered.
- A failed append raises `CoordinatorError` with Kafka's mapping (`append_error`); nothing is
  replayed, so the shard never sees a record the log does not hold.

Crash behaviour: nothing here is durable beyond the internal topic; after a restart each led
partition is replayed from its log start, which rebuilds the shard exactly (coordinator loading).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.topics import AdminError, TopicAdmin
from riverlog.broker.config import BrokerConfig
from riverlog.broker.replication.replica_manager import Partition, ReplicaManager
from riverlog.protocol.errors import CorruptRecordError
from riverlog.protocol.records import BatchHeader, control_record_type, iter_batches
from riverlog.storage import AppendOrigin
from riverlog.storage import errors as storage_errors
from riverlog.storage.clock import Clock

log = logging.getLogger(__name__)
REPLICATION_TIMEOUT_S = 5.0  # Kafka's offsets.commit.timeout.ms default

READ_CHUNK_BYTES = 1 << 20
ShardT = TypeVar("ShardT")
R = TypeVar("R")


class CoordinatorError(Exception):
    """The request cannot be served here; `code` is Kafka's answer (NOT_COORDINATOR, …)."""

    def __init__(self, code: ErrorCode, message: str = "") -> None:
        super().__init__(message or code.name)
        self.code = code


@dataclass(frozen=True, slots=True)
class CoordinatorNode:
    node_id: int
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class InternalTopic:
    """How a coordinator's internal topic is created."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]
    min_isr: int | None = None  # becomes min.insync.replicas, capped at the replication factor


@dataclass(frozen=True, slots=True)
class InternalTopicSettings:
    """Where a coordinator's internal topic takes its settings: Kafka's broker configs under
    `prefix` (`<prefix>.num.partitions`, `.replication.factor`, `.segment.bytes`, and `.min.isr`
    when `min_isr`), with fixed topic configs."""

    name: str
    prefix: str
    configs: Mapping[str, str]
    min_isr: bool = False


class ProducerIdAndEpoch(NamedTuple):
    producer_id: int
    producer_epoch: int


def end_txn_marker(data: bytes, pos: int, header: BatchHeader) -> bool | None:
    """A control batch's transaction marker: True COMMIT, False ABORT, None for anything else
    (an emptied batch left by the cleaner, another control type)."""
    try:
        kind = control_record_type(data, pos, header)
    except CorruptRecordError:
        return None
    return {0: False, 1: True}.get(kind)


def java_string_hashcode(text: str) -> int:
    """Java's `String.hashCode()`: s[0]*31^(n-1) + … over UTF-16 code units, as an int32."""
    value = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        value = (31 * value + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def partition_for(key: str, partitions: int) -> int:
    """Kafka's `Utils.abs(key.hashCode) % partitions` (Utils.abs maps Integer.MIN_VALUE to 0)."""
    code = java_string_hashcode(key)
    return (0 if code == -(2**31) else abs(code)) % partitions


def append_error(exc: Exception, offsets: bool) -> ErrorCode:
    """Kafka's mapping of a failed coordinator append to the error a client sees."""
    if isinstance(exc, storage_errors.RecordTooLargeError):
        return ErrorCode.invalid_commit_offset_size if offsets else ErrorCode.unknown_server_error
    if isinstance(exc, storage_errors.KafkaStorageError):
        return ErrorCode.not_coordinator
    if isinstance(exc, storage_errors.InvalidProducerEpochError):
        return ErrorCode.invalid_producer_epoch  # a transactional write by a fenced producer
    return ErrorCode.unknown_server_error


class CoordinatorRuntime(ABC, Generic[ShardT]):
    """The internal-topic plumbing of a coordinator; subclasses bring the shard and its replay."""

    topic_name: str
    topic_settings: InternalTopicSettings

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
        self.shards: dict[int, ShardT] = {}

    # --- what a subclass provides ------------------------------------------------------------------

    def internal_topic(self) -> InternalTopic:
        """Partitions, replication and configs for creating the internal topic (the broker's
        configs named by `topic_settings`)."""
        settings, config = self.topic_settings, self.config
        configs = dict(settings.configs)
        configs["segment.bytes"] = str(config.get_int(f"{settings.prefix}.segment.bytes"))
        return InternalTopic(
            settings.name,
            config.get_int(f"{settings.prefix}.num.partitions"),
            config.get_int(f"{settings.prefix}.replication.factor"),
            configs,
            min_isr=config.get_int(f"{settings.prefix}.min.isr") if settings.min_isr else None,
        )

    @abstractmethod
    def new_shard(self) -> ShardT:
        """An empty shard for one partition."""

    @abstractmethod
    def replay_batch(
        self, shard: ShardT, data: bytes, pos: int, header: BatchHeader, now: int
    ) -> int:
        """Replay one batch of the partition read while loading; how many records it applied."""

    def loaded(self, index: int, shard: ShardT, records: int, now: int) -> None:
        """Called once a partition is replayed, before the shard serves requests."""
        log.info("loaded %s-%d: %d records", self.topic_name, index, records)

    def unloaded(self, index: int, shard: ShardT) -> None:
        """Called after a partition's shard is dropped (leadership moved, topic gone)."""

    # --- the internal topic and its partitions ------------------------------------------------------

    @property
    def partition_count(self) -> int:
        topic = self.topics.image.topic(self.topic_name)
        if topic is not None and topic.partitions:
            return len(topic.partitions)
        return self.internal_topic().partitions

    def partition_of(self, key: str) -> int:
        return partition_for(key, self.partition_count)

    def ensure_topic(self) -> ErrorCode:
        """Create the internal topic if missing (Kafka does so on the first FindCoordinator)."""
        if self.topics.image.topic(self.topic_name) is None:
            spec = self.internal_topic()
            # Kafka refuses to create it until enough brokers exist; riverlog caps the replication
            # factor at the live brokers, like default.replication.factor.
            live = len(self.topics.live_brokers())
            replication = min(spec.replication_factor, live)
            configs = dict(spec.configs)
            if spec.min_isr is not None:
                # Kafka sets it as is; riverlog caps it with the replication factor it capped, or
                # a single broker could never write its coordinator state.
                configs["min.insync.replicas"] = str(max(1, min(spec.min_isr, replication)))
            created = self.topics.create_topic(spec.name, spec.partitions, replication, configs)
            if isinstance(created, AdminError):
                log.warning("cannot create %s: %s", spec.name, created.message)
                return ErrorCode.coordinator_not_available
            log.info("created %s with %d partitions", spec.name, self.partition_count)
        self.load()
        return ErrorCode.none

    def leader_of(self, index: int) -> CoordinatorNode | None:
        """The broker leading partition `index` of the internal topic, as the cluster image says."""
        image = self.topics.image
        topic = image.topic(self.topic_name)
        state = None if topic is None else topic.partitions.get(index)
        broker = None if state is None else image.brokers.get(state.leader)
        if broker is None:
            return None
        return CoordinatorNode(broker.broker_id, broker.host, broker.port)

    def coordinator_for(self, key: str) -> CoordinatorNode | ErrorCode:
        """Where the key's coordinator is: the leader of its internal-topic partition."""
        error = self.ensure_topic()
        if error is not ErrorCode.none:
            return error
        node = self.leader_of(self.partition_of(key))
        return ErrorCode.coordinator_not_available if node is None else node

    def led_partition(self, index: int) -> Partition | None:
        part = self.replicas.get(self.topic_name, index)
        return part if part is not None and part.leader == self.broker_id else None

    # --- loading and unloading ----------------------------------------------------------------------

    def load(self) -> None:
        """Load every led partition not loaded yet; unload the ones no longer led here."""
        count = self.partition_count if self.topics.image.topic(self.topic_name) else 0
        for index in range(count):
            led = self.led_partition(index) is not None
            if led and index not in self.shards:
                self.load_partition(index)
            elif not led and index in self.shards:
                self.unload_partition(index)
        for index in [i for i in self.shards if i >= count]:
            self.unload_partition(index)

    def load_partition(self, index: int) -> bool:
        """Replay partition `index` into a fresh shard; False when this broker does not lead it."""
        part = self.led_partition(index)
        if part is None:
            return False
        shard = self.new_shard()
        now = self.clock.now_ms()
        records = self._replay_log(shard, part, now)
        self.loaded(index, shard, records, now)
        self.shards[index] = shard
        return True

    def unload_partition(self, index: int) -> None:
        """Drop partition `index`'s shard (this broker no longer coordinates its keys)."""
        shard = self.shards.pop(index, None)
        if shard is not None:
            self.unloaded(index, shard)
            log.info("unloaded %s-%d", self.topic_name, index)

    def _replay_log(self, shard: ShardT, part: Partition, now: int) -> int:
        plog, offset, count = part.log, part.log.log_start_offset, 0
        while offset < plog.log_end_offset:
            data = plog.read(offset, READ_CHUNK_BYTES).read()
            if not data:
                break
            for pos, header in iter_batches(data, allow_partial_tail=True):
                offset = header.last_offset + 1
                count += self.replay_batch(shard, data, pos, header, now)
        return count

    def shard_for(self, key: str) -> tuple[int, ShardT]:
        """The shard owning the key here; CoordinatorError(NOT_COORDINATOR) when none does."""
        if self.topics.image.topic(self.topic_name) is None:
            raise CoordinatorError(ErrorCode.not_coordinator)
        index = self.partition_of(key)
        if index not in self.shards:
            self.load()
        shard = self.shards.get(index)
        if shard is None:
            raise CoordinatorError(ErrorCode.not_coordinator)
        return index, shard

    # --- writing ------------------------------------------------------------------------------------

    async def append_and_replay(
        self, index: int, batch: bytes, replay: Callable[[], R], *, offsets: bool = False
    ) -> R:
        """Append `batch` to partition `index`, run `replay` at once, then make it durable."""
        part = self.led_partition(index)
        if part is None:
            raise CoordinatorError(ErrorCode.not_coordinator)
        if not self.replicas.enough_replicas(part):  # acks=all: Kafka's NOT_ENOUGH_REPLICAS
            raise CoordinatorError(ErrorCode.coordinator_not_available)
        try:
            part.log.append(
                batch,
                leader_epoch=part.leader_epoch,
                now_ms=self.clock.now_ms(),
                origin=AppendOrigin.COORDINATOR,
            )
        except storage_errors.StorageError as exc:
            log.warning("append to %s-%d failed: %s", self.topic_name, index, exc)
            raise CoordinatorError(append_error(exc, offsets)) from exc
        replayed = replay()
        await self.acknowledge(part)
        return replayed

    async def acknowledge(self, part: Partition) -> None:
        """Wait for the durability mode's promise, then let readers see the append."""
        if self.replicas.strict:
            await self.replicas.committer.sync(part.log)
        # As Kafka's coordinators append with acks=all: answered once every in-sync replica has it.
        self.replicas.maybe_advance_high_watermark(part)
        self.replicas.purgatory.notify(part.key)
        code = await self.replicas.wait_for_replication(
            part, part.log.log_end_offset - 1, REPLICATION_TIMEOUT_S
        )
        if code is not ErrorCode.none:
            log.warning("%s-%d: write not replicated: %s", self.topic_name, part.index, code.name)
            raise CoordinatorError(
                ErrorCode.not_coordinator
                if code is ErrorCode.not_leader_or_follower
                else ErrorCode.coordinator_not_available
            )
