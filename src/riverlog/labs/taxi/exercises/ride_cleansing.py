"""Exercise 1, Ride Cleansing: keep the rides that start and end in New York City.

flink-training: `rides.filter(new NYCFilter())` with `GeoUtils.isInNYC` on the start and the end
location; the output is each kept ride's CSV `toString`. The end-of-input marks lie at (0, 0), outside
NYC, so the filter drops them with the rest.
"""

from __future__ import annotations

from riverlog.labs.taxi.data import TaxiRide, is_in_nyc
from riverlog.labs.taxi.exercises.base import (
    Exercise,
    Topics,
    decode_json,
    decode_long,
    rides_ddl,
)
from riverlog.labs.taxi.records import TaxiRideSerde, ride_from_json
from riverlog.streams import Consumed, Produced, Serdes, StreamsBuilder, Topology


def nyc_filter(ride: TaxiRide) -> bool:
    """`RideCleansingSolution.NYCFilter`: start and end inside NYC."""
    return is_in_nyc(ride.start_lon, ride.start_lat) and is_in_nyc(ride.end_lon, ride.end_lat)


def topology(topics: Topics) -> Topology:
    b = StreamsBuilder()
    rides = b.stream(topics.rides, Consumed.with_(Serdes.Long(), TaxiRideSerde()))
    rides.filter(lambda _id, ride: nyc_filter(ride)).to(
        topics.output, Produced.with_(Serdes.Long(), TaxiRideSerde())
    )
    return b.build()


def render(_key: bytes | None, value: bytes | None) -> str | None:
    return None if value is None else str(ride_from_json(decode_json(value)))


# GeoUtils.isInNYC(lon, lat) = !(lon > -73.7 || lon < -74.05) && !(lat > 41.0 || lat < 40.5); the
# values are Java floats written exactly as doubles, so these comparisons are Java's.
_IN_NYC = "NOT ({lon} > -73.7 OR {lon} < -74.05) AND NOT ({lat} > 41.0 OR {lat} < 40.5)"


def sql(topics: Topics) -> list[str]:
    start = _IN_NYC.format(lon="startLon", lat="startLat")
    end = _IN_NYC.format(lon="endLon", lat="endLat")
    return [
        rides_ddl(topics.rides),
        f"CREATE STREAM NYC_RIDES WITH (KAFKA_TOPIC='{topics.output}', VALUE_FORMAT='JSON') AS "
        f"SELECT * FROM TAXI_RIDES WHERE {start} AND {end};",
    ]


def render_sql(key: bytes | None, value: bytes | None) -> str | None:
    ride_id = decode_long(key)
    if ride_id is None or value is None:
        return None
    return str(ride_from_json({**decode_json(value), "rideId": ride_id}))


EXERCISE = Exercise(
    name="ride-cleansing",
    title="Ride Cleansing",
    inputs=("rides",),
    topology=topology,
    render=render,
    sql=sql,
    render_sql=render_sql,
    ordered=True,
)
