"""The threads that run tasks: `WorkerSourceTask` (poll → transform → convert → produce, offsets flushed
every `offset.flush.interval.ms`) and `WorkerSinkTask` (consume → convert → transform → put, then
`pre_commit` and a synchronous offset commit), after Kafka's classes of the same names.

Each task runs on its own thread with its own confluent-kafka client; blocking calls stay on that thread.
Invariants: a source offset is stored only after the producer delivered every record polled before it
(flush, then snapshot, then store); a sink offset is committed only for records `put` and accepted by
`pre_commit`. A task that raises is FAILED with its trace and never takes the worker down.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from riverlog.connect.api import (
    ConnectRecord,
    Header,
    RecordMetadata,
    SinkRecord,
    SinkTask,
    SinkTaskContext,
    SourceBatch,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
    TopicPartition,
)
from riverlog.connect.converters import Converter
from riverlog.connect.error_handling import (
    ConsumedRecord,
    RetryWithToleranceOperator,
    Stage,
)
from riverlog.connect.errors import ConnectException, RetriableException
from riverlog.connect.offsets import OffsetStore, OffsetWriter, TaskOffsetReader
from riverlog.connect.status import State, TargetState, TaskId
from riverlog.connect.transforms.base import TransformationChain

log = logging.getLogger(__name__)

StatusCallback = Callable[[TaskId, State, str | None], None]


class Converters:
    def __init__(self, key: Converter, value: Converter, header: Converter) -> None:
        self.key, self.value, self.header = key, value, header


class WorkerTask:
    """A task's thread and lifecycle: run until stopped; pause and resume; report status."""

    def __init__(self, task_id: TaskId, on_status: StatusCallback, target: TargetState) -> None:
        self.id = task_id
        self.on_status = on_status
        self.target = target
        self._stopping = threading.Event()
        self._state_changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"task-{task_id}", daemon=True)
        self.failed: BaseException | None = None
        self.topics_used: set[str] = set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._state_changed:
            self._state_changed.notify_all()
        self.on_stop_requested()

    def await_stop(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def set_target(self, target: TargetState) -> None:
        with self._state_changed:
            self.target = target
            self._state_changed.notify_all()
        if target is TargetState.PAUSED:
            self.on_status(self.id, State.PAUSED, None)
        elif target is TargetState.STARTED and not self._stopping.is_set() and self.failed is None:
            self.on_status(self.id, State.RUNNING, None)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait_while_paused(self) -> bool:
        """Block while paused; True when the task should go on running."""
        with self._state_changed:
            while self.target is TargetState.PAUSED and not self._stopping.is_set():
                self.paused_idle()
                self._state_changed.wait(0.2)
        return not self._stopping.is_set()

    def paused_idle(self) -> None:
        """Called about every 200 ms while paused (sinks keep their consumer alive)."""

    def on_stop_requested(self) -> None:
        """Wake the task's blocking call (the plugin's `stop`)."""

    def _run(self) -> None:
        try:
            self.execute()
        except BaseException as exc:
            self.failed = exc
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            log.error("Task %s failed: %s", self.id, exc)
            self.on_status(self.id, State.FAILED, trace)
            self.release()
            return
        self.release()
        if self.target is not TargetState.STOPPED:
            self.on_status(self.id, State.UNASSIGNED, None)

    def execute(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """Close clients (always runs, after success or failure)."""


class WorkerSourceTask(WorkerTask):
    def __init__(
        self,
        task_id: TaskId,
        task: SourceTask,
        props: dict[str, str],
        *,
        converters: Converters,
        chain: TransformationChain,
        retry: RetryWithToleranceOperator,
        offset_store: OffsetStore,
        producer_config: dict[str, Any],
        flush_interval_ms: int,
        flush_timeout_ms: int,
        on_status: StatusCallback,
        target: TargetState,
        exactly_once_offsets_topic: str | None = None,
        create_topic: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(task_id, on_status, target)
        self.task, self.props = task, props
        self.converters, self.chain, self.retry = converters, chain, retry
        self.offset_store = offset_store
        # Exactly-once (KIP-618, transaction.boundary=poll): each poll's records and their offsets are
        # written in one transaction of a producer whose transactional.id is the task's.
        self.eos_offsets_topic = exactly_once_offsets_topic
        self.create_topic = create_topic  # KIP-158 topic creation, when the connector configures it
        self._wants_commit_record = type(task).commit_record is not SourceTask.commit_record
        self.writer = OffsetWriter(offset_store, task_id.connector)
        self.producer_config = producer_config
        self.flush_interval_s = flush_interval_ms / 1000
        self.flush_timeout_s = flush_timeout_ms / 1000
        self.producer: Producer | None = None
        self._send_failure: BaseException | None = None
        self.records_sent = 0  # delivered records (counted at offset flushes on the batch path)
        self._produced = 0

    def on_stop_requested(self) -> None:
        try:
            self.task.stop()
        except Exception:
            log.exception("Source task %s raised in stop", self.id)

    def execute(self) -> None:
        # 1. Start the plugin task; it reads its offsets through the context.
        config = dict(self.producer_config)
        if not self._wants_commit_record and self.eos_offsets_topic is None:
            # Nobody needs a per-record acknowledgement: librdkafka reports failures only, and the
            # offset flush (`producer.flush` == 0) proves everything before it was delivered.
            config.setdefault("delivery.report.only.error", True)
        self.producer = Producer(config)
        if self.eos_offsets_topic is not None:
            self.producer.init_transactions(
                30
            )  # fences a previous instance and aborts its open transaction
        self.task.initialize(
            SourceTaskContext(
                dict(self.props), TaskOffsetReader(self.offset_store, self.id.connector)
            )
        )
        self.task.start(dict(self.props))
        self.on_status(
            self.id, State.PAUSED if self.target is TargetState.PAUSED else State.RUNNING, None
        )
        next_flush = time.monotonic() + self.flush_interval_s
        # 2. Poll, send, and flush offsets on the interval.
        while self.wait_while_paused():
            _ok, records = self.retry.execute(
                Stage.TASK_POLL, self.task.poll, executing=type(self.task).__name__
            )
            if self.eos_offsets_topic is not None:
                if records:
                    self._send_transaction(records)
                continue
            if records:
                self._send_batch(records)
            self.producer.poll(0)
            if self._send_failure is not None:
                raise ConnectException(
                    f"Unrecoverable exception from producer send callback: {self._send_failure}"
                )
            if time.monotonic() >= next_flush:
                self.commit_offsets()
                next_flush = time.monotonic() + self.flush_interval_s
        # 3. Last flush before the plugin stops.
        if self.eos_offsets_topic is None:
            self.commit_offsets()

    def _send_batch(self, records: Sequence[SourceRecord]) -> None:
        """One poll's records. Without transformations or per-record acknowledgements, records go
        straight from the converters to `produce` (one error-only callback, the last offset of each
        source partition stored once); a record whose conversion raises takes the per-record path,
        which applies the retry and tolerance rules to it."""
        if self.chain.stages or self._wants_commit_record or self.create_topic is not None:
            for record in records:
                self._send(record)
            return
        assert self.producer is not None
        if isinstance(records, SourceBatch) and self._send_columns(records):
            return
        produce, poll = self.producer.produce, self.producer.poll
        key_of = self.converters.key.from_connect_data
        value_of = self.converters.value.from_connect_data
        header_of = self.converters.header.from_connect_data
        callback = self._delivered_plain
        topics_used = self.topics_used
        last: dict[int, tuple[Any, Any]] = {}
        sent = 0
        for record in records:
            topic = record.topic
            try:
                key = key_of(topic, record.key_schema, record.key)
                value = value_of(topic, record.value_schema, record.value)
                headers = (
                    [(h.key, header_of(topic, h.schema, h.value)) for h in record.headers]
                    if record.headers
                    else None
                )
            except Exception:
                self._store_offsets(last)
                last.clear()
                self._send(record)
                continue
            if topic not in topics_used:
                topics_used.add(topic)
            partition = -1 if record.kafka_partition is None else record.kafka_partition
            timestamp = 0 if record.timestamp is None else record.timestamp
            while True:
                try:
                    produce(topic, value, key, partition, callback, None, timestamp, headers)  # type: ignore[arg-type]
                    break
                except BufferError:
                    poll(0.05)  # the local queue is full: wait for deliveries
            sent += 1
            source_partition = record.source_partition
            if source_partition is not None:
                last[id(source_partition)] = (source_partition, record.source_offset)
        self._produced += sent
        self._store_offsets(last)

    def _send_columns(self, batch: SourceBatch) -> bool:
        """A `SourceBatch` converted column by column; False (nothing sent) when a conversion
        raises, so that the records go the per-record way."""
        assert self.producer is not None
        topic = batch.topic
        try:
            values = self.converters.value.from_connect_batch(
                topic, batch.value_schema, batch.values
            )
            keys: Sequence[bytes | None] = (
                self.converters.key.from_connect_batch(topic, batch.key_schema, batch.keys)
                if batch.keys is not None
                else repeat(None, len(values))  # type: ignore[assignment]
            )
        except Exception:
            return False
        produce, poll = self.producer.produce, self.producer.poll
        callback = self._delivered_plain
        partition = -1 if batch.kafka_partition is None else batch.kafka_partition
        timestamp = 0 if batch.timestamp is None else batch.timestamp
        self.topics_used.add(topic)
        for key, value in zip(keys, values, strict=False):
            while True:
                try:
                    produce(topic, value, key, partition, callback, None, timestamp)
                    break
                except BufferError:
                    poll(0.05)  # the local queue is full: wait for deliveries
        self._produced += len(values)
        if batch.source_partition is not None and len(values):
            self.writer.offset(batch.source_partition, batch.source_offsets[-1])
        return True

    def _store_offsets(self, last: dict[int, tuple[Any, Any]]) -> None:
        for partition, offset in last.values():
            self.writer.offset(partition, offset)

    def _send(self, record: SourceRecord) -> None:
        assert self.producer is not None
        transformed: ConnectRecord | None = record
        ok = True
        if self.chain.stages:
            ok, transformed = self.retry.execute(
                Stage.TRANSFORMATION,
                lambda: self.chain.apply(record),
                executing="TransformationChain",
            )
        if not ok or transformed is None:
            self.writer.offset(record.source_partition, record.source_offset)
            self.task.commit_record(record, None)
            return
        out: SourceRecord = transformed  # type: ignore[assignment]
        topic = out.topic
        if topic not in self.topics_used and self.create_topic is not None:
            self.create_topic(topic)
        self.topics_used.add(topic)
        ok_k, key = self.retry.execute(
            Stage.KEY_CONVERTER,
            lambda: self.converters.key.from_connect_data(topic, out.key_schema, out.key),
            executing=type(self.converters.key).__name__,
        )
        ok_v, value = self.retry.execute(
            Stage.VALUE_CONVERTER,
            lambda: self.converters.value.from_connect_data(topic, out.value_schema, out.value),
            executing=type(self.converters.value).__name__,
        )
        if not (ok_k and ok_v):
            self.writer.offset(record.source_partition, record.source_offset)
            self.task.commit_record(record, None)
            return
        headers = [
            (h.key, self.converters.header.from_connect_data(topic, h.schema, h.value))
            for h in out.headers
        ]

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self._send_failure = ConnectException(str(err))
                return
            self.records_sent += 1
            ts = msg.timestamp()[1] if msg.timestamp() else None
            self.task.commit_record(
                record,
                RecordMetadata(
                    str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0), ts
                ),
            )

        # A task that does not override commit_record needs no per-record closure, only error checks.
        callback = delivered if self._wants_commit_record else self._delivered_plain
        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": callback}
        if out.kafka_partition is not None:
            kwargs["partition"] = out.kafka_partition
        if out.timestamp is not None:
            kwargs["timestamp"] = out.timestamp
        if headers:
            kwargs["headers"] = headers
        while True:
            try:
                self.producer.produce(topic, **kwargs)
                break
            except BufferError:
                self.producer.poll(0.05)  # the local queue is full: wait for deliveries
        self.writer.offset(record.source_partition, record.source_offset)

    def _delivered_plain(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._send_failure = ConnectException(str(err))
        else:
            self.records_sent += 1

    def _send_transaction(self, records: Sequence[SourceRecord]) -> None:
        """One poll's records and the offsets they reach, committed atomically."""
        from riverlog.connect.offsets import key_bytes, value_bytes

        assert self.producer is not None and self.eos_offsets_topic is not None
        self.producer.begin_transaction()
        try:
            for record in records:
                self._send(record)
            for partition, offset in self.writer.begin_flush().values():
                self.producer.produce(
                    self.eos_offsets_topic,
                    key=key_bytes(self.id.connector, partition),
                    value=value_bytes(offset),
                )
            self.producer.commit_transaction(30)
        except Exception:
            try:
                self.producer.abort_transaction(30)
            except Exception:
                pass
            raise
        if self._send_failure is not None:
            raise ConnectException(
                f"Unrecoverable exception from producer send callback: {self._send_failure}"
            )
        self.task.commit()

    def commit_offsets(self) -> None:
        """Deliver everything sent, then store the offsets of what was delivered, then `task.commit`."""
        assert self.producer is not None
        remaining = self.producer.flush(self.flush_timeout_s)
        if remaining:
            log.warning(
                "Task %s: %d records not delivered within offset.flush.timeout.ms; offsets kept for next time",
                self.id,
                remaining,
            )
            return
        if self._send_failure is not None:
            raise ConnectException(
                f"Unrecoverable exception from producer send callback: {self._send_failure}"
            )
        self.records_sent += self._produced
        self._produced = 0
        self.writer.flush(self.writer.begin_flush())
        self.task.commit()

    def release(self) -> None:
        if self.producer is not None:
            self.producer.flush(self.flush_timeout_s)
            self.producer = None
        self.chain.close()


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
