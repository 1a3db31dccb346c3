"""The four exercises computed the plain way, over a whole bounded input in memory.

These are the expected outputs the lab's tests compare the streams and SQL versions against: each is
the straightforward reading of flink-training's solution for a bounded input that ends with a
watermark at `Long.MAX_VALUE` (every window and timer fires), written without windows, stores or
timers so that it can be checked by eye.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from riverlog.labs.taxi.data import RideAndFare, TaxiFare, TaxiRide
from riverlog.labs.taxi.exercises.hourly_tips import format_result
from riverlog.labs.taxi.exercises.ride_cleansing import nyc_filter
from riverlog.labs.taxi.javarandom import to_float32

HOUR_MS = 3_600_000


def ride_cleansing(rides: Iterable[TaxiRide]) -> list[str]:
    """Every ride event that starts and ends in NYC, in input order."""
    return [str(r) for r in rides if nyc_filter(r)]


def rides_and_fares(rides: Iterable[TaxiRide], fares: Iterable[TaxiFare]) -> set[str]:
    """Each START paired with the fare of the same ride (when both exist)."""
    fare_of = {f.ride_id: f for f in fares}
    return {
        str(RideAndFare(r, fare_of[r.ride_id]))
        for r in rides
        if r.is_start and r.ride_id in fare_of
    }


def hourly_tips(fares: Iterable[TaxiFare]) -> list[str]:
    """Per hour (in order), the driver with the most tips; a tie goes to the lowest driver id."""
    totals: dict[tuple[int, int], float] = defaultdict(float)
    for f in fares:
        key = ((f.start_time // HOUR_MS + 1) * HOUR_MS, f.driver_id)
        totals[key] = to_float32(totals[key] + f.tip)
    best: dict[int, tuple[float, int]] = {}
    for (end, driver), total in totals.items():
        if end not in best or (total, -driver) > (best[end][0], -best[end][1]):
            best[end] = (total, driver)
    return [format_result(end, driver, total) for end, (total, driver) in sorted(best.items())]


def long_ride_alerts(rides: Iterable[TaxiRide]) -> set[str]:
    """Rides with a START whose END is missing or more than two hours later."""
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for r in rides:
        (starts if r.is_start else ends)[r.ride_id] = r.event_time
    return {
        str(ride_id)
        for ride_id, start in starts.items()
        if ride_id not in ends or ends[ride_id] - start > 2 * HOUR_MS
    }
