"""flink-training's taxi data types (`TaxiRide`, `TaxiFare`, `RideAndFare`), `GeoUtils.isInNYC` and
`DataGenerator`, reproducing the Java originals' values and `toString` text exactly.

Every field of ride or fare `n` comes from `new java.util.Random(n)` (the end location from `n + 42`),
with Java's float (32-bit) arithmetic where the original uses `float`: each such step is rounded with
`to_float32`, so the numbers printed match `Float.toString` of the Java values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from riverlog.labs.taxi.javarandom import JavaRandom, java_float_str, java_round, to_float32

f32 = to_float32

SECONDS_BETWEEN_RIDES = 20
NUMBER_OF_DRIVERS = 200
BEGINNING_MS = 1577880000000  # Instant.parse("2020-01-01T12:00:00.00Z")

# GeoUtils: the area of NYC
LON_EAST = -73.7
LON_WEST = -74.05
LAT_NORTH = 41.0
LAT_SOUTH = 40.5


def is_in_nyc(lon: float, lat: float) -> bool:
    """`GeoUtils.isInNYC(lon, lat)`."""
    return not (lon > LON_EAST or lon < LON_WEST) and not (lat > LAT_NORTH or lat < LAT_SOUTH)


def instant_str(epoch_ms: int) -> str:
    """`Instant.toString()` for whole milliseconds (ISO-8601, seconds always shown, `Z`)."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = epoch_ms % 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


# The bounds DataGenerator draws coordinates within (Java: (float) (LAT_SOUTH - 0.1) etc.)
_LAT_MIN = f32(LAT_SOUTH - 0.1)
_LAT_MAX = f32(LAT_NORTH + f32(0.1))
_LON_MIN = f32(LON_WEST - 0.1)
_LON_MAX = f32(LON_EAST + f32(0.1))


class DataGenerator:
    """`DataGenerator(rideId)`: every value is a pure function of the ride id."""

    __slots__ = ("ride_id",)

    def __init__(self, ride_id: int) -> None:
        self.ride_id = ride_id

    def start_time(self) -> int:
        return BEGINNING_MS + SECONDS_BETWEEN_RIDES * self.ride_id * 1000

    def end_time(self) -> int:
        return self.start_time() + 60_000 * self.ride_duration_minutes()

    def driver_id(self) -> int:
        return 2013000000 + JavaRandom(self.ride_id).next_int(NUMBER_OF_DRIVERS)

    def taxi_id(self) -> int:
        return self.driver_id()

    def start_lat(self) -> float:
        return self._a_float(self.ride_id, _LAT_MIN, _LAT_MAX)

    def start_lon(self) -> float:
        return self._a_float(self.ride_id, _LON_MIN, _LON_MAX)

    def end_lat(self) -> float:
        return self._a_float(self.ride_id + 42, _LAT_MIN, _LAT_MAX)

    def end_lon(self) -> float:
        return self._a_float(self.ride_id + 42, _LON_MIN, _LON_MAX)

    def passenger_cnt(self) -> int:
        return self._a_long(1, 4)

    def payment_type(self) -> str:
        return "CARD" if self.ride_id % 2 == 0 else "CASH"

    def tip(self) -> float:
        return float(self._a_long(0, 60, 10.0, 15.0))

    def tolls(self) -> float:
        return float(self._a_long(0, 5)) if self.ride_id % 10 == 0 else 0.0

    def total_fare(self) -> float:
        return f32(3.0 + 1.0 * self.ride_duration_minutes() + self.tip() + self.tolls())

    def ride_duration_minutes(self) -> int:
        return self._a_long(0, 600, 20.0, 40.0)

    def _a_long(
        self, low: int, high: int, mean: float | None = None, stddev: float | None = None
    ) -> int:
        if mean is None or stddev is None:
            mean = f32((low + high) / 2.0)
            stddev = f32((high - low) / 8.0)
        rnd = JavaRandom(self.ride_id)
        while True:  # (long) Math.round(stddev * nextGaussian() + mean), in double arithmetic
            value = java_round(stddev * rnd.next_gaussian() + mean)
            if low <= value <= high:
                return value

    @staticmethod
    def _a_float(seed: int, low: float, high: float) -> float:
        mean = f32(f32(low + high) / 2.0)
        stddev = f32(f32(high - low) / 8.0)
        rnd = JavaRandom(seed)
        while True:  # (float) (stddev * nextGaussian()) + mean, in float arithmetic
            value = f32(f32(stddev * rnd.next_gaussian()) + mean)
            if low <= value <= high:
                return value


@dataclass(frozen=True, slots=True)
class TaxiRide:
    ride_id: int
    is_start: bool
    event_time: int  # epoch ms
    start_lon: float
    start_lat: float
    end_lon: float
    end_lat: float
    passenger_cnt: int
    taxi_id: int
    driver_id: int

    @classmethod
    def generate(cls, ride_id: int, is_start: bool) -> TaxiRide:
        """`new TaxiRide(rideId, isStart)`."""
        g = DataGenerator(ride_id)
        return cls(
            ride_id,
            is_start,
            g.start_time() if is_start else g.end_time(),
            g.start_lon(),
            g.start_lat(),
            g.end_lon(),
            g.end_lat(),
            g.passenger_cnt(),
            g.taxi_id(),
            g.driver_id(),
        )

    def sort_key(self) -> tuple[int, int]:
        """`compareTo`: by event time, a START before an END at the same time."""
        return (self.event_time, 0 if self.is_start else 1)

    def __str__(self) -> str:
        fields = [
            str(self.ride_id),
            "START" if self.is_start else "END",
            instant_str(self.event_time),
            java_float_str(self.start_lon),
            java_float_str(self.start_lat),
            java_float_str(self.end_lon),
            java_float_str(self.end_lat),
            str(self.passenger_cnt),
            str(self.taxi_id),
            str(self.driver_id),
        ]
        return ",".join(fields)


@dataclass(frozen=True, slots=True)
class TaxiFare:
    ride_id: int
    taxi_id: int
    driver_id: int
    start_time: int  # epoch ms
    payment_type: str
    tip: float
    tolls: float
    total_fare: float

    @classmethod
    def generate(cls, ride_id: int) -> TaxiFare:
        """`new TaxiFare(rideId)`."""
        g = DataGenerator(ride_id)
        return cls(
            ride_id,
            g.taxi_id(),
            g.driver_id(),
            g.start_time(),
            g.payment_type(),
            g.tip(),
            g.tolls(),
            g.total_fare(),
        )

    def __str__(self) -> str:
        fields = [
            str(self.ride_id),
            str(self.taxi_id),
            str(self.driver_id),
            instant_str(self.start_time),
            self.payment_type,
            java_float_str(self.tip),
            java_float_str(self.tolls),
            java_float_str(self.total_fare),
        ]
        return ",".join(fields)


@dataclass(frozen=True, slots=True)
class RideAndFare:
    ride: TaxiRide
    fare: TaxiFare

    def __str__(self) -> str:
        return f"<{self.ride} / {self.fare}>"
