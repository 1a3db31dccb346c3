"""RecordCollector: hands a thread's OutputRecords to its one producer (Kafka's `RecordCollectorImpl`).

Invariants:
- Records keep the partition the task chose; `partition=None` is left to the producer, configured with
  `partitioner=murmur2_random` (Java's default partitioner: murmur2 of the key bytes, so a key lands on
  the partition a Java client or Kafka Streams would choose).
- The first delivery error is kept and raised (as ProductionException) by the next `send` or `flush`;
  nothing after a failed record is reported as committed.
- `changelog_offsets` holds, per changelog partition, an offset at or below the one after the last
  acknowledged write (asked of the broker after each commit without waiting for the answer, see
  `request_changelog_offsets`) — what a task's `.checkpoint` records after a commit.

Timestamps are passed to the producer exactly. One value cannot survive: librdkafka treats a produce
timestamp of 0 as "not set" and stamps the current time instead (checked against a real broker; no
producer setting or other produce API of librdkafka avoids it). Such records are counted in
`zero_timestamp_records` (metric `zero-timestamp-records`) and a warning is logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from confluent_kafka import IsolationLevel, KafkaError, KafkaException, Message, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from riverlog.streams.errors import (
    ProductionException,
    TaskCorruptedException,
    TaskMigratedException,
)
from riverlog.streams.records import OutputRecord, TopicPartition

log = logging.getLogger(__name__)

_UNASSIGNED = -1  # librdkafka's RD_KAFKA_PARTITION_UA
_FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


class RecordCollector:
    """Sends task outputs through one producer; tracks changelog end offsets; surfaces send errors."""

    def __init__(self, producer: Producer, is_changelog: Callable[[str], bool]) -> None:
        self.producer = producer
        self._is_changelog = is_changelog
        self.changelog_offsets: dict[TopicPartition, int] = {}
        self.sent = 0
        self.zero_timestamp_records = 0
        self._lingering = False  # records produced since the last flush or push
        self._written: set[tuple[str, int]] = set()  # changelog partitions written since the last
        # request_changelog_offsets, and that request's answers still to come
        self._offset_requests: list[tuple[KafkaTopicPartition, Future[Any]]] = []
        self._error: KafkaError | None = None
        self._error_topic: str | None = None

    def send_all(self, records: Iterable[OutputRecord]) -> None:
        """Produce every record, in order; raises the first earlier delivery error."""
        self.maybe_raise()
        produce = self.producer.produce
        on_delivery = self._on_delivery
        is_changelog = self._is_changelog
        written = self._written
        sent = 0
        for record in records:
            topic, partition, timestamp = record.topic, record.partition, record.timestamp
            if timestamp == 0:
                self._note_zero_timestamp(topic)
            headers = record.headers or None
            while True:
                try:
                    # positional arguments (topic, value, key, partition, on_delivery, callback,
                    # timestamp, headers): half the cost of keywords in confluent-kafka's produce;
                    # partition -1 (RD_KAFKA_PARTITION_UA) leaves it to the partitioner
                    produce(
                        topic,
                        record.value,
                        record.key,
                        _UNASSIGNED if partition is None else partition,
                        on_delivery,
                        None,
                        timestamp,
                        headers,  # type: ignore[arg-type]
                    )
                    if partition is not None and is_changelog(topic):
                        written.add((topic, partition))
                    break
                except BufferError:
                    # The local queue is full: serve delivery reports until there is room.
                    self.producer.poll(0.05)
                    self.maybe_raise()
            sent += 1
        self.sent += sent
        if sent:
            self._lingering = True
        self.producer.poll(0)

    def request_changelog_offsets(self, admin: AdminClient, read_committed: bool) -> None:
        """After a flush or a committed transaction: ask for the end offset of every changelog
        partition written since the last request; `collect_changelog_offsets` applies the answers.

        The producer reports errors only (`delivery.report.only.error`: a Python callback per
        delivered record cost more than producing it), so the end offsets come from the broker:
        each changelog partition has one writer, this thread's task, so once its writes are
        acknowledged (and, under exactly_once_v2, committed) the partition's end (the last stable
        offset for read_committed) is the offset after its last write. One ListOffsets request on
        the admin client's own connections: on the consumer's, it would queue behind a fetch the
        broker holds for up to `fetch.wait.max.ms` (0.5 s), and the commit would wait for it.
        """
        written, self._written = self._written, set()
        if not written:
            return
        level = IsolationLevel.READ_COMMITTED if read_committed else IsolationLevel.READ_UNCOMMITTED
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        request = {KafkaTopicPartition(t, p): latest for t, p in written}
        try:
            futures = admin.list_offsets(request, isolation_level=level, request_timeout=30)
        except KafkaException as exc:
            log.warning("changelog end offsets not requested: %s", exc)
            self._written |= written
            return
        self._offset_requests.extend(futures.items())

    def collect_changelog_offsets(self, wait_s: float | None) -> None:
        """Apply the answers that arrived (`wait_s=None`), or wait up to `wait_s` for all of them.

        An answer only ever raises `changelog_offsets`: an offset read after a flush stays true for
        every later checkpoint (the stores only gain writes), so using it a commit late is safe —
        restoration after a crash just reads a little more."""
        pending: list[tuple[KafkaTopicPartition, Future[Any]]] = []
        for ktp, future in self._offset_requests:
            if wait_s is None and not future.done():
                pending.append((ktp, future))
                continue
            try:
                high = future.result(timeout=wait_s).offset
            except Exception as exc:  # the checkpoint keeps the older offset
                log.warning("end offset of %s-%d unknown: %s", ktp.topic, ktp.partition, exc)
                self._written.add((ktp.topic, ktp.partition))
                continue
            tp = TopicPartition(ktp.topic, ktp.partition)
            if high > self.changelog_offsets.get(tp, -1):
                self.changelog_offsets[tp] = high
        self._offset_requests = pending

    def push(self, timeout_s: float) -> None:
        """Send what lingers in the producer now, waiting at most `timeout_s` for acknowledgements.

        librdkafka holds records for `linger.ms` (Kafka Streams' default: 100) to batch them; a thread
        that has caught up with its input has no batch to fill, so it sends at once: a flush wakes
        the producer's broker threads and lets them ignore the linger. Unacknowledged records stay
        in flight (a commit still flushes them); delivery errors surface as with `send_all`.
        """
        if self._lingering:
            self._lingering = False
            try:
                self.producer.flush(timeout_s)
            except KafkaException as exc:  # a transactional producer's flush reports its state
                error = exc.args[0]
                if not isinstance(error, KafkaError):
                    raise
                if error.fatal() or error.code() in _FENCED:
                    raise TaskMigratedException(f"producer fenced: {error.str()}") from exc
                if error.txn_requires_abort():
                    raise TaskCorruptedException(
                        f"transaction must be aborted: {error.str()}"
                    ) from exc
                raise
            self.maybe_raise()

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until every record sent is acknowledged; raises ProductionException on any failure."""
        self._lingering = False
        remaining = self.producer.flush(timeout_s)
        self.maybe_raise()
        if remaining:
            raise ProductionException(f"{remaining} records not delivered within {timeout_s}s")

    def maybe_raise(self) -> None:
        if self._error is not None:
            error, topic = self._error, self._error_topic
            self._error = None
            message = f"Error sending a record to topic {topic}: {error.str()}"
            if error.fatal() or error.code() in _FENCED:
                # the producer is fenced (a newer one took its transactional id): tasks migrated
                raise TaskMigratedException(message)
            raise ProductionException(message)

    def reset(self, producer: Producer) -> None:
        """Carry on with a new producer (the old one was fenced); earlier errors are forgotten."""
        self.producer = producer
        self._error = None
        self._error_topic = None

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None and self._error is None:
            self._error, self._error_topic = error, message.topic()

    def _note_zero_timestamp(self, topic: str) -> None:
        if self.zero_timestamp_records == 0:
            log.warning(
                "a record for %s has timestamp 0, which librdkafka replaces with the current time",
                topic,
            )
        self.zero_timestamp_records += 1
