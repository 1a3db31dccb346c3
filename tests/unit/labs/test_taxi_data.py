"""The taxi lab's data reproduces flink-training's Java values.

Reference values: well-known outputs of `java.util.Random` (JDK specification examples), and the hourly
maximum tips that flink-training's hourly-tips/DISCUSSION.md prints for its generated fares — which pins
down `Random`, `nextInt`, `nextGaussian`, the driver ids and the tips of ~1,080 rides at once.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riverlog.labs.taxi.data import BEGINNING_MS, TaxiFare, TaxiRide, instant_str, is_in_nyc
from riverlog.labs.taxi.generators import (
    JavaPriorityQueue,
    bounded_rides,
    rides_for_hours,
    taxi_fares,
    taxi_rides,
)
from riverlog.labs.taxi.javarandom import JavaRandom, java_float_str, java_shuffle, to_float32


def test_java_random_known_values() -> None:
    assert JavaRandom(42).next_int() == -1170105035
    assert JavaRandom(0).next_int() == -1155484576
    assert JavaRandom(42).next_double() == 0.7275636800328681
    assert JavaRandom(0).next_gaussian() == 0.8025330637390305
    assert JavaRandom(0).next_long() == -4962768465676381896


def test_next_int_bound_is_in_range_and_power_of_two_path() -> None:
    rnd = JavaRandom(7)
    assert all(0 <= rnd.next_int(200) < 200 for _ in range(1000))
    assert all(0 <= rnd.next_int(64) < 64 for _ in range(1000))


def test_gaussian_caches_its_second_value() -> None:
    a, b = JavaRandom(3), JavaRandom(3)
    first, second = a.next_gaussian(), a.next_gaussian()
    assert b.next_gaussian() == first and b.next_gaussian() == second
    assert first != second


def test_shuffle_is_a_permutation_and_deterministic() -> None:
    items = list(range(10))
    java_shuffle(items, JavaRandom(1))
    again = list(range(10))
    java_shuffle(again, JavaRandom(1))
    assert items == again and sorted(items) == list(range(10)) and items != list(range(10))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (1e-5, "1.0E-5"),
        (1e7, "1.0E7"),
        (123.0, "123.0"),
        (100.0, "100.0"),
        (-73.85884, "-73.85884"),
        (0.001, "0.001"),
        (0.0, "0.0"),
        (33.0, "33.0"),
        (1234567.0, "1234567.0"),
    ],
)
def test_java_float_str(value: float, text: str) -> None:
    assert java_float_str(to_float32(value)) == text


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_java_float_str_reads_back(value: float) -> None:
    assert to_float32(float(java_float_str(value))) == value


def test_instant_str() -> None:
    assert instant_str(BEGINNING_MS) == "2020-01-01T12:00:00Z"
    assert instant_str(BEGINNING_MS + 20_500) == "2020-01-01T12:00:20.500Z"


def test_hourly_max_tips_match_flink_training_discussion() -> None:
    tips: dict[tuple[int, int], float] = defaultdict(float)
    for fare in taxi_fares(BEGINNING_MS + 6 * 3_600_000):
        window_end = (fare.start_time // 3_600_000 + 1) * 3_600_000
        key = (window_end, fare.driver_id)
        tips[key] = to_float32(tips[key] + fare.tip)
    best: dict[int, tuple[int, float]] = {}
    for (end, driver), total in tips.items():
        if end not in best or total > best[end][1]:
            best[end] = (driver, total)
    printed = [
        f"({end},{driver},{java_float_str(total)})" for end, (driver, total) in sorted(best.items())
    ]
    assert printed == [
        "(1577883600000,2013000089,76.0)",
        "(1577887200000,2013000197,71.0)",
        "(1577890800000,2013000118,83.0)",
        "(1577894400000,2013000119,81.0)",
        "(1577898000000,2013000195,73.0)",
        "(1577901600000,2013000072,123.0)",
    ]
    first = TaxiFare.generate(1)
    assert (first.driver_id, first.tip) == (
        2013000185,
        33.0,
    )  # the DISCUSSION's first per-driver line


def test_ride_generator_order() -> None:
    rides = list(itertools.islice(taxi_rides(), 200))
    # each batch of five STARTs is a shuffle of its ids; ENDs come out in (time, START-first) order
    assert sorted(r.ride_id for r in rides[:5] if r.is_start) == [1, 2, 3, 4, 5]
    ends = [r for r in rides if not r.is_start]
    assert ends == sorted(ends, key=TaxiRide.sort_key)
    assert all(TaxiRide.generate(r.ride_id, r.is_start) == r for r in rides)
    assert str(TaxiRide.generate(1, True)).startswith("1,START,2020-01-01T12:00:20Z,")


def test_bounded_rides_has_each_start_and_end_once() -> None:
    rides = list(bounded_rides(50))
    assert sorted((r.ride_id, r.is_start) for r in rides) == sorted(
        (i, s) for i in range(1, 51) for s in (True, False)
    )
    assert rides_for_hours(1) == 179  # fares with start time before 13:00 (runFor(1 hour))


@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=60))
def test_priority_queue_polls_in_order(items: list[tuple[int, bool]]) -> None:
    queue = JavaPriorityQueue()
    rides = [
        TaxiRide(i, start, t, 0.0, 0.0, 0.0, 0.0, 1, 1, 1) for i, (t, start) in enumerate(items)
    ]
    for ride in rides:
        queue.offer(ride)
    polled = [queue.poll().sort_key() for _ in rides]
    assert polled == sorted(r.sort_key() for r in rides)


def test_is_in_nyc() -> None:
    assert is_in_nyc(to_float32(-73.9947), to_float32(40.750626))
    assert not is_in_nyc(0.0, 90.0)
