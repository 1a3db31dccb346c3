"""flink-training's tests for the four taxi exercises (1.17 line: RideCleansing*, RidesAndFares*,
HourlyTipsTest, LongRides*), ported case by case, run through `TopologyTestDriver` for the streams
version and through ksqlDB-style query drivers for the SQL version; then both versions against the
plain-Python reference over generated data.

flink-training's bounded test sources end with a `Long.MAX_VALUE` watermark; here every input ends
with the two end-of-input marks (`riverlog.labs.taxi.records`), which `local.run_*` append.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from riverlog.labs.taxi import local, reference
from riverlog.labs.taxi.data import BEGINNING_MS, RideAndFare, TaxiFare, TaxiRide
from riverlog.labs.taxi.exercises import EXERCISES, Topics
from riverlog.labs.taxi.exercises.long_ride_alerts import RIDE_STORE, TIMER_STORE
from riverlog.labs.taxi.exercises.ride_cleansing import nyc_filter
from riverlog.labs.taxi.exercises.rides_and_fares import FARE_STORE
from riverlog.labs.taxi.exercises.rides_and_fares import RIDE_STORE as SAVED_RIDE
from riverlog.labs.taxi.javarandom import to_float32
from riverlog.labs.taxi.local import input_records
from riverlog.labs.taxi.records import (
    TaxiFareSerde,
    TaxiRideSerde,
    fare_from_json,
    fare_marks,
    fare_to_json,
    is_mark,
    mark_times,
    ride_from_json,
    ride_marks,
    ride_to_json,
)
from riverlog.labs.taxi.runner import bounded_input
from riverlog.streams import Serdes
from riverlog.streams.testing import TopologyTestDriver

Runner = Callable[..., list[str]]
BOTH = pytest.mark.parametrize("run", [local.run_streams, local.run_sql], ids=["streams", "sql"])
MINUTE = 60_000
HOUR = 3_600_000

# -- Ride Cleansing ------------------------------------------------------------------------------

PENN = (to_float32(-73.9947), to_float32(40.750626))
POLE = (0.0, 90.0)


def cleansing_ride(start: tuple[float, float], end: tuple[float, float]) -> TaxiRide:
    """`RideCleansingTestBase.testRide`."""
    return TaxiRide(1, True, 0, start[0], start[1], end[0], end[1], 1, 0, 0)


def test_ride_that_starts_and_ends_in_nyc() -> None:
    assert nyc_filter(cleansing_ride(PENN, PENN))


def test_ride_that_starts_outside_nyc() -> None:
    assert not nyc_filter(cleansing_ride(POLE, PENN))


def test_ride_that_ends_outside_nyc() -> None:
    assert not nyc_filter(cleansing_ride(PENN, POLE))


def test_ride_that_starts_and_ends_outside_nyc() -> None:
    assert not nyc_filter(cleansing_ride(POLE, POLE))


@BOTH
def test_cleansing_a_mixture_of_locations(run: Runner) -> None:
    rides = [
        cleansing_ride(PENN, POLE),
        cleansing_ride(POLE, PENN),
        cleansing_ride(PENN, PENN),
        cleansing_ride(POLE, POLE),
    ]
    assert run(EXERCISES["ride-cleansing"], rides=rides) == [str(cleansing_ride(PENN, PENN))]


@BOTH
def test_cleansing_compares_java_floats_at_the_border(run: Runner) -> None:
    # (float) -73.7 is -73.69999694824219, east of GeoUtils' -73.7 (a double): Java drops the ride,
    # though its CSV prints "-73.7"; one float further west is inside
    border = cleansing_ride((to_float32(-73.7), PENN[1]), PENN)
    inside = cleansing_ride((to_float32(-73.70001), PENN[1]), PENN)
    assert str(border).split(",")[3] == "-73.7"
    assert run(EXERCISES["ride-cleansing"], rides=[border, inside]) == [str(inside)]


# -- Rides and Fares -----------------------------------------------------------------------------


def raf_ride(ride_id: int) -> TaxiRide:
    """`RidesAndFaresTestBase.testRide`."""
    return TaxiRide(ride_id, True, 0, 0.0, 0.0, 0.0, 0.0, 1, 0, ride_id)


def raf_fare(ride_id: int) -> TaxiFare:
    """`RidesAndFaresTestBase.testFare`."""
    return TaxiFare(ride_id, 0, ride_id, 0, "", 0.0, 0.0, 0.0)


def _enrichment_driver() -> TopologyTestDriver:
    topology = EXERCISES["rides-and-fares"].topology(Topics())
    return TopologyTestDriver(topology, {"application.id": "raf-test"})


def _pipe(driver: TopologyTestDriver, rides: Sequence[TaxiRide], fares: Sequence[TaxiFare]) -> None:
    for topic, key, value, ts in input_records(
        EXERCISES["rides-and-fares"], Topics(), rides, fares, with_marks=False
    ):
        driver.pipe_raw(topic, key, value, ts)


def _entries(driver: TopologyTestDriver, *stores: str) -> int:
    return sum(len(list(driver.get_key_value_store(s).all())) for s in stores)


@pytest.mark.parametrize("ride_first", [True, False], ids=["ride-state", "fare-state"])
def test_enrichment_state_created_and_cleared(ride_first: bool) -> None:
    ride_only: tuple[list[TaxiRide], list[TaxiFare]] = ([raf_ride(1)], [])
    fare_only: tuple[list[TaxiRide], list[TaxiFare]] = ([], [raf_fare(1)])
    first, second = (ride_only, fare_only) if ride_first else (fare_only, ride_only)
    with _enrichment_driver() as driver:
        _pipe(driver, *first)
        assert _entries(driver, SAVED_RIDE, FARE_STORE) > 0
        _pipe(driver, *second)  # the matching event: state cleared, the pair emitted
        assert _entries(driver, SAVED_RIDE, FARE_STORE) == 0
        out = driver.create_output_topic("taxi-output", Serdes.Bytes(), Serdes.Bytes())
        records = out.read_records_to_list()
        assert [EXERCISES["rides-and-fares"].render(r.key, r.value) for r in records] == [
            str(RideAndFare(raf_ride(1), raf_fare(1)))
        ]
        assert records[0].timestamp == raf_ride(1).event_time


@BOTH
def test_several_rides_and_fares_mixed_together(run: Runner) -> None:
    rides = [raf_ride(1), raf_ride(4), raf_ride(3), raf_ride(2)]
    fares = [raf_fare(2), raf_fare(4), raf_fare(1), raf_fare(3)]
    out = run(EXERCISES["rides-and-fares"], rides=rides, fares=fares)
    assert sorted(out) == sorted(str(RideAndFare(raf_ride(i), raf_fare(i))) for i in range(1, 5))


# -- Hourly Tips ---------------------------------------------------------------------------------


def t(minutes: int) -> int:
    return BEGINNING_MS + minutes * MINUTE


def tips_fare(driver_id: int, start: int, tip: float) -> TaxiFare:
    """`HourlyTipsTest.testFare`."""
    return TaxiFare(0, 0, driver_id, start, "", tip, 0.0, 0.0)


@BOTH
def test_one_driver_one_tip(run: Runner) -> None:
    out = run(EXERCISES["hourly-tips"], fares=[tips_fare(1, t(0), 1.0)])
    assert out == [f"({t(60)},1,1.0)"]


@BOTH
def test_tips_are_summed_by_hour(run: Runner) -> None:
    fares = [tips_fare(1, t(0), 1.0), tips_fare(1, t(15), 5.0), tips_fare(1, t(90), 10.0)]
    assert run(EXERCISES["hourly-tips"], fares=fares) == [f"({t(60)},1,6.0)", f"({t(120)},1,10.0)"]


@BOTH
def test_max_across_drivers(run: Runner) -> None:
    fares = [
        tips_fare(1, t(0), 1.0),
        tips_fare(1, t(15), 5.0),
        tips_fare(1, t(90), 10.0),
        tips_fare(2, t(90), 20.0),
        tips_fare(3, t(70), 0.0),
        tips_fare(4, t(70), 0.0),
        tips_fare(4, t(80), 1.0),
        tips_fare(5, t(100), 10.0),
    ]
    # HourlyTipsTest feeds these through a parallel source; time order is what a topic holds
    fares.sort(key=lambda f: f.start_time)
    assert run(EXERCISES["hourly-tips"], fares=fares) == [f"({t(60)},1,6.0)", f"({t(120)},2,20.0)"]


@BOTH
def test_tie_goes_to_the_lowest_driver_id(run: Runner) -> None:
    fares = [tips_fare(7, t(0), 5.0), tips_fare(3, t(10), 5.0), tips_fare(9, t(20), 4.0)]
    assert run(EXERCISES["hourly-tips"], fares=fares) == [f"({t(60)},3,5.0)"]


# -- Long Ride Alerts ----------------------------------------------------------------------------


def start_ride(ride_id: int, start: int) -> TaxiRide:
    """`LongRidesTestBase.startRide`."""
    return TaxiRide(ride_id, True, start, *PENN, *PENN, 1, 0, 0)


def end_ride(started: TaxiRide, end: int) -> TaxiRide:
    return TaxiRide(started.ride_id, False, end, *PENN, *PENN, 1, 0, 0)


B = BEGINNING_MS


class AlertHarness:
    """`KeyedOneInputStreamOperatorTestHarness` for the alert processor: records in, output and
    state out; time moves only with the records piped (no end-of-input marks)."""

    def __init__(self) -> None:
        topology = EXERCISES["long-ride-alerts"].topology(Topics())
        self.driver = TopologyTestDriver(topology, {"application.id": "alerts-test"})
        self.output = self.driver.create_output_topic("taxi-output", Serdes.Long(), Serdes.Long())

    def process(self, *rides: TaxiRide) -> None:
        for topic, key, value, ts in input_records(
            EXERCISES["long-ride-alerts"], Topics(), rides, [], with_marks=False
        ):
            self.driver.pipe_raw(topic, key, value, ts)

    def results(self) -> list[tuple[int, int]]:
        return [(r.value, r.timestamp) for r in self.output.read_records_to_list()]

    def state_entries(self) -> int:
        return _entries(self.driver, RIDE_STORE)

    def timers(self) -> int:
        return _entries(self.driver, TIMER_STORE)

    def close(self) -> None:
        self.driver.close()


@pytest.fixture
def harness() -> Iterator[AlertHarness]:
    h = AlertHarness()
    yield h
    h.close()


def test_should_use_timers_and_state(harness: AlertHarness) -> None:
    started = start_ride(1, B)
    harness.process(started)
    assert harness.timers() > 0 and harness.state_entries() > 0
    harness.process(end_ride(started, B + MINUTE))
    assert harness.timers() == 0 and harness.state_entries() == 0


def test_should_not_alert_with_start_first(harness: AlertHarness) -> None:
    started = start_ride(1, B)
    harness.process(started, end_ride(started, B + MINUTE))
    assert harness.results() == []


def test_should_not_alert_with_end_first(harness: AlertHarness) -> None:
    started = start_ride(1, B)
    harness.process(end_ride(started, B + MINUTE), started)
    assert harness.results() == []


def test_should_alert_with_start_first(harness: AlertHarness) -> None:
    started = start_ride(1, B)
    harness.process(started, end_ride(started, B + 3 * HOUR))
    assert [ride_id for ride_id, _ in harness.results()] == [1]


def test_should_alert_with_end_first(harness: AlertHarness) -> None:
    started = start_ride(1, B)
    harness.process(end_ride(started, B + 3 * HOUR), started)
    assert [ride_id for ride_id, _ in harness.results()] == [1]


def test_should_not_alert_before_the_watermark_reaches_the_timer(harness: AlertHarness) -> None:
    # LongRidesUnitTest.shouldNotAlertWithoutWatermarkOrEndEvent: Flink's harness has no watermark
    # until the test sends one. Here the watermark is stream time - 60 s - 1 ms, so another ride
    # starting at +2 h +60 s leaves it 1 ms short of the timer at +2 h; one more ms fires it.
    harness.process(start_ride(1, B), start_ride(2, B + 2 * HOUR + MINUTE))
    assert harness.results() == []
    harness.process(start_ride(3, B + 2 * HOUR + MINUTE + 1))
    assert harness.results() == [(1, B + 2 * HOUR)]


def test_should_alert_on_watermark(harness: AlertHarness) -> None:
    harness.process(start_ride(1, B))
    assert harness.state_entries() > 0 and harness.results() == []
    harness.process(start_ride(9, B + 2 * HOUR + MINUTE + 1))  # watermark = B + 2 h
    assert harness.results() == [(1, B + 2 * HOUR)]  # emitted at the timer's time
    assert harness.state_entries() == 1  # ride 1's state cleared; ride 9's START is held


@BOTH
def test_short_ride(run: Runner) -> None:
    started = start_ride(1, B)
    assert run(EXERCISES["long-ride-alerts"], rides=[started, end_ride(started, B + MINUTE)]) == []


@BOTH
def test_short_ride_out_of_order(run: Runner) -> None:
    started = start_ride(1, B)
    assert run(EXERCISES["long-ride-alerts"], rides=[end_ride(started, B + MINUTE), started]) == []


@BOTH
def test_multiple_rides(run: Runner) -> None:
    long_without_end = start_ride(1, B)
    two_hour = start_ride(2, B)
    other_long = start_ride(3, B + MINUTE)
    short = start_ride(4, B + HOUR)
    rides = [
        long_without_end,
        two_hour,
        other_long,
        short,
        end_ride(short, B + 2 * HOUR),
        end_ride(two_hour, B),
        end_ride(other_long, B + 3 * HOUR),
    ]
    assert sorted(run(EXERCISES["long-ride-alerts"], rides=rides)) == ["1", "3"]


@BOTH
def test_long_ride_whose_end_is_the_last_event(run: Runner) -> None:
    # only the end of input can close this ride's window or fire its timer
    started = start_ride(1, B)
    assert run(EXERCISES["long-ride-alerts"], rides=[started, end_ride(started, B + 3 * HOUR)]) == [
        "1"
    ]


@BOTH
def test_exactly_two_hours_is_not_long(run: Runner) -> None:
    started = start_ride(5, B)
    rides = [started, end_ride(started, B + 2 * HOUR)]
    assert run(EXERCISES["long-ride-alerts"], rides=rides) == []


# -- generated data: both versions equal the plain computation ------------------------------------


@pytest.fixture(scope="module")
def three_hours() -> tuple[list[TaxiRide], list[TaxiFare]]:
    return bounded_input(539)  # --hours 3


@BOTH
@pytest.mark.parametrize("name", list(EXERCISES))
def test_generated_three_hours_equal_the_reference(
    run: Runner, name: str, three_hours: tuple[list[TaxiRide], list[TaxiFare]]
) -> None:
    rides, fares = three_hours
    expected = {
        "ride-cleansing": reference.ride_cleansing(rides),
        "rides-and-fares": reference.rides_and_fares(rides, fares),
        "hourly-tips": reference.hourly_tips(fares),
        "long-ride-alerts": reference.long_ride_alerts(rides),
    }[name]
    out = run(EXERCISES[name], rides=rides, fares=fares)
    if EXERCISES[name].ordered:
        assert out == expected
    else:
        assert len(out) == len(expected) and set(out) == expected


@BOTH
def test_long_rides_over_a_day_equal_the_reference(run: Runner) -> None:
    rides, _ = bounded_input(4319)  # --hours 24: a dozen long rides
    expected = reference.long_ride_alerts(rides)
    assert len(expected) == 12
    assert sorted(run(EXERCISES["long-ride-alerts"], rides=rides)) == sorted(expected)


def test_hourly_tips_print_flink_trainings_discussion_values() -> None:
    _, fares = bounded_input(1079)  # --hours 6 (runFor(Duration.ofHours(6)))
    assert local.run_streams(EXERCISES["hourly-tips"], fares=fares) == [
        "(1577883600000,2013000089,76.0)",
        "(1577887200000,2013000197,71.0)",
        "(1577890800000,2013000118,83.0)",
        "(1577894400000,2013000119,81.0)",
        "(1577898000000,2013000195,73.0)",
        "(1577901600000,2013000072,123.0)",
    ]


def test_ride_cleansing_prints_the_java_csv() -> None:
    rides, _ = bounded_input(5)
    out = local.run_streams(EXERCISES["ride-cleansing"], rides=rides)
    assert out == [str(r) for r in rides if nyc_filter(r)]
    assert all(line.count(",") == 9 for line in out)


# -- records on the wire ---------------------------------------------------------------------------


def test_json_round_trip_keeps_the_java_floats_exactly() -> None:
    rides, fares = bounded_input(20)
    for ride in rides:
        assert TaxiRideSerde().deserialize("t", TaxiRideSerde().serialize("t", ride)) == ride
        upper = {k.upper(): v for k, v in ride_to_json(ride).items()}  # as ksqlDB writes columns
        assert ride_from_json(upper) == ride
    for fare in fares:
        assert TaxiFareSerde().deserialize("t", TaxiFareSerde().serialize("t", fare)) == fare
        upper = {k.upper(): v for k, v in fare_to_json(fare).items()}
        assert fare_from_json(upper) == fare


def test_end_marks_follow_every_event_by_two_hours_then_one_more() -> None:
    assert mark_times(B) == (B + 3 * HOUR, B + 4 * HOUR)
    assert mark_times(B + 1) == (B + 3 * HOUR, B + 4 * HOUR)
    rides, fares = bounded_input(10)
    last = max(r.event_time for r in rides)
    marks = ride_marks(rides)
    assert all(is_mark(m) and not nyc_filter(m) for m in marks)
    assert marks[0].event_time >= last + 2 * HOUR + 60_001  # past every long-ride timer
    assert [m.start_time for m in fare_marks(fares)] == list(
        mark_times(max(f.start_time for f in fares))
    )


@pytest.mark.parametrize("name", list(EXERCISES))
def test_cli_sql_prints_statements_the_sql_shell_parses(name: str) -> None:
    from typer.testing import CliRunner

    from riverlog.cli.labs_taxi import app
    from riverlog.sql.script import split_and_parse

    result = CliRunner().invoke(app, ["sql", name, "--output-topic", "out"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "SET 'auto.offset.reset' = 'earliest';"
    assert lines[1:] == EXERCISES[name].sql(Topics(output="out"))
    assert len(split_and_parse(result.output, {})) == len(lines)
