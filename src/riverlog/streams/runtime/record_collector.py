"""RecordCollector: hands a thread's OutputRecords to its one producer (Kafka's `RecordCollectorImpl`).

Invariants:
- Records keep the partition the task chose; `partition=None` is left to the producer, configured with
  `partitioner=murmur2_random` (Java's default partitioner: murmur2 of the key bytes, so a key lands on
  the partition a Java client or Kafka Streams would choose).
- The first delivery error is kept and raised (as ProductionException) by the next `send` or `flush`;
  nothing after a failed record is reported as committed.
- `changelog_offsets` holds, per changelog partition, the offset after the last delivered write — what a
  task's `.checkpoint` records after a commit.

Timestamps are passed to the producer exactly. One value cannot survive: librdkafka treats a produce
timestamp of 0 as "not set" and stamps the current time instead (checked against a real broker; no
producer setting or other produce API of librdkafka avoids it). Such records are counted in
`zero_timestamp_records` (metric `zero-timestamp-records`) and a warning is logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import cast

from confluent_kafka import KafkaError, Message, Producer

from riverlog.streams.errors import ProductionException, TaskMigratedException
from riverlog.streams.records import OutputRecord, TopicPartition

log = logging.getLogger(__name__)

_FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}

# librdkafka takes str or bytes header values; ours are bytes (or None)
_Headers = list[tuple[str, str | bytes | None]]


class RecordCollector:
    """Sends task outputs through one producer; tracks changelog end offsets; surfaces send errors."""

    def __init__(self, producer: Producer, is_changelog: Callable[[str], bool]) -> None:
        self.producer = producer
        self._is_changelog = is_changelog
        self.changelog_offsets: dict[TopicPartition, int] = {}
        self.sent = 0
        self.zero_timestamp_records = 0
        self._error: KafkaError | None = None
        self._error_topic: str | None = None

    def send_all(self, records: Iterable[OutputRecord]) -> None:
        """Produce every record, in order; raises the first earlier delivery error."""
        self.maybe_raise()
        produce = self.producer.produce
        on_delivery = self._on_delivery
        sent = 0
        for record in records:
            if record.timestamp == 0:
                self._note_zero_timestamp(record.topic)
            while True:
                try:
                    if record.partition is None:
                        produce(
                            record.topic,
                            record.value,
                            record.key,
                            timestamp=record.timestamp,
                            headers=cast(_Headers, record.headers) or None,
                            on_delivery=on_delivery,
                        )
                    else:
                        produce(
                            record.topic,
                            record.value,
                            record.key,
                            record.partition,
                            timestamp=record.timestamp,
                            headers=cast(_Headers, record.headers) or None,
                            on_delivery=on_delivery,
                        )
                    break
                except BufferError:
                    # The local queue is full: serve delivery reports until there is room.
                    self.producer.poll(0.05)
                    self.maybe_raise()
            sent += 1
        self.sent += sent
        self.producer.poll(0)

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until every record sent is acknowledged; raises ProductionException on any failure."""
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
        if error is not None:
            if self._error is None:
                self._error, self._error_topic = error, message.topic()
            return
        topic = cast(str, message.topic())
        if self._is_changelog(topic):
            tp = TopicPartition(topic, cast(int, message.partition()))
            offset = cast(int, message.offset()) + 1
            if offset > self.changelog_offsets.get(tp, -1):
                self.changelog_offsets[tp] = offset

    def _note_zero_timestamp(self, topic: str) -> None:
        if self.zero_timestamp_records == 0:
            log.warning(
                "a record for %s has timestamp 0, which librdkafka replaces with the current time",
                topic,
            )
        self.zero_timestamp_records += 1
