"""The Processor API: `KStream.process` with stores from `Stores.*_store_builder`, a hand-built
`Topology`, and stream-time / wall-clock punctuators with Kafka's firing rules, in the
TopologyTestDriver and on the sans-I/O task."""

from __future__ import annotations

from datetime import timedelta

import pytest

from riverlog.streams import (
    Consumed,
    Processor,
    Produced,
    PunctuationType,
    Record,
    Serdes,
    Stores,
    StreamsBuilder,
    Topology,
)
from riverlog.streams.errors import TopologyException
from riverlog.streams.testing import TopologyTestDriver

S, L = Serdes.String(), Serdes.Long()


class CountAndReport(Processor):
    """Counts per key in a store; a punctuator forwards all counts and records when it fired."""

    def __init__(self, ptype: PunctuationType, interval_ms: int, fired: list[int]) -> None:
        self.ptype, self.interval_ms, self.fired = ptype, interval_ms, fired

    def init(self, context) -> None:
        super().init(context)
        self.store = context.get_state_store("counts")
        self.cancellable = context.schedule(
            timedelta(milliseconds=self.interval_ms), self.ptype, self.punctuate
        )

    def punctuate(self, ts: int) -> None:
        self.fired.append(ts)
        for kv in self.store.all():
            self.context.forward(Record(kv.key, kv.value, ts))

    def process(self, record: Record) -> None:
        self.store.put(record.key, (self.store.get(record.key) or 0) + 1)
        if record.value == "cancel":
            self.cancellable.cancel()


def _topology(ptype: PunctuationType, interval: int, fired: list[int]):
    b = StreamsBuilder()
    b.add_state_store(
        Stores.key_value_store_builder(Stores.in_memory_key_value_store("counts"), S, L)
    )
    b.stream("in", Consumed.with_(S, S)).process(
        lambda: CountAndReport(ptype, interval, fired), "counts"
    ).to("out", Produced.with_(S, L))
    return b.build()


def test_stream_time_punctuator_fires_once_per_interval_even_when_time_jumps() -> None:
    fired: list[int] = []
    with TopologyTestDriver(_topology(PunctuationType.STREAM_TIME, 10, fired)) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, L)
        inp.pipe_input("a", "x", 3)  # first stream time: fires at once (aligned to 0)
        assert fired == [3]
        assert out.read_key_values_to_list()[0].value == 1
        inp.pipe_input("a", "x", 9)  # next due at 10
        inp.pipe_input("b", "x", 10)
        assert fired == [3, 10]
        inp.pipe_input("a", "x", 47)  # jumps past 20, 30, 40: fires once; next at 50
        assert fired == [3, 10, 47]
        inp.pipe_input("a", "x", 49)
        inp.pipe_input("a", "x", 5)  # out of order: stream time stays 49
        assert fired == [3, 10, 47]
        inp.pipe_input("a", "x", 50)
        assert fired == [3, 10, 47, 50]
        assert out.read_key_values_to_map() == {"a": 6, "b": 1}
        driver.advance_wall_clock_time(timedelta(hours=1))  # wall clock does not matter
        assert fired == [3, 10, 47, 50]


def test_wall_clock_punctuator_fires_on_advance_wall_clock_time_and_cancels() -> None:
    fired: list[int] = []
    topo = _topology(PunctuationType.WALL_CLOCK_TIME, 1000, fired)
    with TopologyTestDriver(topo, initial_wall_clock_time_ms=5_000) as driver:
        inp = driver.create_input_topic("in", S, S)
        out = driver.create_output_topic("out", S, L)
        inp.pipe_input("a", "x", 999_999)  # stream time does not matter
        assert fired == []
        driver.advance_wall_clock_time(999)
        assert fired == []
        driver.advance_wall_clock_time(1)  # 6000 = scheduled at 5000 + 1000
        assert fired == [6_000]
        assert [(r.key, r.value, r.timestamp) for r in out.read_records_to_list()] == [
            ("a", 1, 6_000)
        ]
        driver.advance_wall_clock_time(3_500)  # 9500: missed 7000, 8000, 9000 -> fires once
        assert fired == [6_000, 9_500]
        driver.advance_wall_clock_time(500)  # next aligned time: 10000
        assert fired == [6_000, 9_500, 10_000]
        inp.pipe_input("a", "cancel", 1)
        driver.advance_wall_clock_time(10_000)
        assert fired == [6_000, 9_500, 10_000]


def test_store_builder_store_is_logged_and_uncached_by_default() -> None:
    fired: list[int] = []
    topo = _topology(PunctuationType.STREAM_TIME, 1000, fired)
    assert "counts-changelog" in topo.internal_topics()
    with TopologyTestDriver(topo) as driver:
        inp = driver.create_input_topic("in", S, S)
        inp.pipe_input("a", "x", 1)
        inp.pipe_input("a", "x", 2)
        changelog = driver.create_output_topic("topology-test-driver-counts-changelog", S, L)
        assert [kv.value for kv in changelog.read_key_values_to_list()] == [1, 2]
        assert driver.get_key_value_store("counts").get("a") == 2


class Upper(Processor):
    def process(self, record: Record) -> None:
        self.context.forward(record.with_value(record.value.upper()))


def test_hand_built_topology_with_kafka_style_calls() -> None:
    t = Topology()
    t.add_source("Source", "in", key_serde=S, value_serde=S)
    t.add_processor("Upper", Upper, "Source")
    t.add_state_store(
        Stores.key_value_store_builder(Stores.persistent_key_value_store("seen"), S, S)
    )
    t.connect_processor_and_state_stores("Upper", "seen")
    t.add_sink("Sink", "out", "Upper", key_serde=S, value_serde=S)
    assert "Processor: Upper (stores: [seen])" in str(t.describe())
    with TopologyTestDriver(t) as driver:
        driver.create_input_topic("in", S, S).pipe_input("k", "hello", 1)
        assert driver.create_output_topic("out", S, S).read_value() == "HELLO"
    with pytest.raises(TopologyException, match="not added yet"):
        t.connect_processor_and_state_stores("Upper", "missing")
    with pytest.raises(TopologyException, match="at least one parent"):
        t.add_processor("Orphan", Upper)
