"""How the taxi lab's events travel through Kafka: keys, JSON values and the end-of-input marks.

- **Keys** are the ride id as an 8-byte big-endian long (Kafka's `LongSerializer`, ksqlDB's
  `KEY_FORMAT='KAFKA'` BIGINT); **values** are JSON objects with flink-training's field names
  (`rideId`, `isStart`, `eventTime`, … / `rideId`, `taxiId`, `driverId`, `startTime`, …), times in
  epoch milliseconds; the record timestamp is the event time (a ride's `eventTime`, a fare's
  `startTime`). Floats are written as the exact value of the Java `float` (e.g. `-73.85884094238281`),
  so a reader working in doubles — ksqlDB's DOUBLE — compares them exactly as Java compares the float
  widened to double, and `Float.toString` of the value reads back the same text.
- **End of input.** flink-training's bounded test sources end with a watermark at `Long.MAX_VALUE`,
  which fires every window and timer. Kafka has no watermarks; stream time moves with record
  timestamps. So a bounded input ends with two *marks*: events with ride id 0 (no real ride has it)
  at `M` and `M + 1 h`, where `M` is two hours after the last event time rounded up to the hour. The
  first closes every window and fires every long-ride timer; the second carries time through a
  second windowed stage (Hourly Tips' per-hour maximum only sees time pass when the first stage emits
  a window). Marks sit outside NYC (0, 0) and have zero tips; every exercise drops them.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from typing import Any

from riverlog.labs.taxi.data import TaxiFare, TaxiRide
from riverlog.streams import Serde

HOUR_MS = 3_600_000
MARK_RIDE_ID = 0


def ride_to_json(ride: TaxiRide) -> dict[str, Any]:
    return {
        "rideId": ride.ride_id,
        "isStart": ride.is_start,
        "eventTime": ride.event_time,
        "startLon": ride.start_lon,
        "startLat": ride.start_lat,
        "endLon": ride.end_lon,
        "endLat": ride.end_lat,
        "passengerCnt": ride.passenger_cnt,
        "taxiId": ride.taxi_id,
        "driverId": ride.driver_id,
    }


def ride_from_json(obj: dict[str, Any]) -> TaxiRide:
    """A ride from its JSON object; names are matched case-insensitively (ksqlDB writes upper case)."""
    if "isStart" in obj:  # the lab's own spelling: no renaming needed
        return TaxiRide(
            obj["rideId"],
            obj["isStart"],
            obj["eventTime"],
            obj["startLon"],
            obj["startLat"],
            obj["endLon"],
            obj["endLat"],
            obj["passengerCnt"],
            obj["taxiId"],
            obj["driverId"],
        )
    f = {k.lower(): v for k, v in obj.items()}
    return TaxiRide(
        int(f["rideid"]),
        bool(f["isstart"]),
        int(f["eventtime"]),
        float(f["startlon"]),
        float(f["startlat"]),
        float(f["endlon"]),
        float(f["endlat"]),
        int(f["passengercnt"]),
        int(f["taxiid"]),
        int(f["driverid"]),
    )


def fare_to_json(fare: TaxiFare) -> dict[str, Any]:
    return {
        "rideId": fare.ride_id,
        "taxiId": fare.taxi_id,
        "driverId": fare.driver_id,
        "startTime": fare.start_time,
        "paymentType": fare.payment_type,
        "tip": fare.tip,
        "tolls": fare.tolls,
        "totalFare": fare.total_fare,
    }


def fare_from_json(obj: dict[str, Any]) -> TaxiFare:
    """A fare from its JSON object; names are matched case-insensitively (ksqlDB writes upper case)."""
    if "startTime" in obj:
        return TaxiFare(
            obj["rideId"],
            obj["taxiId"],
            obj["driverId"],
            obj["startTime"],
            obj["paymentType"],
            obj["tip"],
            obj["tolls"],
            obj["totalFare"],
        )
    f = {k.lower(): v for k, v in obj.items()}
    return TaxiFare(
        int(f["rideid"]),
        int(f["taxiid"]),
        int(f["driverid"]),
        int(f["starttime"]),
        str(f["paymenttype"]),
        float(f["tip"]),
        float(f["tolls"]),
        float(f["totalfare"]),
    )


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def encode_key(ride_id: int) -> bytes:
    return struct.pack(">q", ride_id)


def encode_ride(ride: TaxiRide) -> bytes:
    return _dumps(ride_to_json(ride))


def encode_fare(fare: TaxiFare) -> bytes:
    return _dumps(fare_to_json(fare))


class TaxiRideSerde(Serde[TaxiRide]):
    """A `TaxiRide` as its JSON object."""

    name = "TaxiRide"

    def serialize(self, topic: str, data: TaxiRide | None) -> bytes | None:
        return None if data is None else encode_ride(data)

    def deserialize(self, topic: str, data: bytes | None) -> TaxiRide | None:
        return None if data is None else ride_from_json(json.loads(data))


class TaxiFareSerde(Serde[TaxiFare]):
    """A `TaxiFare` as its JSON object."""

    name = "TaxiFare"

    def serialize(self, topic: str, data: TaxiFare | None) -> bytes | None:
        return None if data is None else encode_fare(data)

    def deserialize(self, topic: str, data: bytes | None) -> TaxiFare | None:
        return None if data is None else fare_from_json(json.loads(data))


# -- end of input ----------------------------------------------------------------------------


def mark_times(last_event_time: int) -> tuple[int, int]:
    """The timestamps of the two end-of-input marks after events up to `last_event_time`."""
    first = (last_event_time // HOUR_MS + 1) * HOUR_MS + 2 * HOUR_MS
    return first, first + HOUR_MS


def ride_marks(rides: Iterable[TaxiRide]) -> list[TaxiRide]:
    """The two marks that end a bounded ride stream."""
    last = max((r.event_time for r in rides), default=0)
    return [TaxiRide(MARK_RIDE_ID, True, t, 0.0, 0.0, 0.0, 0.0, 0, 0, 0) for t in mark_times(last)]


def fare_marks(fares: Iterable[TaxiFare]) -> list[TaxiFare]:
    """The two marks that end a bounded fare stream."""
    last = max((f.start_time for f in fares), default=0)
    return [TaxiFare(MARK_RIDE_ID, 0, 0, t, "", 0.0, 0.0, 0.0) for t in mark_times(last)]


def is_mark(event: TaxiRide | TaxiFare) -> bool:
    return event.ride_id == MARK_RIDE_ID
