"""Timestamp extractors with Kafka Streams' names and behaviour on invalid (negative) timestamps.

An extractor is any callable `(record, partition_time) -> int`; `record` has `.topic`, `.partition`,
`.offset`, `.timestamp`, `.key`, `.value`, `.headers` and `.wall_clock_ms`. A negative result makes the
task skip the record (logged, counted in `dropped-records`).
"""

from __future__ import annotations

from typing import Any

from riverlog.streams.errors import StreamsException


class FailOnInvalidTimestamp:
    """The default: the record's own timestamp; a negative one stops processing."""

    def __call__(self, record: Any, partition_time: int) -> int:
        ts = int(record.timestamp)
        if ts < 0:
            raise StreamsException(
                f"Input record {record.topic}-{record.partition}@{record.offset} has invalid (negative) "
                f"timestamp {ts}. Use a different TimestampExtractor to process this data."
            )
        return ts


class LogAndSkipOnInvalidTimestamp:
    def __call__(self, record: Any, partition_time: int) -> int:
        return int(record.timestamp)


class UsePartitionTimeOnInvalidTimestamp:
    def __call__(self, record: Any, partition_time: int) -> int:
        ts = int(record.timestamp)
        if ts >= 0:
            return ts
        if partition_time < 0:
            raise StreamsException(
                f"Could not infer new timestamp for input record {record.topic}-{record.partition}"
                f"@{record.offset} because partition time is unknown."
            )
        return partition_time


class WallclockTimestampExtractor:
    """The wall-clock time the task last saw (processing time), as Kafka's."""

    def __call__(self, record: Any, partition_time: int) -> int:
        return int(record.wall_clock_ms)


_NAMES = {
    cls.__name__.lower(): cls
    for cls in (
        FailOnInvalidTimestamp,
        LogAndSkipOnInvalidTimestamp,
        UsePartitionTimeOnInvalidTimestamp,
        WallclockTimestampExtractor,
    )
}


def resolve_extractor(spec: object) -> Any:
    """An extractor from a config value: a callable, a class, or a (Java) class name."""
    if spec is None or spec == "":
        return FailOnInvalidTimestamp()
    if isinstance(spec, type):
        return spec()
    if callable(spec):
        return spec
    if isinstance(spec, str):
        cls = _NAMES.get(spec.rsplit(".", 1)[-1].lower())
        if cls is None:
            raise ValueError(f"default.timestamp.extractor: unknown extractor {spec!r}")
        return cls()
    raise ValueError(f"default.timestamp.extractor: not an extractor: {spec!r}")
