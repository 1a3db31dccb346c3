"""Windowed aggregations through the TopologyTestDriver: tumbling, hopping, sliding and session
windows, grace periods, late records (dropped and counted) and output timestamps."""

from __future__ import annotations

from datetime import timedelta

from riverlog.streams import (
    Consumed,
    Grouped,
    Materialized,
    Serdes,
    SessionWindows,
    SlidingWindows,
    StreamsBuilder,
    TimeWindows,
    Window,
    Windowed,
)
from riverlog.streams.serdes import SessionWindowedSerde, TimeWindowedSerde
from riverlog.streams.testing import TopologyTestDriver

S = Serdes.String()


def _windowed_count(windows, store="counts"):
    builder = StreamsBuilder()
    (
        builder.stream("clicks", Consumed.with_(S, S))
        .group_by_key(Grouped.with_(S, S))
        .windowed_by(windows)
        .count(Materialized.as_(store))
        .to_stream()
        .to("out")
    )
    return builder.build()


def _out(driver, size=None, session=False):
    key_serde = SessionWindowedSerde(S) if session else TimeWindowedSerde(S, size)
    return driver.create_output_topic("out", key_serde, Serdes.Long())


def test_tumbling_count_with_out_of_order_and_late_records() -> None:
    # 10 s windows, 5 s grace: an out-of-order record inside the grace period updates its window;
    # one after the window closed (stream time - grace >= window end) is dropped and counted.
    topo = _windowed_count(
        TimeWindows.of_size_and_grace(timedelta(seconds=10), timedelta(seconds=5))
    )
    with TopologyTestDriver(topo) as driver:
        inp = driver.create_input_topic("clicks", S, S)
        out = _out(driver, 10_000)
        inp.pipe_input("alice", "c", 1_000)
        inp.pipe_input("alice", "c", 11_000)  # window [10 s, 20 s)
        inp.pipe_input("alice", "c", 9_000)  # out of order, [0, 10 s) still open (close at 15 s)
        inp.pipe_input("bob", "c", 16_000)  # stream time 16 s: [0, 10 s) is now closed
        inp.pipe_input("alice", "c", 8_000)  # late: dropped
        records = out.read_records_to_list()
        got = [
            (r.key.key, r.key.window.start, r.key.window.end, r.value, r.timestamp) for r in records
        ]
        assert got == [
            ("alice", 0, 10_000, 1, 1_000),
            ("alice", 10_000, 20_000, 1, 11_000),
            ("alice", 0, 10_000, 2, 9_000),  # output timestamp = max record timestamp in the window
            ("bob", 10_000, 20_000, 1, 16_000),
        ]
        assert driver.metrics()["dropped-records-total"] == 1
        store = driver.get_window_store("counts")
        assert store.fetch("alice", 0) == 2
        assert [(kv.key, kv.value) for kv in store.fetch("alice", 0, 20_000)] == [
            (0, 2),
            (10_000, 1),
        ]
        assert [(kv.key, kv.value) for kv in store.fetch_all(0, 20_000)] == [
            (Windowed("alice", Window(0, 10_000)), 2),
            (Windowed("alice", Window(10_000, 20_000)), 1),
            (Windowed("bob", Window(10_000, 20_000)), 1),
        ]


def test_grace_zero_drops_as_soon_as_the_window_ends() -> None:
    topo = _windowed_count(TimeWindows.of_size_with_no_grace(timedelta(milliseconds=100)))
    with TopologyTestDriver(topo) as driver:
        inp = driver.create_input_topic("clicks", S, S)
        out = _out(driver, 100)
        inp.pipe_input("k", "v", 50)
        inp.pipe_input("k", "v", 100)  # stream time 100 closes [0, 100)
        inp.pipe_input("k", "v", 99)
        assert [(r.key.window.start, r.value) for r in out.read_records_to_list()] == [
            (0, 1),
            (100, 1),
        ]
        assert driver.metrics()["dropped-records-total"] == 1


def test_hopping_windows_update_every_window_containing_the_record() -> None:
    windows = TimeWindows.of_size_with_no_grace(timedelta(milliseconds=10)).advance_by(
        timedelta(milliseconds=5)
    )
    assert list(windows.windows_for(12)) == [5, 10]
    assert list(windows.windows_for(3)) == [0]
    with TopologyTestDriver(_windowed_count(windows)) as driver:
        inp = driver.create_input_topic("clicks", S, S)
        out = _out(driver, 10)
        inp.pipe_input("k", "v", 3)
        inp.pipe_input("k", "v", 7)
        got = [(r.key.window.start, r.key.window.end, r.value) for r in out.read_records_to_list()]
        assert got == [(0, 10, 1), (0, 10, 2), (5, 15, 1)]


