"""What every exercise module provides, and the SQL declarations of the two input topics.

An exercise is a `riverlog.streams` topology over the lab's topics and the same computation as ksqlDB
statements; each knows how to print one output record the way flink-training's solution prints its
result (`PrintSinkFunction`: the result's `toString`, one per line, without the `N> ` subtask prefix
that appears only when the sink runs with parallelism above one).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from riverlog.streams import Topology


@dataclass(frozen=True)
class Topics:
    """The topics one run of an exercise reads and writes."""

    rides: str = "taxi-rides"
    fares: str = "taxi-fares"
    output: str = "taxi-output"


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    inputs: tuple[str, ...]  # "rides" and/or "fares"
    topology: Callable[[Topics], Topology]
    render: Callable[[bytes | None, bytes | None], str | None]
    sql: Callable[[Topics], list[str]]
    render_sql: Callable[[bytes | None, bytes | None], str | None]
    ordered: bool  # whether flink-training's output order is fixed (else compare as a set)


def rides_ddl(topic: str) -> str:
    return (
        "CREATE STREAM TAXI_RIDES (rideId BIGINT KEY, isStart BOOLEAN, eventTime BIGINT, "
        "startLon DOUBLE, startLat DOUBLE, endLon DOUBLE, endLat DOUBLE, passengerCnt INT, "
        "taxiId BIGINT, driverId BIGINT) "
        f"WITH (KAFKA_TOPIC='{topic}', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON', "
        "TIMESTAMP='eventTime');"
    )


def fares_ddl(topic: str) -> str:
    return (
        "CREATE STREAM TAXI_FARES (rideId BIGINT KEY, taxiId BIGINT, driverId BIGINT, "
        "startTime BIGINT, paymentType STRING, tip DOUBLE, tolls DOUBLE, totalFare DOUBLE) "
        f"WITH (KAFKA_TOPIC='{topic}', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON', "
        "TIMESTAMP='startTime');"
    )


def decode_long(data: bytes | None) -> int | None:
    if data is None or len(data) < 8:
        return None
    value: int = struct.unpack(">q", data[:8])[0]
    return value


def decode_json(data: bytes | None) -> Any:
    return None if data is None else json.loads(data)
