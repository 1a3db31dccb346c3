"""Exercise 4, Long Ride Alerts: the ids of rides that last more than two hours, as early as possible.

flink-training's `AlertFunction` (a `KeyedProcessFunction` keyed by ride id, watermarks bounded out of
orderness 60 s) remembers whichever event of a ride comes first; a START also sets an event-time timer
at start + 2 h. The second event clears the state (and the timer) and alerts if the ride lasted more
than two hours; a timer that fires alerts and clears the state (a later END then sits in state — the
leak the exercise's DISCUSSION describes). Here the same logic is a `Processor` with two stores:
`ride-event` (ride id → first event) and `ride-timers` (8-byte timer time + 8-byte ride id, so a range
scan returns the due timers in time order). A stream-time punctuator plays the watermark: Flink's is
`max timestamp - 60 s - 1 ms`, and a timer fires once the watermark reaches it. The punctuator runs
whenever stream time advances (a 1 ms interval), so alerts come as early as Flink's.

The SQL version uses session windows of two hours per ride: a START and an END at most two hours
apart fall in one session; a session that closes holding only a START is a long ride (or one whose
END never came). The alert comes when that session closes rather than at start + 2 h. The end
marks must reach the aggregation (a session closes only when the aggregation itself sees time pass),
so they are not filtered out: the two marks, one hour apart, share a session and fail the HAVING.
"""

from __future__ import annotations

import struct
from datetime import timedelta

from riverlog.labs.taxi.data import TaxiRide
from riverlog.labs.taxi.exercises.base import (
    Exercise,
    Topics,
    decode_long,
    rides_ddl,
)
from riverlog.labs.taxi.records import TaxiRideSerde, is_mark
from riverlog.streams import (
    Consumed,
    Processor,
    ProcessorContext,
    Produced,
    PunctuationType,
    Record,
    Serdes,
    Stores,
    StreamsBuilder,
    Topology,
)

RIDE_STORE = "ride-event"
TIMER_STORE = "ride-timers"
TWO_HOURS_MS = 2 * 3_600_000
OUT_OF_ORDERNESS_MS = 60_000


def timer_key(time_ms: int, ride_id: int) -> bytes:
    return struct.pack(">qq", time_ms, ride_id)


def ride_too_long(start: TaxiRide, end: TaxiRide) -> bool:
    return end.event_time - start.event_time > TWO_HOURS_MS


class AlertProcessor(Processor):
    """`LongRidesSolution.AlertFunction` with a watermark derived from stream time."""

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.rides = context.get_state_store(RIDE_STORE)
        self.timers = context.get_state_store(TIMER_STORE)
        context.schedule(
            timedelta(milliseconds=1), PunctuationType.STREAM_TIME, self.on_stream_time
        )

    def process(self, record: Record) -> None:
        ride: TaxiRide = record.value
        first: TaxiRide | None = self.rides.get(ride.ride_id)
        if first is None:
            # whatever event comes first, remember it; a START also sets the timer
            self.rides.put(ride.ride_id, ride)
            if ride.is_start:
                self.timers.put(timer_key(ride.event_time + TWO_HOURS_MS, ride.ride_id), b"\x01")
            return
        if ride.is_start:
            if ride_too_long(ride, first):
                self.context.forward(record.with_value(ride.ride_id))
        else:
            self.timers.delete(timer_key(first.event_time + TWO_HOURS_MS, first.ride_id))
            if ride_too_long(first, ride):
                self.context.forward(record.with_value(ride.ride_id))
        self.rides.delete(ride.ride_id)  # both events seen

    def on_stream_time(self, stream_time: int) -> None:
        """Fire every timer the watermark has reached, in time order."""
        watermark = stream_time - OUT_OF_ORDERNESS_MS - 1
        if watermark < 0:
            return
        due = [kv.key for kv in self.timers.range(timer_key(0, 0), timer_key(watermark, 2**63 - 1))]
        for key in due:
            fire_time, ride_id = struct.unpack(">qq", key)
            self.timers.delete(key)
            self.rides.delete(ride_id)  # prevents a duplicate alert; a later END will leak
            self.context.forward(Record(ride_id, ride_id, fire_time))


def topology(topics: Topics) -> Topology:
    b = StreamsBuilder()
    b.add_state_store(
        Stores.key_value_store_builder(
            Stores.persistent_key_value_store(RIDE_STORE), Serdes.Long(), TaxiRideSerde()
        )
    )
    b.add_state_store(
        Stores.key_value_store_builder(
            Stores.persistent_key_value_store(TIMER_STORE), Serdes.Bytes(), Serdes.Bytes()
        )
    )
    rides = b.stream(topics.rides, Consumed.with_(Serdes.Long(), TaxiRideSerde()))
    rides.filter(lambda _id, ride: not is_mark(ride)).process(
        AlertProcessor, RIDE_STORE, TIMER_STORE
    ).to(topics.output, Produced.with_(Serdes.Long(), Serdes.Long()))
    return b.build()


def render(_key: bytes | None, value: bytes | None) -> str | None:
    ride_id = decode_long(value)
    return None if ride_id is None else str(ride_id)


def sql(topics: Topics) -> list[str]:
    return [
        rides_ddl(topics.rides),
        f"CREATE TABLE LONG_RIDES WITH (KAFKA_TOPIC='{topics.output}', VALUE_FORMAT='JSON') AS "
        "SELECT rideId, COUNT(*) AS events FROM TAXI_RIDES "
        "WINDOW SESSION (2 HOURS, GRACE PERIOD 5 MINUTES) GROUP BY rideId "
        "HAVING COUNT(*) = 1 AND SUM(CASE WHEN isStart THEN 1 ELSE 0 END) = 1 EMIT FINAL;",
    ]


def render_sql(key: bytes | None, value: bytes | None) -> str | None:
    ride_id = decode_long(key)
    return None if ride_id is None or value is None else str(ride_id)


EXERCISE = Exercise(
    name="long-ride-alerts",
    title="Long Ride Alerts",
    inputs=("rides",),
    topology=topology,
    render=render,
    sql=sql,
    render_sql=render_sql,
    ordered=False,
)
