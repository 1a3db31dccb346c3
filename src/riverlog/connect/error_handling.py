"""Error handling for tasks, after Kafka's `RetryWithToleranceOperator`, `LogReporter` and
`DeadLetterQueueReporter` (KIP-298).

An operation (convert, transform, put…) that raises is retried while it raises `RetriableException` and
`errors.retry.timeout` allows (-1: forever), with exponential back-off capped at
`errors.retry.delay.max.ms`. When it still fails: with `errors.tolerance=none` the task fails
(`ToleranceExceeded`); with `all` the record is skipped, logged if `errors.log.enable`, and for sinks sent
to `errors.deadletterqueue.topic.name` as it was consumed (raw key and value bytes, original headers),
plus Kafka's `__connect.errors.*` context headers when `errors.deadletterqueue.context.headers.enable`.
"""

from __future__ import annotations

import enum
import logging
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from riverlog.connect.errors import ConnectException, RetriableException

log = logging.getLogger(__name__)
T = TypeVar("T")

HEADER_PREFIX = "__connect.errors."


class Stage(enum.Enum):
    KEY_CONVERTER = "KEY_CONVERTER"
    VALUE_CONVERTER = "VALUE_CONVERTER"
    HEADER_CONVERTER = "HEADER_CONVERTER"
    TRANSFORMATION = "TRANSFORMATION"
    TASK_PUT = "TASK_PUT"
    TASK_POLL = "TASK_POLL"
    KAFKA_PRODUCE = "KAFKA_PRODUCE"
    KAFKA_CONSUME = "KAFKA_CONSUME"


class ToleranceExceeded(ConnectException):
    def __init__(self, cause: BaseException) -> None:
        super().__init__("Tolerance exceeded in error handler")
        self.__cause__ = cause


@dataclass
class ConsumedRecord:
    """The raw record a sink task consumed (what the DLQ receives)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    timestamp: int | None = None


# Sends (topic, key, value, headers) somewhere durable: the DLQ producer.
DlqSend = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes | None]]], None]


class RetryWithToleranceOperator:
    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        connector: str,
        task_id: int,
        dlq_send: DlqSend | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry_timeout_ms = int(config.get("errors.retry.timeout", 0))
        self.max_delay_ms = int(config.get("errors.retry.delay.max.ms", 60000))
        self.tolerate_all = str(config.get("errors.tolerance", "none")).lower() == "all"
        self.log_enabled = bool(config.get("errors.log.enable", False))
        self.log_messages = bool(config.get("errors.log.include.messages", False))
        self.dlq_topic = str(config.get("errors.deadletterqueue.topic.name", "") or "")
        self.dlq_headers = bool(config.get("errors.deadletterqueue.context.headers.enable", False))
        self.connector, self.task_id = connector, task_id
        self.dlq_send = dlq_send
        self.sleep, self.clock = sleep, clock
        self.total_errors = 0
        self.total_skipped = 0
        self.on_close: Callable[[], None] | None = None  # releases the DLQ producer

    def close(self) -> None:
        if self.on_close is not None:
            self.on_close()

    def execute(
        self,
        stage: Stage,
        operation: Callable[[], T],
        *,
        executing: str = "",
        consumed: ConsumedRecord | None = None,
    ) -> tuple[bool, T | None]:
        """(True, result) on success; (False, None) when the failure is tolerated; raises otherwise."""
        deadline = (
            None if self.retry_timeout_ms < 0 else self.clock() + self.retry_timeout_ms / 1000
        )
        delay_ms = 300.0
        while True:
            try:
                return True, operation()
            except RetriableException as exc:
                if deadline is not None and self.clock() + delay_ms / 1000 > deadline:
                    return self._failed(stage, exc, executing, consumed)
                self.sleep(delay_ms / 1000)
                delay_ms = min(delay_ms * 2, float(self.max_delay_ms))
            except Exception as exc:
                return self._failed(stage, exc, executing, consumed)

    def _failed(
        self, stage: Stage, exc: BaseException, executing: str, consumed: ConsumedRecord | None
    ) -> tuple[bool, None]:
        self.total_errors += 1
        if not self.tolerate_all:
            raise ToleranceExceeded(exc)
        self.total_skipped += 1
        if self.log_enabled:
            where = ""
            if consumed is not None:
                where = f" for record topic='{consumed.topic}', partition={consumed.partition}, offset={consumed.offset}"
                if self.log_messages:
                    where += f", key={consumed.key!r}, value={consumed.value!r}"
            log.error(
                "Error encountered in task %s-%d. Executing stage '%s' with class '%s'%s.",
                self.connector,
                self.task_id,
                stage.value,
                executing,
                where,
                exc_info=exc,
            )
        if consumed is not None and self.dlq_topic and self.dlq_send is not None:
            headers = list(consumed.headers)
            if self.dlq_headers:
                headers.extend(self.context_headers(stage, exc, executing, consumed))
            self.dlq_send(self.dlq_topic, consumed.key, consumed.value, headers)
        return False, None

    def context_headers(
        self, stage: Stage, exc: BaseException, executing: str, consumed: ConsumedRecord
    ) -> list[tuple[str, bytes | None]]:
        """Kafka's DLQ context headers, in Kafka's order."""
        p = HEADER_PREFIX
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        cls = type(exc)
        return [
            (p + "topic", consumed.topic.encode()),
            (p + "partition", str(consumed.partition).encode()),
            (p + "offset", str(consumed.offset).encode()),
            (p + "connector.name", self.connector.encode()),
            (p + "task.id", str(self.task_id).encode()),
            (p + "stage", stage.value.encode()),
            (p + "class.name", executing.encode()),
            (p + "exception.class.name", f"{cls.__module__}.{cls.__qualname__}".encode()),
            (p + "exception.message", str(exc).encode()),
            (p + "exception.stacktrace", trace.encode()),
        ]
