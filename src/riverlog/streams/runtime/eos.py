"""Commit protocols: at_least_once and exactly_once_v2, each a numbered list of steps.

at_least_once (`AtLeastOnceCommitter.commit`):
  1. flush the producer: every output, repartition and changelog record sent so far is acknowledged
     (a failed delivery raises here, and nothing is committed);
  2. commit the consumed input offsets synchronously to the group. If a rebalance refuses them
     (generation moved on), they are kept and committed with the next commit for the partitions the
     thread still owns; partitions that move are committed by the revocation callback first.
  A crash between 1 and 2 re-processes input whose effects were already written: counts may only grow
  too high, never too low.

exactly_once_v2 (`ExactlyOnceCommitter`), one transactional producer per thread (KIP-447):
  0. `init_transactions` once when the thread starts (fences an older producer with the same id);
  1. before the first record after a commit, `begin_transaction`;
  2. at commit, `send_offsets_to_transaction(offsets, consumer group metadata)` — the group metadata
     (generation, member id) lets the broker refuse offsets from a zombie that lost its partitions;
  3. `commit_transaction`: outputs, changelog writes and offsets become visible together, or not at all.
  A fenced producer (another took its transactional id, or the broker timed its transaction out)
  is replaced by a new one under the same id, and the tasks are rebuilt as after an abort.
  On an abortable error the thread calls `abort`: the transaction's writes are discarded and the tasks'
  local state, which already holds them, is wiped and restored from the (read_committed) changelog,
  and input is re-read from the committed offsets. A fatal error (fenced) fails the thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from riverlog.streams.errors import TaskCorruptedException, TaskMigratedException
from riverlog.streams.records import TopicPartition
from riverlog.streams.runtime.record_collector import RecordCollector

log = logging.getLogger(__name__)


def kafka_offsets(offsets: Mapping[TopicPartition, int]) -> list[KafkaTopicPartition]:
    return [KafkaTopicPartition(tp.topic, tp.partition, offset) for tp, offset in offsets.items()]


class AtLeastOnceCommitter:
    """Flush, then commit offsets."""

    eos = False

    def __init__(self, producer: Producer, consumer: Consumer, collector: RecordCollector) -> None:
        self.producer = producer
        self.consumer = consumer
        self.collector = collector
        # Offsets a commit could not place (a rebalance was under way): retried with the next commit.
        self.pending: dict[TopicPartition, int] = {}

    def init(self, timeout_s: float) -> None:
        """Nothing to set up."""

    def reset(self, producer: Producer) -> None:
        self.producer = producer

    def before_send(self) -> None:
        """Nothing to open."""

    @property
    def has_open_work(self) -> bool:
        return False

    def commit(
        self,
        offsets: Mapping[TopicPartition, int],
        timeout_s: float,
        owned: Callable[[TopicPartition], bool] = lambda tp: True,
    ) -> None:
        # 1. every record sent is acknowledged (raises ProductionException otherwise)
        self.collector.flush(timeout_s)
        # 2. then the input offsets (with any a rebalance refused before, for partitions still ours)
        todo = {tp: o for tp, o in self.pending.items() if owned(tp)}
        todo.update(offsets)
        self.pending = {}
        if not todo:
            return
        try:
            self.consumer.commit(offsets=kafka_offsets(todo), asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0]
            if not (isinstance(error, KafkaError) and error.code() in _MIGRATED):
                raise
            # The group is rebalancing: the records are written, only the offsets wait. Partitions
            # that move are committed by the revocation callback; the rest go with the next commit.
            log.info("offset commit deferred (%s)", error.str())
            self.pending = todo

    def abort(self) -> None:
        """Nothing to abort: what was sent stays sent."""


_MIGRATED = {
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError._ASSIGNMENT_LOST,
}


class ExactlyOnceCommitter:
    """One transaction per commit interval covering outputs, changelog writes and input offsets."""

    eos = True

    def __init__(self, producer: Producer, consumer: Consumer, collector: RecordCollector) -> None:
        self.producer = producer
        self.consumer = consumer
        self.collector = collector
        self.in_transaction = False

    def init(self, timeout_s: float) -> None:
        # 0. register the transactional id, fencing any older producer that used it
        self.producer.init_transactions(timeout_s)

    def reset(self, producer: Producer) -> None:
        """Use a new producer (the old one was fenced; its transaction is gone)."""
        self.producer = producer
        self.in_transaction = False

    @property
    def has_open_work(self) -> bool:
        return self.in_transaction

    def before_send(self) -> None:
        # 1. a transaction is open before any record is produced
        if not self.in_transaction:
            self._call(self.producer.begin_transaction)
            self.in_transaction = True

    def commit(
        self,
        offsets: Mapping[TopicPartition, int],
        timeout_s: float,
        owned: Callable[[TopicPartition], bool] = lambda tp: True,
    ) -> None:
        if not offsets and not self.in_transaction:
            return
        self.before_send()
        # 2. the offsets join the transaction, checked against our group generation
        if offsets:
            metadata = self.consumer.consumer_group_metadata()
            self._call(
                lambda: self.producer.send_offsets_to_transaction(
                    kafka_offsets(offsets), metadata, timeout_s
                )
            )
        # 3. everything becomes visible at once
        self._call(lambda: self.producer.commit_transaction(timeout_s))
        self.in_transaction = False
        self.collector.maybe_raise()

    def abort(self) -> None:
        if not self.in_transaction:
            return
        self.in_transaction = False
        try:
            self.producer.abort_transaction(30)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.fatal():
                raise TaskMigratedException(
                    f"producer fenced while aborting: {error.str()}"
                ) from exc
            raise

    def _call(self, step: object) -> None:
        assert callable(step)
        try:
            step()
        except KafkaException as exc:
            error = exc.args[0]
            if not isinstance(error, KafkaError):
                raise
            if error.fatal():
                raise TaskMigratedException(
                    f"transactional producer fenced: {error.str()}"
                ) from exc
            if error.txn_requires_abort() or error.code() in _MIGRATED:
                raise TaskCorruptedException(f"transaction must be aborted: {error.str()}") from exc
            if error.retriable():
                # librdkafka's transactional calls may be retried as they are (e.g. a timeout)
                log.warning("retrying transactional call after %s", error.str())
                step()
                return
            raise
