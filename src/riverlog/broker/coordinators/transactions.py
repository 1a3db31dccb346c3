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
- `__transaction_state` gets `min.insync.replicas` = `transaction.state.log.min.isr` (capped at its
  replication factor); a write with fewer in-sync replicas fails with COORDINATOR_NOT_AVAILABLE.
- A timer task aborts transactions open longer than their `transaction.timeout.ms` (with a bumped
  epoch, fencing their producer) and retries marker jobs that failed, every
  `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
- Markers go through `MarkerWriter.write`, the code path of the WriteTxnMarkers handler. A job
  remembers the partitions already done, so a retry writes only the missing markers. A partition of
  a deleted topic gets none (as in Kafka); any other failure (not the leader here, storage) leaves
  the transaction in Prepare* and is retried: Complete* is written only after every marker.
  Partitions led by another broker get WriteTxnMarkers from here, as Kafka's coordinator sends it.
- TxnOffsetCommit offsets are not held here: the group coordinator writes them to
  `__consumer_offsets` in the producer's transaction, and the marker on that partition commits or
  drops them (`MarkerWriter` replays it into the group coordinator).

Crash behaviour: nothing is durable beyond the logs. On start every led partition is replayed; a
transaction found in PrepareCommit/PrepareAbort has its markers written again (a partition that
already has the marker gets a second one, which the partition side and the group coordinator treat
as a no-op for the already-completed transaction) and is completed. Transactional offsets are
records of `__consumer_offsets`, so they come back with it, pending until their marker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode
from kio.schema.write_txn_markers.v1 import request as markers_v1

from riverlog.broker.admin.topics import TopicAdmin
from riverlog.broker.config import BrokerConfig
from riverlog.broker.coordinators.groups import OFFSETS_TOPIC, GroupRuntime
from riverlog.broker.coordinators.runtime import (
    CoordinatorError,
    CoordinatorRuntime,
    InternalTopicSettings,
)
from riverlog.broker.replication.peer import (
    PeerError,
    PeerPool,
    PeerSecurity,
    inter_broker_security,
)
from riverlog.broker.replication.replica_manager import ReplicaManager
from riverlog.coordinator.txn import (
    MarkerJob,
    TransactionCoordinatorShard,
    TransactionLogRecord,
    TxnResult,
    decode_record,
    encode_record,
)
from riverlog.metadata.image import ClusterImage
from riverlog.protocol.errors import CorruptRecordError
from riverlog.protocol.records import (
    BatchHeader,
    build_batch,
    build_control_batch,
    decode_records,
)
from riverlog.storage import AppendOrigin
from riverlog.storage import errors as storage_errors
from riverlog.storage.clock import Clock

log = logging.getLogger(__name__)
MARKER_REPLICATION_TIMEOUT_S = 30.0
# kio's WriteTxnMarkers v1 request types, untyped here: the values are plain ints and strings.
MarkersRequest: Any = markers_v1.WriteTxnMarkersRequest
WritableMarker: Any = markers_v1.WritableTxnMarker
WritableMarkerTopic: Any = markers_v1.WritableTxnMarkerTopic

TRANSACTION_STATE_TOPIC = "__transaction_state"
ShardOperation = Callable[[TransactionCoordinatorShard, int], TxnResult]
# Marker answers after which a partition gets no marker: its topic is gone (Kafka drops it too).
SKIPPED_MARKER_ERRORS = frozenset({ErrorCode.unknown_topic_or_partition})
_MARKER_ERRORS: tuple[tuple[type[Exception], ErrorCode], ...] = (
    (storage_errors.TransactionCoordinatorFencedError, ErrorCode.transaction_coordinator_fenced),
    (storage_errors.InvalidProducerEpochError, ErrorCode.invalid_producer_epoch),
    (storage_errors.KafkaStorageError, ErrorCode.kafka_storage_error),
)


@dataclass(frozen=True, slots=True)
class TxnMarker:
    """One WriteTxnMarkers entry: end the producer's transaction on a partition."""

    producer_id: int
    producer_epoch: int
    commit: bool
    coordinator_epoch: int


class MarkerWriter:
    """Kafka's WriteTxnMarkers on this broker: the coordinator and the handler both use `write`.

    A marker is appended as a control batch (origin COORDINATOR) to a partition this broker leads,
    then, for `__consumer_offsets`, replayed into the group coordinator at once (the producer's
    pending transactional offsets land or vanish), then acknowledged under the durability mode.
    """

    def __init__(
        self,
        replicas: ReplicaManager,
        clock: Clock,
        broker_id: int,
        groups: GroupRuntime | None,
        image_of: Callable[[], ClusterImage] | None = None,
        security: PeerSecurity | None = None,
    ) -> None:
        self.replicas = replicas
        self.clock = clock
        self.broker_id = broker_id
        self.groups = groups
        self.image_of = image_of
        self._peers = PeerPool(30.0, security)

    async def write(self, topic: str, partition: int, marker: TxnMarker) -> ErrorCode:
        part = self.replicas.get(topic, partition)
        if part is None or part.leader != self.broker_id:
            # In a cluster the partition's leader writes it: send it WriteTxnMarkers, as Kafka's
            # coordinator does (the handler's own calls only ever write locally led partitions).
            remote = await self._write_remote(topic, partition, marker)
            if remote is not None:
                return remote
            return (
                ErrorCode.unknown_topic_or_partition
                if part is None
                else ErrorCode.not_leader_or_follower
            )
        now = self.clock.now_ms()
        batch = build_control_batch(
            marker.commit,
            base_offset=0,
            producer_id=marker.producer_id,
            producer_epoch=marker.producer_epoch,
            coordinator_epoch=marker.coordinator_epoch,
            timestamp_ms=now,
        )
        try:
            part.log.append(
                batch, leader_epoch=part.leader_epoch, now_ms=now, origin=AppendOrigin.COORDINATOR
            )
        except storage_errors.StorageError as exc:
            log.warning("marker on %s-%d failed: %s", topic, partition, exc)
            return _marker_error(exc)
        if topic == OFFSETS_TOPIC and self.groups is not None:
            self.groups.complete_transaction(partition, marker.producer_id, marker.commit)
        if self.replicas.strict:
            await self.replicas.committer.sync(part.log)
        self.replicas.maybe_advance_high_watermark(part)
        self.replicas.purgatory.notify(part.key)
        code = await self.replicas.wait_for_replication(
            part, part.log.log_end_offset - 1, MARKER_REPLICATION_TIMEOUT_S
        )
        return code if code is not ErrorCode.not_enough_replicas_after_append else ErrorCode.none

    async def _write_remote(
        self, topic: str, partition: int, marker: TxnMarker
    ) -> ErrorCode | None:
        """WriteTxnMarkers to the partition's leader; None when no other broker leads it."""
        image = self.image_of() if self.image_of is not None else None
        state = None if image is None else image.partition(topic, partition)
        if image is None or state is None or state.leader in (-1, self.broker_id):
            return None
        broker = image.brokers.get(state.leader)
        if broker is None:
            return None
        peer = self._peers.get(broker.broker_id, broker.host, broker.port)
        request = MarkersRequest(
            markers=(
                WritableMarker(
                    producer_id=marker.producer_id,
                    producer_epoch=marker.producer_epoch,
                    transaction_result=marker.commit,
                    topics=(WritableMarkerTopic(name=topic, partition_indexes=(partition,)),),
                    coordinator_epoch=marker.coordinator_epoch,
                ),
            )
        )
        try:
            response = await peer.request(request)
        except PeerError as exc:
            log.info(
                "marker for %s-%d to broker %d failed: %s", topic, partition, broker.broker_id, exc
            )
            return ErrorCode.coordinator_load_in_progress  # retriable: the job tries again
        for result in response.markers:
            for t in result.topics:
                for p in t.partitions:
                    return ErrorCode(p.error_code)
        return ErrorCode.unknown_server_error


def _marker_error(exc: Exception) -> ErrorCode:
    for cls, code in _MARKER_ERRORS:
        if isinstance(exc, cls):
            return code
    return ErrorCode.unknown_server_error


class TxnRuntime(CoordinatorRuntime[TransactionCoordinatorShard]):
    topic_name = TRANSACTION_STATE_TOPIC
    topic_settings = InternalTopicSettings(
        TRANSACTION_STATE_TOPIC,
        "transaction.state.log",
        {
            "cleanup.policy": "compact",
            "compression.type": "uncompressed",
            "unclean.leader.election.enable": "false",
        },
        min_isr=True,
    )

    def __init__(
        self,
        config: BrokerConfig,
        clock: Clock,
        replicas: ReplicaManager,
        topics: TopicAdmin,
        broker_id: int,
        new_producer_id: Callable[[], int],
        groups: GroupRuntime | None = None,
        abort_check_ms: int | None = None,
    ) -> None:
        super().__init__(config, clock, replicas, topics, broker_id)
        self.new_producer_id = new_producer_id
        self.groups = groups
        self.abort_check_ms = abort_check_ms or config.get_int(
            "transaction.abort.timed.out.transaction.cleanup.interval.ms"
        )
        self.markers = MarkerWriter(
            replicas, clock, broker_id, groups, lambda: topics.image, inter_broker_security(config)
        )
        self._markers_done: dict[MarkerJob, set[tuple[str, int]]] = {}
        self._in_flight: set[str] = set()  # transactional ids whose markers are being written
        self._task: asyncio.Task[None] | None = None
        self._next_id_expiry_ms = 0

    # --- the state topic and its partitions ---------------------------------------------------------

    def new_shard(self) -> TransactionCoordinatorShard:
        return TransactionCoordinatorShard(self.config.get_int("transaction.max.timeout.ms"))

    def ensure_state_topic(self) -> ErrorCode:
        """Create `__transaction_state` if missing (Kafka does so on the first FindCoordinator)."""
        return self.ensure_topic()

    def replay_batch(
        self,
        shard: TransactionCoordinatorShard,
        data: bytes,
        pos: int,
        header: BatchHeader,
        now: int,
    ) -> int:
        if header.is_control:
            return 0
        count = 0
        for raw in decode_records(data, pos, header):
            try:
                shard.replay(decode_record(raw.key, raw.value))
                count += 1
            except CorruptRecordError as exc:
                log.warning("skipping unreadable %s record: %s", TRANSACTION_STATE_TOPIC, exc)
        return count

    def loaded(
        self, index: int, shard: TransactionCoordinatorShard, records: int, now: int
    ) -> None:
        log.info(
            "loaded %s-%d: %d transactional ids",
            TRANSACTION_STATE_TOPIC,
            index,
            len(shard.transactions),
        )

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
        now = self.clock.now_ms()
        batch = build_batch([(*encode_record(r), (), now) for r in records])

        def replay() -> None:
            for record in records:
                shard.replay(record)

        await self.append_and_replay(index, batch, replay)

    async def _finish(self, index: int, shard: TransactionCoordinatorShard, job: MarkerJob) -> None:
        """Write the job's markers, then the Complete record (Kafka's WriteTxnMarkers + complete)."""
        if job.transactional_id in self._in_flight:
            return
        self._in_flight.add(job.transactional_id)
        try:
            await self._write_markers(index, job)
            self._markers_done.pop(job, None)
            completed = shard.complete(job.transactional_id, self.clock.now_ms())
            await self._append_and_replay(index, shard, completed.records)
        finally:
            self._in_flight.discard(job.transactional_id)

    async def _write_markers(self, index: int, job: MarkerJob) -> None:
        """One marker per partition of the job, through the WriteTxnMarkers path; raises
        CoordinatorError (the job is retried; partitions already done are not written again)."""
        state_part = self.replicas.get(TRANSACTION_STATE_TOPIC, index)
        marker = TxnMarker(
            job.producer_id,
            job.producer_epoch,
            job.commit,
            0 if state_part is None else max(state_part.leader_epoch, 0),
        )
        done = self._markers_done.setdefault(job, set())
        for topic, partition in sorted(job.partitions - done):
            code = await self.markers.write(topic, partition, marker)
            if code in SKIPPED_MARKER_ERRORS:
                log.warning("no marker for %s on %s-%d: %s", job, topic, partition, code.name)
            elif code is not ErrorCode.none:
                raise CoordinatorError(code, f"marker on {topic}-{partition}: {code.name}")
            done.add((topic, partition))

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
        """Finish pending marker jobs, abort every expired transaction, and (every
        `transaction.remove.expired.transaction.cleanup.interval.ms`) delete idle ids."""
        self.load()
        now = self.clock.now_ms()
        if now >= self._next_id_expiry_ms:
            self._next_id_expiry_ms = now + self.config.get_int(
                "transaction.remove.expired.transaction.cleanup.interval.ms"
            )
            await self.expire_ids()
        for index, shard in list(self.shards.items()):
            for job in shard.pending_markers():
                await self._background(index, shard, job)
            for transactional_id in shard.expired(self.clock.now_ms()):
                log.info("aborting %s: transaction timed out", transactional_id)
                result = shard.abort_expired(transactional_id, self.clock.now_ms())
                await self._append_and_replay(index, shard, result.records)
                if result.markers is not None:
                    await self._background(index, shard, result.markers)

    async def expire_ids(self) -> None:
        """Delete transactional ids idle for `transactional.id.expiration.ms` (tombstones)."""
        expiration_ms = self.config.get_int("transactional.id.expiration.ms")
        for index, shard in list(self.shards.items()):
            for transactional_id in shard.expired_ids(self.clock.now_ms(), expiration_ms):
                log.info("expiring transactional id %s", transactional_id)
                result = shard.expire_id(transactional_id, self.clock.now_ms(), expiration_ms)
                await self._append_and_replay(index, shard, result.records)

    async def _background(
        self, index: int, shard: TransactionCoordinatorShard, job: MarkerJob
    ) -> None:
        try:
            await self._finish(index, shard, job)
        except (CoordinatorError, storage_errors.StorageError) as exc:
            log.warning("markers for %s failed (retried later): %s", job.transactional_id, exc)
