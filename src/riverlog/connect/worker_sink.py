"""`WorkerSinkTask` (consume → convert → transform → put, then `pre_commit` and a synchronous offset
commit), after Kafka's class of the same name.

Invariant: a sink offset is committed only for records `put` and accepted by `pre_commit`. A task that
raises is FAILED with its trace and never takes the worker down (see `WorkerTask`).
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, Message
from confluent_kafka import TopicPartition as KafkaTopicPartition

from riverlog.connect.api import Header, SinkRecord, SinkTask, SinkTaskContext, TopicPartition
from riverlog.connect.error_handling import ConsumedRecord, RetryWithToleranceOperator, Stage
from riverlog.connect.errors import ConnectException, RetriableException
from riverlog.connect.status import State, TargetState, TaskId
from riverlog.connect.transforms.base import TransformationChain
from riverlog.connect.worker_tasks import Converters, StatusCallback, WorkerTask

log = logging.getLogger(__name__)


class WorkerSinkTask(WorkerTask):
    def __init__(
        self,
        task_id: TaskId,
        task: SinkTask,
        props: dict[str, str],
        *,
        topics: list[str],
        topics_regex: str,
        converters: Converters,
        chain: TransformationChain,
        retry: RetryWithToleranceOperator,
        consumer_config: dict[str, Any],
        flush_interval_ms: int,
        on_status: StatusCallback,
        target: TargetState,
        batch_size: int = 2000,
    ) -> None:
        super().__init__(task_id, on_status, target)
        self.task, self.props = task, props
        self.topics, self.topics_regex = topics, topics_regex
        self.converters, self.chain, self.retry = converters, chain, retry
        self.consumer_config = consumer_config
        self.flush_interval_s = flush_interval_ms / 1000
        self.batch_size = batch_size
        self.consumer: Consumer | None = None
        self.context = SinkTaskContext(dict(props))
        self.context.errant_record_reporter = self.report
        self._batch: dict[tuple[str, int, int], ConsumedRecord] = {}
        self._raw: dict[tuple[str, int, int], Message] = {}  # the batch path's messages, for report
        self._tps: dict[tuple[str, int], TopicPartition] = {}
        self.current: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}
        self.records_put = 0
        self.records_read = 0  # records consumed from Kafka (sink-record-read-total)

    def on_stop_requested(self) -> None:
        pass  # the loop notices `stopping` within one consume timeout

    def _assigned(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        tps = {TopicPartition(p.topic, p.partition) for p in partitions}
        self.context.assignment |= tps
        self.task.open(tps)
        self._apply_resets()

    def _revoked(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        tps = {TopicPartition(p.topic, p.partition) for p in partitions}
        self.commit(only=tps)
        self.task.close(tps)
        self.context.assignment -= tps
        for tp in tps:
            self.current.pop(tp, None)

    def _apply_resets(self) -> None:
        assert self.consumer is not None
        for tp, offset in list(self.context.offsets_to_reset.items()):
            if tp in self.context.assignment:
                self.consumer.seek(KafkaTopicPartition(tp.topic, tp.partition, offset))
                del self.context.offsets_to_reset[tp]

    def paused_idle(self) -> None:
        if self.consumer is not None:
            self.consumer.pause(self.consumer.assignment())
            self.consumer.consume(1, 0)  # keeps group membership; paused partitions return nothing
            self._paused_consumer = True

    def execute(self) -> None:
        # 1. Start the plugin task, then subscribe (open() is called from the assignment callback).
        self.task.initialize(self.context)
        self.task.start(dict(self.props))
        self.consumer = Consumer(self.consumer_config)
        subscription = (
            [
                f"^{self.topics_regex}"
                if not self.topics_regex.startswith("^")
                else self.topics_regex
            ]
            if self.topics_regex
            else self.topics
        )
        self.consumer.subscribe(subscription, on_assign=self._assigned, on_revoke=self._revoked)
        self.on_status(
            self.id, State.PAUSED if self.target is TargetState.PAUSED else State.RUNNING, None
        )
        next_commit = time.monotonic() + self.flush_interval_s
        # 2. Consume, convert, put; commit on the interval or when the task asks.
        while self.wait_while_paused():
            if getattr(self, "_paused_consumer", False):
                self.consumer.resume(self.consumer.assignment())
                self._paused_consumer = False
            self._batch.clear()
            self._raw.clear()
            messages = self.consumer.consume(self.batch_size, 0.2)
            self.records_read += len(messages)
            records = self._convert_batch(messages)
            self._put(records)
            self._apply_resets()
            if self.context.commit_requested or time.monotonic() >= next_commit:
                self.context.commit_requested = False
                self.commit()
                next_commit = time.monotonic() + self.flush_interval_s
        # 3. Final commit and close.
        self.commit()
        if self.context.assignment:
            self.task.close(set(self.context.assignment))

    def _convert_batch(self, messages: list[Message]) -> list[SinkRecord]:
        """Messages to records. Without transformations, headers or errors, a message goes straight
        through the converters into a `SinkRecord` (the raw record is kept for the errant-record
        reporter); anything else, or a conversion that raises, takes the per-record path with its retry
        and tolerance rules."""
        if self.chain.stages:
            return [r for r in (self._convert(m) for m in messages) if r is not None]
        key_of = self.converters.key.to_connect_data
        value_of = self.converters.value.to_connect_data
        tps, current, raw = self._tps, self.current, self._raw
        out: list[SinkRecord] = []
        append = out.append
        for msg in messages:
            if msg.error() is not None or msg.headers():
                record = self._convert(msg)
                if record is not None:
                    append(record)
                continue
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            try:
                key = key_of(topic, msg.key())  # type: ignore[arg-type]
                value = value_of(topic, msg.value())  # type: ignore[arg-type]
            except Exception:
                record = self._convert(msg)
                if record is not None:
                    append(record)
                continue
            tp = tps.get((topic, partition))  # type: ignore[arg-type]
            if tp is None:
                self.topics_used.add(topic)  # type: ignore[arg-type]
                tp = tps[(topic, partition)] = TopicPartition(topic, partition)  # type: ignore[arg-type,index]
            current[tp] = offset + 1  # type: ignore[operator]
            raw[(topic, partition, offset)] = msg  # type: ignore[index]
            ts_type, ts = msg.timestamp()
            append(
                SinkRecord(
                    topic,  # type: ignore[arg-type]
                    partition,
                    key.schema,
                    key.value,
                    value.schema,
                    value.value,
                    ts if ts_type else None,
                    (),
                    offset,  # type: ignore[arg-type]
                    "LogAppendTime" if ts_type == 2 else "CreateTime",
                    topic,
                    partition,
                    offset,
                )
            )
        return out

    def _convert(self, msg: Message) -> SinkRecord | None:
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return None
            if error.fatal() or not error.retriable():
                raise ConnectException(f"Consumer error: {error}")
            return None
        topic, partition, offset = (
            str(msg.topic()),
            int(msg.partition() or 0),
            int(msg.offset() or 0),
        )
        self.topics_used.add(topic)
        tp = self._tps.get((topic, partition))
        if tp is None:
            tp = self._tps[(topic, partition)] = TopicPartition(topic, partition)
        self.current[tp] = offset + 1
        headers_in = cast(list[tuple[str, Any]], msg.headers() or [])
        raw_headers: list[tuple[str, bytes | None]] = [
            (str(k), v if isinstance(v, bytes) or v is None else str(v).encode())
            for k, v in headers_in
        ]
        consumed = ConsumedRecord(topic, partition, offset, msg.key(), msg.value(), raw_headers)
        self._batch[(topic, partition, offset)] = consumed
        ok_k, key = self.retry.execute(
            Stage.KEY_CONVERTER,
            lambda: self.converters.key.to_connect_data(topic, msg.key()),
            executing=type(self.converters.key).__name__,
            consumed=consumed,
        )
        if not ok_k:
            return None
        ok_v, value = self.retry.execute(
            Stage.VALUE_CONVERTER,
            lambda: self.converters.value.to_connect_data(topic, msg.value()),
            executing=type(self.converters.value).__name__,
            consumed=consumed,
        )
        if not ok_v:
            return None
        headers: tuple[Header, ...] = ()
        if raw_headers:
            headers = tuple(
                Header(k, sv.schema, sv.value)
                for k, v in raw_headers
                for sv in [self.converters.header.to_connect_data(topic, v)]
            )
        ts_type, ts = msg.timestamp()
        assert key is not None and value is not None
        record = SinkRecord(
            topic,
            partition,
            key.schema,
            key.value,
            value.schema,
            value.value,
            ts if ts_type else None,
            headers,
            kafka_offset=offset,
            timestamp_type="LogAppendTime" if ts_type == 2 else "CreateTime",
            original_topic=topic,
            original_kafka_partition=partition,
            original_kafka_offset=offset,
        )
        if not self.chain.stages:
            return record
        ok_t, out = self.retry.execute(
            Stage.TRANSFORMATION,
            lambda: self.chain.apply(record),
            executing="TransformationChain",
            consumed=consumed,
        )
        return out if ok_t else None  # type: ignore[return-value]

    def report(self, record: SinkRecord, error: BaseException) -> None:
        """Kafka's errant record reporter (KIP-610): the task hands back a record it could not write;
        it is handled as a failure of stage TASK_PUT (tolerance, log, DLQ with the consumed bytes)."""
        key = (
            record.original_topic or record.topic,
            record.original_kafka_partition or 0,
            record.original_kafka_offset or record.kafka_offset,
        )
        consumed = self._batch.get(key)
        if consumed is None and key in self._raw:  # type: ignore[comparison-overlap]
            msg = self._raw[key]  # type: ignore[index]
            consumed = ConsumedRecord(key[0], key[1], key[2], msg.key(), msg.value(), [])
        self.retry._failed(Stage.TASK_PUT, error, type(self.task).__name__, consumed)

    def counters(self) -> dict[str, int]:
        return {
            "sink-record-read-total": self.records_read,
            "sink-record-send-total": self.records_put,
        }

    def _put(self, records: list[SinkRecord]) -> None:
        if not records:
            return
        delay = 0.1
        while True:
            try:
                self.task.put(records)
                self.records_put += len(records)
                return
            except RetriableException:
                # Kafka pauses and redelivers the same batch; here: the same batch again after a pause.
                if self.stopping:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def commit(self, only: set[TopicPartition] | None = None) -> None:
        """`pre_commit` the offsets consumed so far and commit what it returns, synchronously."""
        if self.consumer is None or not self.current:
            return
        current = {tp: o for tp, o in self.current.items() if only is None or tp in only}
        if not current:
            return
        accepted = self.task.pre_commit(dict(current))
        todo = [
            KafkaTopicPartition(tp.topic, tp.partition, o)
            for tp, o in accepted.items()
            if self.committed.get(tp) != o
        ]
        if not todo:
            return
        try:
            self.consumer.commit(offsets=todo, asynchronous=False)
        except Exception as exc:  # a failed commit is retried next time, as Kafka's sink task does
            log.warning("Task %s: offset commit failed: %s", self.id, exc)
            return
        for tp, o in accepted.items():
            self.committed[tp] = o

    def release(self) -> None:
        if self.consumer is not None:
            try:
                self.consumer.close()
            except Exception:
                pass
            self.consumer = None
        try:
            self.task.stop()
        except Exception:
            log.exception("Sink task %s raised in stop", self.id)
        self.chain.close()
        self.retry.close()
