"""The threads that run tasks: `WorkerTask` (lifecycle) and `WorkerSourceTask` (poll → transform →
convert → produce, offsets flushed every `offset.flush.interval.ms`), after Kafka's classes of the same
names; `WorkerSinkTask` is in `worker_sink`.

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
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from riverlog.connect.api import (
    ConnectRecord,
    RecordMetadata,
    SourceBatch,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
)
from riverlog.connect.converters import Converter
from riverlog.connect.error_handling import (
    RetryWithToleranceOperator,
    Stage,
)
from riverlog.connect.errors import ConnectException
from riverlog.connect.offsets import OffsetStore, OffsetWriter, TaskOffsetReader
from riverlog.connect.status import State, TargetState, TaskId
from riverlog.connect.transaction_context import WorkerTransactionContext
from riverlog.connect.transforms.base import TransformationChain

log = logging.getLogger(__name__)

StatusCallback = Callable[[TaskId, State, str | None], None]
# delivery errors of records purged by an aborted transaction (not failures of the task)
_PURGED = (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT)


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

    def counters(self) -> dict[str, int]:
        """Kafka Connect's per-task record counters (source-/sink-task-metrics), by metric name."""
        return {}


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
        transaction_interval_ms: int | None = None,
        connector_transactions: bool = False,
    ) -> None:
        super().__init__(task_id, on_status, target)
        self.task, self.props = task, props
        # transaction.boundary=connector: the task ends transactions through this context.
        self.transaction_context = WorkerTransactionContext() if connector_transactions else None
        self._transaction_open = False
        # transaction.boundary=interval: one transaction spans the polls of this many seconds.
        self.transaction_interval_s = (
            None if transaction_interval_ms is None else transaction_interval_ms / 1000
        )
        self._transaction_deadline: float | None = None  # set while a transaction is open
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
        self.records_polled = 0  # records the plugin's poll returned (source-record-poll-total)
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
                dict(self.props),
                TaskOffsetReader(self.offset_store, self.id.connector),
                self.transaction_context,
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
            if records:
                self.records_polled += len(records)
            if self.eos_offsets_topic is not None:
                if self.transaction_context is not None:
                    self._send_connector_defined(records or [])
                elif self.transaction_interval_s is not None:
                    self._send_in_interval(records or [])
                elif records:
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
        # 3. Last flush (or the open transaction's commit) before the plugin stops.
        if self.eos_offsets_topic is None:
            self.commit_offsets()
        elif self.transaction_context is not None:
            self._end_connector_defined()
        elif self._transaction_deadline is not None:
            self._commit_open_transaction()

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
                if err.code() not in _PURGED:
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
            if err.code() in _PURGED:
                return  # a record of a transaction the task aborted
            self._send_failure = ConnectException(str(err))
        else:
            self.records_sent += 1

    def _send_in_interval(self, records: Sequence[SourceRecord]) -> None:
        """transaction.boundary=interval: records join the open transaction (begun by the first
        record after the last commit); it commits with the offsets once the interval has passed."""
        assert self.producer is not None and self.transaction_interval_s is not None
        if records:
            if self._transaction_deadline is None:
                self.producer.begin_transaction()
                self._transaction_deadline = time.monotonic() + self.transaction_interval_s
            try:
                for record in records:
                    self._send(record)
            except Exception:
                self._abort_open_transaction()
                raise
        if (
            self._transaction_deadline is not None
            and time.monotonic() >= self._transaction_deadline
        ):
            self._commit_open_transaction()

    def _send_connector_defined(self, records: Sequence[SourceRecord]) -> None:
        """transaction.boundary=connector (Kafka's CONNECTOR boundary manager): a transaction begins
        with the first record sent after the last commit; after each record, and after the poll's
        records, the task's requests commit it — or abort it (its records are dropped) and commit
        the offsets reached, so the aborted records are not polled again."""
        assert self.producer is not None and self.transaction_context is not None
        context = self.transaction_context
        try:
            for record in records:
                if not self._transaction_open:
                    self.producer.begin_transaction()
                    self._transaction_open = True
                self._send(record)
                if context.should_abort_on(record):
                    self._abort_connector_defined()
                    self._commit_connector_defined()
                elif context.should_commit_on(record):
                    self._commit_connector_defined()
            if context.should_abort_batch():
                self._abort_connector_defined()
                self._commit_connector_defined()
            elif context.should_commit_batch():
                self._commit_connector_defined()
        except Exception:
            if self._transaction_open:
                self._abort_connector_defined()
            raise

    def _end_connector_defined(self) -> None:
        """On stop: a commit or abort the task asked for happens; an open transaction nobody ended
        is aborted (its offsets are not committed, so its records come again)."""
        assert self.transaction_context is not None
        if self.transaction_context.should_abort_batch():
            self._abort_connector_defined()
            self._commit_connector_defined()
        elif self.transaction_context.should_commit_batch():
            self._commit_connector_defined()
        elif self._transaction_open:
            self._abort_connector_defined()

    def _abort_connector_defined(self) -> None:
        assert self.producer is not None
        self._transaction_open = False
        self.producer.abort_transaction(30)

    def _commit_connector_defined(self) -> None:
        """Kafka's `commitTransaction`: begin one if none is open (after an abort), write the
        offsets reached, commit."""
        assert self.producer is not None
        if not self._transaction_open:
            self.producer.begin_transaction()
            self._transaction_open = True
        self._transaction_deadline = 0.0  # _commit_open_transaction's "a transaction is open"
        self._commit_open_transaction()
        self._transaction_open = False

    def _commit_open_transaction(self) -> None:
        from riverlog.connect.offsets import key_bytes, value_bytes

        assert self.producer is not None and self.eos_offsets_topic is not None
        try:
            for partition, offset in self.writer.begin_flush().values():
                self.producer.produce(
                    self.eos_offsets_topic,
                    key=key_bytes(self.id.connector, partition),
                    value=value_bytes(offset),
                )
            self.producer.commit_transaction(30)
        except Exception:
            self._abort_open_transaction()
            raise
        self._transaction_deadline = None
        if self._send_failure is not None:
            raise ConnectException(
                f"Unrecoverable exception from producer send callback: {self._send_failure}"
            )
        self.task.commit()

    def _abort_open_transaction(self) -> None:
        assert self.producer is not None
        self._transaction_deadline = None
        try:
            self.producer.abort_transaction(30)
        except Exception:
            pass

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

    def counters(self) -> dict[str, int]:
        return {
            "source-record-poll-total": self.records_polled,
            "source-record-write-total": self.records_sent + self._produced,
        }

    def release(self) -> None:
        if self.producer is not None:
            self.producer.flush(self.flush_timeout_s)
            self.producer = None
        self.chain.close()
