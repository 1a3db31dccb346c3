"""confluent-kafka `Message` -> `InputRecord` (the one place that reads a consumed message's fields)."""

from __future__ import annotations

from typing import cast

from confluent_kafka import Message

from riverlog.streams.records import InputRecord

Headers = list[tuple[str, bytes | None]]


def to_input_record(message: Message) -> InputRecord:
    """A consumed (error-free) message as the raw record a task takes."""
    _, timestamp = message.timestamp()
    headers = message.headers()
    return InputRecord(
        cast(str, message.topic()),
        cast(int, message.partition()),
        cast(int, message.offset()),
        timestamp,
        message.key(),
        message.value(),
        cast(Headers, list(headers)) if headers else [],
    )
