"""Runs the transaction coordinator on the event loop: `__transaction_state`, markers, expiry.

Format: `__transaction_state` is an ordinary compacted topic (`transaction.state.log.num.partitions`,
created on the first FindCoordinator for a transactional id, as Kafka does) holding Kafka's
TransactionLog records (`riverlog.coordinator.txn.records`). A transactional id lives in partition
`abs(java_string_hashcode(id)) % partitions`; the leader of that partition is its coordinator, with one
`TransactionCoordinatorShard` per led partition. The coordinator epoch written into markers is that
partition's leader epoch.

Invariants:
- A write is: run the shard operation, append its records as one batch (origin COORDINATOR), replay
  them into the shard without yielding, then (strict durability) wait for the fsync.
- Ending a transaction writes PrepareCommit/PrepareAbort first, then one COMMIT/ABORT control batch
  (origin COORDINATOR, the transaction's producer id and epoch) on every partition of the
  transaction, then CompleteCommit/CompleteAbort; EndTxn is answered after the Complete record.
  A transaction is never both committing and aborting: while Prepare* the shard refuses everything.
- A timer task aborts transactions open longer than their `transaction.timeout.ms` (with a bumped
  epoch, fencing their producer) and retries marker jobs that failed, every `abort_check_ms`.
- Offsets of TxnOffsetCommit wait in `pending_offsets` (by transactional id) and are committed
  through the group runtime, as ordinary offset commit records, once the COMMIT markers are written;
  an abort drops them. They are held in memory only (see Crash behaviour).
- Markers are only written to partitions this broker leads (riverlog has no WriteTxnMarkers yet);
  others are logged and skipped.

Crash behaviour: nothing is durable beyond the logs. On start every led partition is replayed; a
transaction found in PrepareCommit/PrepareAbort has its markers written again (a partition that
already has the marker gets a second one, which the partition side treats as a no-op for the
already-completed transaction) and is completed. Pending transactional offsets are lost with the
process (Kafka keeps them in `__consumer_offsets` as transactional records): a transaction committed
after a restart commits its records but not its offsets, so its input is consumed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from kio.schema.errors import ErrorCode

from riverlog.broker.config import BrokerConfig
from riverlog.broker.group_runtime import (
    READ_CHUNK_BYTES,
    CoordinatorError,
    CoordinatorNode,
    GroupRuntime,
    partition_for,
)
from riverlog.broker.replica_manager import Partition, ReplicaManager
from riverlog.broker.topic_admin import AdminError, TopicAdmin
from riverlog.coordinator.group.messages import CoordinatorResult
from riverlog.coordinator.group.records import OffsetCommitRecord, OffsetCommitValue
from riverlog.coordinator.txn import (
    MarkerJob,
    TransactionCoordinatorShard,
    TransactionLogRecord,
    TxnResult,
    decode_record,
    encode_record,
)
from riverlog.protocol.errors import CorruptRecordError
from riverlog.protocol.records import (
    build_batch,
    build_control_batch,
    decode_records,
    iter_batches,
)
from riverlog.storage import AppendOrigin
from riverlog.storage import errors as storage_errors
from riverlog.storage.clock import Clock

log = logging.getLogger(__name__)

TRANSACTION_STATE_TOPIC = "__transaction_state"
# Kafka's defaults for settings riverlog does not expose yet.
ABORT_CHECK_INTERVAL_MS = 10_000  # transaction.abort.timed.out.transaction.cleanup.interval.ms
STATE_LOG_REPLICATION_FACTOR = 3  # transaction.state.log.replication.factor
STATE_LOG_SEGMENT_BYTES = 104_857_600  # transaction.state.log.segment.bytes
ShardOperation = Callable[[TransactionCoordinatorShard, int], TxnResult]
OffsetKey = tuple[str, str, int]  # (group, topic, partition)


class TxnRuntime:
    def __init__(
        self,
        config: BrokerConfig,
        clock: Clock,
        replicas: ReplicaManager,
        topics: TopicAdmin,
        broker_id: int,
        new_producer_id: Callable[[], int],
        groups: GroupRuntime | None = None,
        abort_check_ms: int = ABORT_CHECK_INTERVAL_MS,
    ) -> None:
        self.config = config
        self.clock = clock
        self.replicas = replicas
        self.topics = topics
        self.broker_id = broker_id
        self.new_producer_id = new_producer_id
        self.groups = groups
        self.abort_check_ms = abort_check_ms
        self.pending_offsets: dict[str, dict[OffsetKey, OffsetCommitValue]] = {}
        self.shards: dict[int, TransactionCoordinatorShard] = {}
        self._in_flight: set[str] = set()  # transactional ids whose markers are being written
        self._task: asyncio.Task[None] | None = None

    # --- the state topic and its partitions ---------------------------------------------------------

    @property
    def partition_count(self) -> int:
        topic = self.topics.image.topic(TRANSACTION_STATE_TOPIC)
        if topic is not None and topic.partitions:
            return len(topic.partitions)
        return self.config.get_int("transaction.state.log.num.partitions")

    def partition_of(self, transactional_id: str) -> int:
        return partition_for(transactional_id, self.partition_count)

    def ensure_state_topic(self) -> ErrorCode:
        """Create `__transaction_state` if missing (Kafka does so on the first FindCoordinator)."""
        if self.topics.image.topic(TRANSACTION_STATE_TOPIC) is None:
            live = len(self.topics.live_brokers())
            created = self.topics.create_topic(
                TRANSACTION_STATE_TOPIC,
                self.config.get_int("transaction.state.log.num.partitions"),
                min(STATE_LOG_REPLICATION_FACTOR, live),
                {
                    "cleanup.policy": "compact",
                    "compression.type": "uncompressed",
                    "segment.bytes": str(STATE_LOG_SEGMENT_BYTES),
                    "unclean.leader.election.enable": "false",
                },
            )
            if isinstance(created, AdminError):
                log.warning("cannot create %s: %s", TRANSACTION_STATE_TOPIC, created.message)
                return ErrorCode.coordinator_not_available
            log.info("created %s with %d partitions", TRANSACTION_STATE_TOPIC, self.partition_count)
        self.load()
        return ErrorCode.none

    def coordinator_for(self, transactional_id: str) -> CoordinatorNode | ErrorCode:
        """Where the id's coordinator is: the leader of its `__transaction_state` partition."""
        error = self.ensure_state_topic()
        if error is not ErrorCode.none:
            return error
        image = self.topics.image
        topic = image.topic(TRANSACTION_STATE_TOPIC)
        state = None if topic is None else topic.partitions.get(self.partition_of(transactional_id))
        broker = None if state is None else image.brokers.get(state.leader)
        if broker is None:
            return ErrorCode.coordinator_not_available
        return CoordinatorNode(broker.broker_id, broker.host, broker.port)

    def load(self) -> None:
        """Replay every led partition not loaded yet; drop the ones no longer led."""
        if self.topics.image.topic(TRANSACTION_STATE_TOPIC) is None:
            return
        for index in range(self.partition_count):
            part = self.replicas.get(TRANSACTION_STATE_TOPIC, index)
            led = part is not None and part.leader == self.broker_id
            if led and index not in self.shards:
                assert part is not None
                self.shards[index] = self._load_partition(part)
            elif not led and index in self.shards:
                del self.shards[index]

    def _load_partition(self, part: Partition) -> TransactionCoordinatorShard:
        shard = TransactionCoordinatorShard(self.config.get_int("transaction.max.timeout.ms"))
        plog, offset = part.log, part.log.log_start_offset
        while offset < plog.log_end_offset:
            data = plog.read(offset, READ_CHUNK_BYTES).read()
            if not data:
                break
            for pos, header in iter_batches(data, allow_partial_tail=True):
                offset = header.last_offset + 1
                if header.is_control:
                    continue
                for raw in decode_records(data, pos, header):
                    try:
                        shard.replay(decode_record(raw.key, raw.value))
                    except CorruptRecordError as exc:
                        log.warning(
                            "skipping unreadable %s record: %s", TRANSACTION_STATE_TOPIC, exc
                        )
        log.info(
            "loaded %s-%d: %d transactional ids",
            TRANSACTION_STATE_TOPIC,
            part.index,
            len(shard.transactions),
        )
        return shard

    def shard_for(self, transactional_id: str) -> tuple[int, TransactionCoordinatorShard]:
        """The shard owning the id here; CoordinatorError(NOT_COORDINATOR) when none does."""
        if self.topics.image.topic(TRANSACTION_STATE_TOPIC) is None:
            raise CoordinatorError(ErrorCode.not_coordinator)
        index = self.partition_of(transactional_id)
        if index not in self.shards:
            self.load()
        shard = self.shards.get(index)
        if shard is None:
            raise CoordinatorError(ErrorCode.not_coordinator)
        return index, shard

    # --- operations ---------------------------------------------------------------------------------

    async def execute(self, transactional_id: str, operation: ShardOperation) -> TxnResult:
        """Run one shard operation, write its records, and carry out (and complete) its markers."""
        index, shard = self.shard_for(transactional_id)
        result = operation(shard, self.clock.now_ms())
        await self._append_and_replay(index, shard, result.records)
        if result.markers is not None:
            await self._background(index, shard, result.markers)  # a failure is retried later
        return result

    async def _append_and_replay(
        self, index: int, shard: TransactionCoordinatorShard, records: list[TransactionLogRecord]
    ) -> None:
        if not records:
            return
        part = self.replicas.get(TRANSACTION_STATE_TOPIC, index)
        if part is None or part.leader != self.broker_id:
            raise CoordinatorError(ErrorCode.not_coordinator)
        now = self.clock.now_ms()
        batch = build_batch([(*encode_record(r), (), now) for r in records])
        try:
            part.log.append(
                batch, leader_epoch=part.leader_epoch, now_ms=now, origin=AppendOrigin.COORDINATOR
            )
        except storage_errors.StorageError as exc:
            log.warning("append to %s-%d failed: %s", TRANSACTION_STATE_TOPIC, index, exc)
            code = (
                ErrorCode.not_coordinator
                if isinstance(exc, storage_errors.KafkaStorageError)
                else ErrorCode.unknown_server_error
            )
            raise CoordinatorError(code) from exc
        for record in records:
            shard.replay(record)
        if self.replicas.strict:
            await self.replicas.committer.sync(part.log)
        self.replicas.advance_high_watermark(part, part.log.log_end_offset)

    async def _finish(self, index: int, shard: TransactionCoordinatorShard, job: MarkerJob) -> None:
        """Write the job's markers, then the Complete record (Kafka's WriteTxnMarkers + complete)."""
        if job.transactional_id in self._in_flight:
            return
        self._in_flight.add(job.transactional_id)
        try:
            await self._write_markers(index, job)
            if job.commit:
                await self._commit_offsets(self.pending_offsets.get(job.transactional_id, {}))
            self.pending_offsets.pop(job.transactional_id, None)
            completed = shard.complete(job.transactional_id, self.clock.now_ms())
            await self._append_and_replay(index, shard, completed.records)
        finally:
            self._in_flight.discard(job.transactional_id)

    async def _write_markers(self, index: int, job: MarkerJob) -> None:
        state_part = self.replicas.get(TRANSACTION_STATE_TOPIC, index)
        coordinator_epoch = 0 if state_part is None else max(state_part.leader_epoch, 0)
        for topic, partition in sorted(job.partitions):
            part = self.replicas.get(topic, partition)
            if part is None or part.leader != self.broker_id:
                log.warning("no marker for %s on %s-%d: not led here", job, topic, partition)
                continue
            now = self.clock.now_ms()
            marker = build_control_batch(
                job.commit,
                base_offset=0,
                producer_id=job.producer_id,
                producer_epoch=job.producer_epoch,
                coordinator_epoch=coordinator_epoch,
                timestamp_ms=now,
            )
            part.log.append(
                marker, leader_epoch=part.leader_epoch, now_ms=now, origin=AppendOrigin.COORDINATOR
            )
            if self.replicas.strict:
                await self.replicas.committer.sync(part.log)
            self.replicas.advance_high_watermark(part, part.log.log_end_offset)

    def add_offsets(
        self, transactional_id: str, offsets: dict[OffsetKey, OffsetCommitValue]
    ) -> None:
        """TxnOffsetCommit: offsets that become committed when the transaction commits."""
        self.pending_offsets.setdefault(transactional_id, {}).update(offsets)

    async def _commit_offsets(self, offsets: dict[OffsetKey, OffsetCommitValue]) -> None:
        if self.groups is None:
            return
        by_group: dict[str, list[OffsetCommitRecord]] = {}
        now = self.clock.now_ms()
        for (group, topic, partition), value in offsets.items():
            stamped = OffsetCommitValue(value.offset, value.metadata, now, value.leader_epoch)
            by_group.setdefault(group, []).append(
                OffsetCommitRecord(group, topic, partition, stamped)
            )
        for group, records in by_group.items():
            await self.groups.execute(group, _commit_records(records))

    # --- timers -------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.load()
        self._task = asyncio.get_running_loop().create_task(self._timer_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _timer_loop(self) -> None:
        await self._run_guarded()  # finish transactions left half-done by a crash
        while True:
            await asyncio.sleep(self.abort_check_ms / 1000)
            await self._run_guarded()

    async def _run_guarded(self) -> None:
        try:
            await self.run_due()
        except Exception:
            log.exception("transaction coordinator timers failed")

    async def run_due(self) -> None:
        """Finish pending marker jobs, then abort every expired transaction."""
        self.load()
        for index, shard in list(self.shards.items()):
            for job in shard.pending_markers():
                await self._background(index, shard, job)
            for transactional_id in shard.expired(self.clock.now_ms()):
                log.info("aborting %s: transaction timed out", transactional_id)
                result = shard.abort_expired(transactional_id, self.clock.now_ms())
                await self._append_and_replay(index, shard, result.records)
                if result.markers is not None:
                    await self._background(index, shard, result.markers)

    async def _background(
        self, index: int, shard: TransactionCoordinatorShard, job: MarkerJob
    ) -> None:
        try:
            await self._finish(index, shard, job)
        except (CoordinatorError, storage_errors.StorageError) as exc:
            log.warning("markers for %s failed (retried later): %s", job.transactional_id, exc)


def _commit_records(
    records: list[OffsetCommitRecord],
) -> Callable[[object, int, int], CoordinatorResult[ErrorCode]]:
    """A group shard operation that writes these offset commits as they are."""

    def operation(shard: object, ticket: int, now: int) -> CoordinatorResult[ErrorCode]:
        return CoordinatorResult(records=list(records), response=ErrorCode.none)

    return operation
