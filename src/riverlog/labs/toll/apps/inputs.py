"""Reading the toll topics: serdes that never fail on bad input, event-time extractors, and passage
validation.

A passage that is not a JSON object, or lacks a field, is not an exception: the serde returns a
`Malformed` value and the charging app routes it to `toll.dlq` (reason MALFORMED), so one bad device
read never stops the app. Event time is the passage's `captured_at` (a payment's `paid_at`);
reference-table records are stamped 1 ms after the epoch ("valid since the beginning of time"), so Kafka Streams'
timestamp synchronization applies any buffered reference update before the facts that follow it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from riverlog.labs.toll.model import CLASS_MULTIPLIER
from riverlog.streams import Serde

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Malformed:
    """A record that could not be read: its raw text and why."""

    text: str
    error: str


class LenientJsonSerde(Serde[Any]):
    """UTF-8 JSON; undecodable input deserializes to `Malformed` instead of raising."""

    name = "LenientJson"

    def serialize(self, topic: str, data: Any) -> bytes | None:
        if data is None:
            return None
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        text = data.decode("utf-8", errors="replace")
        try:
            value = json.loads(text)
        except ValueError as e:
            return Malformed(text, f"not JSON: {e}")
        if not isinstance(value, dict):
            return Malformed(text, f"not a JSON object: {type(value).__name__}")
        return value


class ReferenceJsonSerde(Serde[Any]):
    """JSON for reference-table values, which are read far more often than written: decoded values
    are memoized by their bytes. The apps never mutate a table value, so sharing one is safe. A value
    that is not JSON reads as absent (logged): global tables store raw bytes and decode on lookup,
    where no deserialization handler applies, and one bad row must not stop the app."""

    name = "ReferenceJson"

    def __init__(self, max_entries: int = 100_000) -> None:
        self._memo: dict[bytes, Any] = {}
        self._max_entries = max_entries

    def serialize(self, topic: str, data: Any) -> bytes | None:
        if data is None:
            return None
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        value = self._memo.get(data)
        if value is None:
            try:
                value = json.loads(data)
            except ValueError as e:
                log.warning("%s: a reference record is not JSON, read as absent: %s", topic, e)
                return None
            if len(self._memo) >= self._max_entries:
                self._memo.clear()
            self._memo[bytes(data)] = value
        return value


def _valid_or_fallback(value: Any, record_ts: int, partition_time: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return record_ts if record_ts >= 0 else max(partition_time, 0)


def passage_time(record: Any, partition_time: int) -> int:
    """Event time of a passage: `captured_at`; for a malformed one, the record's own timestamp."""
    value = record.value
    at = value.get("captured_at") if isinstance(value, dict) else None
    return _valid_or_fallback(at, record.timestamp, partition_time)


def payment_time(record: Any, partition_time: int) -> int:
    value = record.value
    at = value.get("paid_at") if isinstance(value, dict) else None
    return _valid_or_fallback(at, record.timestamp, partition_time)


def reference_time(record: Any, partition_time: int) -> int:
    """Reference data (vehicles, accounts) is valid from the start: timestamp 1 (librdkafka would
    replace a 0 in the store's changelog records with the current time)."""
    return 1


_FIELDS: tuple[tuple[str, type | tuple[type, ...], bool], ...] = (
    ("passage_id", str, False),
    ("gantry_id", str, False),
    ("plate", str, False),
    ("plate_confidence", (int, float), False),
    ("tag_id", str, True),
    ("detected_class", int, False),
    ("captured_at", int, False),
    ("lane", int, False),
)


def check_passage(value: dict[str, Any]) -> str | None:
    """Why `value` is not a well-formed passage (None when it is)."""
    for name, kind, nullable in _FIELDS:
        if name not in value:
            return f"missing field {name!r}"
        field = value[name]
        if field is None and nullable:
            continue
        if isinstance(field, bool) or not isinstance(field, kind):
            return f"field {name!r} has the wrong type: {field!r}"
    if not value["passage_id"] or not value["plate"].strip():
        return "empty passage_id or plate"
    if not 0.0 <= value["plate_confidence"] <= 1.0:
        return f"plate_confidence {value['plate_confidence']!r} is outside [0, 1]"
    if value["detected_class"] not in CLASS_MULTIPLIER:
        return f"unknown detected_class {value['detected_class']!r}"
    if value["captured_at"] < 0:
        return f"negative captured_at {value['captured_at']!r}"
    return None


def normalise_plate(plate: str) -> str:
    """Plates are compared upper-case without surrounding blanks (how the registry stores them)."""
    return plate.strip().upper()
