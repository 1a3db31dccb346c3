"""The taxi lab on a real broker: each exercise's streams app and SQL statements over generated
data equal the plain-Python reference; flink-training's integration-test inputs give its expected
results; and the `riverlog labs taxi` commands work end to end in a subprocess."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from riverlog.labs.taxi import reference
from riverlog.labs.taxi.data import BEGINNING_MS, RideAndFare, TaxiFare, TaxiRide
from riverlog.labs.taxi.exercises import EXERCISES, Topics
from riverlog.labs.taxi.javarandom import to_float32
from riverlog.labs.taxi.runner import LabError, bounded_input, run_on_cluster
from riverlog.streams import Consumed, Produced, Serdes, StreamsBuilder, Topology
from riverlog.testing.broker import RunningBroker

MINUTE, HOUR = 60_000, 3_600_000
MODES = pytest.mark.parametrize("use_sql", [False, True], ids=["streams", "sql"])
SRC = str(Path(__file__).resolve().parents[3] / "src")


@pytest.fixture(scope="module")
def two_hours() -> tuple[list[TaxiRide], list[TaxiFare]]:
    return bounded_input(359)


@pytest.fixture(scope="module")
def first_long_rides() -> tuple[list[TaxiRide], list[TaxiFare]]:
    return bounded_input(1560)  # the first two rides over two hours are 1539 and 1541


@MODES
@pytest.mark.parametrize("name", list(EXERCISES))
def test_generated_input_equals_the_reference(
    broker: RunningBroker,
    name: str,
    use_sql: bool,
    two_hours: tuple[list[TaxiRide], list[TaxiFare]],
    first_long_rides: tuple[list[TaxiRide], list[TaxiFare]],
) -> None:
    rides, fares = first_long_rides if name == "long-ride-alerts" else two_hours
    expected = {
        "ride-cleansing": reference.ride_cleansing(rides),
        "rides-and-fares": reference.rides_and_fares(rides, fares),
        "hourly-tips": reference.hourly_tips(fares),
        "long-ride-alerts": reference.long_ride_alerts(rides),
    }[name]
    result = run_on_cluster(
        EXERCISES[name], broker.bootstrap_servers, rides, fares, use_sql=use_sql, timeout_s=120
    )
    assert expected  # every exercise has output for this input
    if EXERCISES[name].ordered:
        assert result.lines == expected
    else:
        assert len(result.lines) == len(expected) and set(result.lines) == expected


@MODES
def test_long_rides_multiple_rides(broker: RunningBroker, use_sql: bool) -> None:
    """LongRidesIntegrationTest.multipleRides."""
    penn = (to_float32(-73.9947), to_float32(40.750626))

    def ride(ride_id: int, start: bool, at: int) -> TaxiRide:
        return TaxiRide(ride_id, start, BEGINNING_MS + at, *penn, *penn, 1, 0, 0)

    rides = [
        ride(1, True, 0),
        ride(2, True, 0),
        ride(3, True, MINUTE),
        ride(4, True, HOUR),
        ride(4, False, 2 * HOUR),
        ride(2, False, 0),
        ride(3, False, 3 * HOUR),
    ]
    result = run_on_cluster(
        EXERCISES["long-ride-alerts"], broker.bootstrap_servers, rides, [], use_sql=use_sql
    )
    assert sorted(result.lines) == ["1", "3"]


@MODES
def test_rides_and_fares_mixed_together(broker: RunningBroker, use_sql: bool) -> None:
    """RidesAndFaresIntegrationTest.testSeveralRidesAndFaresMixedTogether (event time 12:00)."""

    def ride(i: int) -> TaxiRide:
        return TaxiRide(i, True, BEGINNING_MS, 0.0, 0.0, 0.0, 0.0, 1, 0, i)

    def fare(i: int) -> TaxiFare:
        return TaxiFare(i, 0, i, BEGINNING_MS, "", 0.0, 0.0, 0.0)

    result = run_on_cluster(
        EXERCISES["rides-and-fares"],
        broker.bootstrap_servers,
        [ride(1), ride(4), ride(3), ride(2)],
        [fare(2), fare(4), fare(1), fare(3)],
        use_sql=use_sql,
    )
    assert sorted(result.lines) == sorted(str(RideAndFare(ride(i), fare(i))) for i in range(1, 5))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-m", "riverlog", "labs", "taxi", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_cli_run_hourly_tips_prints_the_discussion_values(broker: RunningBroker) -> None:
    done = _cli(
        "run", "hourly-tips", "--bootstrap-server", broker.bootstrap_servers, "--hours", "6"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "(1577883600000,2013000089,76.0)",
        "(1577887200000,2013000197,71.0)",
        "(1577890800000,2013000118,83.0)",
        "(1577894400000,2013000119,81.0)",
        "(1577898000000,2013000195,73.0)",
        "(1577901600000,2013000072,123.0)",
    ]


def test_cli_run_sql_long_ride_alerts(broker: RunningBroker) -> None:
    done = _cli(
        "run", "long-ride-alerts", "--sql", "--bootstrap-server", broker.bootstrap_servers,
        "--rides", "1560",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == ["1539", "1541"]


def test_cli_generate_writes_both_topics(broker: RunningBroker) -> None:
    done = _cli(
        "generate", "--bootstrap-server", broker.bootstrap_servers, "--rides", "50",
        "--rides-topic", "gen-rides", "--fares-topic", "gen-fares",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "gen-check"})
    try:
        ends = {
            t: consumer.get_watermark_offsets(TopicPartition(t, 0), timeout=10)[1]
            for t in ("gen-rides", "gen-fares")
        }
    finally:
        consumer.close()
    assert ends == {"gen-rides": 100 + 2, "gen-fares": 50 + 2}  # events plus the two end marks


def test_cli_errors_are_one_line(broker: RunningBroker) -> None:
    done = _cli("run", "hourly-tips", "--rides", "5", "--hours", "1")
    assert done.returncode != 0
    assert done.stderr.strip() == "riverlog: error: give --rides or --hours, not both"


def test_a_failing_app_ends_the_run_with_its_reason(broker: RunningBroker) -> None:
    def broken(topics: Topics) -> Topology:
        b = StreamsBuilder()
        b.stream(topics.rides, Consumed.with_(Serdes.Long(), Serdes.Bytes())).map_values(
            lambda _v: 1 // 0
        ).to(topics.output, Produced.with_(Serdes.Long(), Serdes.Long()))
        return b.build()

    exercise = dataclasses.replace(EXERCISES["ride-cleansing"], topology=broken)
    rides, _ = bounded_input(3)
    with pytest.raises(LabError, match="the streams app stopped"):
        run_on_cluster(exercise, broker.bootstrap_servers, rides, [], timeout_s=120)
