"""Exercise 2, Rides and Fares: enrich each ride's START with its fare, whichever arrives first.

flink-training's `EnrichmentFunction` (a `RichCoFlatMapFunction` keyed by ride id) keeps the ride in
"saved ride" state until its fare comes, or the fare in "saved fare" until its ride comes, emits the
pair and clears the state. Here the two streams are merged (both keyed by ride id, so a task holds
the same partition of both) and one `Processor` does the same with two key-value stores. The SQL
version is a stream-stream inner join: a ride's START and its fare carry the same event time.
"""

from __future__ import annotations

import json
from typing import Any

from riverlog.labs.taxi.data import RideAndFare, TaxiFare, TaxiRide
from riverlog.labs.taxi.exercises.base import (
    Exercise,
    Topics,
    decode_json,
    decode_long,
    fares_ddl,
    rides_ddl,
)
from riverlog.labs.taxi.records import (
    TaxiFareSerde,
    TaxiRideSerde,
    fare_from_json,
    fare_to_json,
    is_mark,
    ride_from_json,
    ride_to_json,
)
from riverlog.streams import (
    Consumed,
    Processor,
    ProcessorContext,
    Produced,
    Record,
    Serde,
    Serdes,
    Stores,
    StreamsBuilder,
    Topology,
)

RIDE_STORE = "saved-ride"
FARE_STORE = "saved-fare"


class RideAndFareSerde(Serde[RideAndFare]):
    """`{"ride": {...}, "fare": {...}}`."""

    name = "RideAndFare"

    def serialize(self, topic: str, data: RideAndFare | None) -> bytes | None:
        if data is None:
            return None
        obj = {"ride": ride_to_json(data.ride), "fare": fare_to_json(data.fare)}
        return json.dumps(obj, separators=(",", ":")).encode()

    def deserialize(self, topic: str, data: bytes | None) -> RideAndFare | None:
        if data is None:
            return None
        obj = json.loads(data)
        return RideAndFare(ride_from_json(obj["ride"]), fare_from_json(obj["fare"]))


class EnrichmentProcessor(Processor):
    """`EnrichmentFunction`: values are `("ride", TaxiRide)` or `("fare", TaxiFare)`."""

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.rides = context.get_state_store(RIDE_STORE)
        self.fares = context.get_state_store(FARE_STORE)

    def process(self, record: Record) -> None:
        kind, event = record.value
        if kind == "ride":
            fare = self.fares.get(record.key)
            if fare is None:
                self.rides.put(record.key, event)
                return
            self.fares.delete(record.key)
            self.context.forward(record.with_value(RideAndFare(event, fare)))
        else:
            ride = self.rides.get(record.key)
            if ride is None:
                self.fares.put(record.key, event)
                return
            self.rides.delete(record.key)
            self.context.forward(record.with_value(RideAndFare(ride, event)))


def topology(topics: Topics) -> Topology:
    b = StreamsBuilder()
    b.add_state_store(
        Stores.key_value_store_builder(
            Stores.persistent_key_value_store(RIDE_STORE), Serdes.Long(), TaxiRideSerde()
        )
    )
    b.add_state_store(
        Stores.key_value_store_builder(
            Stores.persistent_key_value_store(FARE_STORE), Serdes.Long(), TaxiFareSerde()
        )
    )
    rides = b.stream(topics.rides, Consumed.with_(Serdes.Long(), TaxiRideSerde()))
    fares = b.stream(topics.fares, Consumed.with_(Serdes.Long(), TaxiFareSerde()))
    starts = rides.filter(lambda _id, r: r.is_start and not is_mark(r)).map_values(
        lambda r: ("ride", r)
    )
    tagged = fares.filter(lambda _id, f: not is_mark(f)).map_values(lambda f: ("fare", f))
    starts.merge(tagged).process(EnrichmentProcessor, RIDE_STORE, FARE_STORE).to(
        topics.output, Produced.with_(Serdes.Long(), RideAndFareSerde())
    )
    return b.build()


def render(_key: bytes | None, value: bytes | None) -> str | None:
    pair = RideAndFareSerde().deserialize("", value)
    return None if pair is None else str(pair)


_RIDE_COLS = ("isStart", "eventTime", "startLon", "startLat", "endLon", "endLat", "passengerCnt")
_RIDE_COLS2 = ("taxiId", "driverId")
_FARE_COLS = ("taxiId", "driverId", "startTime", "paymentType", "tip", "tolls", "totalFare")


def sql(topics: Topics) -> list[str]:
    ride_cols = [f"R.{c} AS RIDE_{c}" for c in (*_RIDE_COLS, *_RIDE_COLS2)]
    fare_cols = [f"F.{c} AS FARE_{c}" for c in _FARE_COLS]
    return [
        rides_ddl(topics.rides),
        fares_ddl(topics.fares),
        f"CREATE STREAM RIDES_AND_FARES WITH (KAFKA_TOPIC='{topics.output}', "
        "VALUE_FORMAT='JSON') AS "
        f"SELECT R.rideId AS rideId, {', '.join(ride_cols + fare_cols)} "
        "FROM TAXI_RIDES R JOIN TAXI_FARES F WITHIN 1 HOURS GRACE PERIOD 1 HOURS "
        "ON R.rideId = F.rideId WHERE R.isStart AND R.rideId <> 0;",
    ]


def _pick(row: dict[str, Any], prefix: str, cols: tuple[str, ...]) -> dict[str, Any]:
    upper = {k.upper(): v for k, v in row.items()}
    return {c: upper[f"{prefix}_{c.upper()}"] for c in cols}


def render_sql(key: bytes | None, value: bytes | None) -> str | None:
    ride_id = decode_long(key)
    if ride_id is None or value is None:
        return None
    row = decode_json(value)
    ride: TaxiRide = ride_from_json(
        {"rideId": ride_id, **_pick(row, "RIDE", (*_RIDE_COLS, *_RIDE_COLS2))}
    )
    fare: TaxiFare = fare_from_json({"rideId": ride_id, **_pick(row, "FARE", _FARE_COLS)})
    return str(RideAndFare(ride, fare))


EXERCISE = Exercise(
    name="rides-and-fares",
    title="Rides and Fares",
    inputs=("rides", "fares"),
    topology=topology,
    render=render,
    sql=sql,
    render_sql=render_sql,
    ordered=False,
)