def test_sliding_windows_follow_kafka_streams_algorithm() -> None:
    # The input and expected windows of Kafka Streams' sliding-window aggregation test
    # (time difference 10 ms, grace 5 ms, string concatenation aggregate).
    builder = StreamsBuilder()
    (
        builder.stream("topic", Consumed.with_(S, S))
        .group_by_key(Grouped.with_(S, S))
        .windowed_by(
            SlidingWindows.of_time_difference_and_grace(
                timedelta(milliseconds=10), timedelta(milliseconds=5)
            )
        )
        .aggregate(lambda: "0", lambda k, v, agg: f"{agg}+{v}", Materialized.with_(S, S))
        .to_stream()
        .to(
            "out",
        )
    )
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("topic", S, S)
        out = driver.create_output_topic("out", TimeWindowedSerde(S, 10), S)
        for value, ts in [
            ("1", 10),
            ("2", 10),
            ("3", 14),
            ("4", 15),
            ("5", 20),
            ("6", 22),
            ("7", 30),
        ]:
            inp.pipe_input("A", value, ts)
        actual: dict[int, set[tuple[str, int]]] = {}
        for r in out.read_records_to_list():
            actual.setdefault(r.key.window.start, set()).add((r.value, r.timestamp))
        assert actual == {
            0: {("0+1", 10), ("0+1+2", 10)},
            4: {("0+1+2+3", 14)},
            5: {("0+1+2+3+4", 15)},
            10: {("0+1+2+3+4+5", 20)},
            11: {("0+3", 14), ("0+3+4", 15), ("0+3+4+5", 20)},
            12: {("0+3+4+5+6", 22)},
            15: {("0+4", 15), ("0+4+5", 20), ("0+4+5+6", 22)},
            16: {("0+5", 20), ("0+5+6", 22)},
            20: {("0+5+6+7", 30)},
            21: {("0+6", 22), ("0+6+7", 30)},
            23: {("0+7", 30)},
        }


def test_sliding_window_late_record_is_dropped() -> None:
    topo = _windowed_count(
        SlidingWindows.of_time_difference_with_no_grace(timedelta(milliseconds=10))
    )
    with TopologyTestDriver(topo) as driver:
        inp = driver.create_input_topic("clicks", S, S)
        inp.pipe_input("k", "v", 100)
        inp.pipe_input("k", "v", 50)  # window [50, 60] ended before stream time 100
        assert driver.metrics()["dropped-records-total"] == 1


def test_session_windows_merge_and_emit_tombstones_for_merged_sessions() -> None:
    gap_and_grace = SessionWindows.of_inactivity_gap_and_grace(
        timedelta(milliseconds=10), timedelta(milliseconds=20)
    )
    with TopologyTestDriver(_windowed_count(gap_and_grace)) as driver:
        inp = driver.create_input_topic("clicks", S, S)
        out = _out(driver, session=True)
        inp.pipe_input("k", "v", 0)
        inp.pipe_input("k", "v", 30)  # more than the gap away: a second session
        inp.pipe_input("k", "v", 22)  # within the gap of [30,30]: merged into [22,30]
        got = [
            (r.key.window.start, r.key.window.end, r.value, r.timestamp)
            for r in out.read_records_to_list()
        ]
        assert got == [
            (0, 0, 1, 0),
            (30, 30, 1, 30),
            (30, 30, None, 30),  # the merged session is removed (a tombstone)
            (22, 30, 2, 30),  # output timestamp = session end
        ]
        inp.pipe_input("k", "v", 12)  # extends [22,30] to [12,30]
        inp.pipe_input("k", "v", 23)  # inside [12,30]: same window, updated in place
        # [0,0] is past the store's retention (gap + grace = 30 ms at stream time 30): a record at 5
        # does not bridge it, as in Kafka Streams; it extends [12,30] to [5,30]
        inp.pipe_input("k", "v", 5)
        got = [(r.key.window.start, r.key.window.end, r.value) for r in out.read_records_to_list()]
        assert got == [
            (22, 30, None),
            (12, 30, 3),
            (12, 30, None),
            (12, 30, 4),
            (12, 30, None),
            (5, 30, 5),
        ]
        store = driver.get_session_store("counts")
        assert [(kv.key.window.start, kv.key.window.end, kv.value) for kv in store.fetch("k")] == [
            (5, 30, 5)
        ]
        assert store.fetch_session("k", 5, 30) == 5
        assert list(store.find_sessions("k", 31, 100)) == []


def test_session_late_record_is_dropped_after_gap_and_grace() -> None:
    topo = _windowed_count(
        SessionWindows.of_inactivity_gap_and_grace(
            timedelta(milliseconds=10), timedelta(milliseconds=5)
        )
    )
    with TopologyTestDriver(topo) as driver:
        inp = driver.create_input_topic("clicks", S, S)
        out = _out(driver, session=True)
        inp.pipe_input("a", "v", 100)
        inp.pipe_input("b", "v", 84)  # 84 >= 100 - 5 - 10 = 85? no: dropped
        inp.pipe_input("c", "v", 85)  # kept
        assert [r.key.key for r in out.read_records_to_list()] == ["a", "c"]
        assert driver.metrics()["dropped-records-total"] == 1


def test_windowed_reduce_and_aggregate() -> None:
    builder = StreamsBuilder()
    grouped = builder.stream("nums", Consumed.with_(S, Serdes.Long())).group_by_key()
    windows = TimeWindows.of_size_with_no_grace(timedelta(milliseconds=10))
    grouped.windowed_by(windows).reduce(
        lambda a, b: a + b, Materialized.as_("sums")
    ).to_stream().to("sums-out")
    grouped.windowed_by(windows).aggregate(
        lambda: 0,
        lambda k, v, agg: max(agg, v),
        Materialized.as_("maxes").with_value_serde(Serdes.Long()),
    )
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("nums", S, Serdes.Long())
        out = driver.create_output_topic("sums-out", TimeWindowedSerde(S, 10), Serdes.Long())
        for v, ts in [(5, 1), (7, 2), (1, 12)]:
            inp.pipe_input("x", v, ts)
        assert [(r.key.window.start, r.value) for r in out.read_records_to_list()] == [
            (0, 5),
            (0, 12),
            (10, 1),
        ]
        maxes = driver.get_window_store("maxes")
        assert maxes.fetch("x", 10) == 1
        assert (
            maxes.fetch("x", 0) is None
        )  # expired: retention = size + grace = 10 ms, stream time 12
