"""flink-training's four exercises, each a `riverlog.streams` topology and ksqlDB statements."""

from __future__ import annotations

from riverlog.labs.taxi.exercises import (
    hourly_tips,
    long_ride_alerts,
    ride_cleansing,
    rides_and_fares,
)
from riverlog.labs.taxi.exercises.base import Exercise, Topics

EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        ride_cleansing.EXERCISE,
        rides_and_fares.EXERCISE,
        hourly_tips.EXERCISE,
        long_ride_alerts.EXERCISE,
    )
}

__all__ = ["EXERCISES", "Exercise", "Topics"]
