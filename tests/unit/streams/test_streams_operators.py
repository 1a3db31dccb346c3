"""Stateless KStream operators through the TopologyTestDriver."""

from __future__ import annotations

import io

import pytest

from riverlog.streams import (
    Branched,
    Consumed,
    KeyValue,
    Printed,
    Produced,
    Repartitioned,
    Serdes,
    StreamsBuilder,
    StreamsException,
)
from riverlog.streams.testing import TestRecord, TopologyTestDriver

S = Serdes.String()
I = Serdes.Integer()  # noqa: E741


def _run(build, inputs, outputs, key_serde=S, value_serde=I):
    builder = StreamsBuilder()
    build(builder.stream("in", Consumed.with_(key_serde, value_serde)))
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", key_serde, value_serde)
        for k, v in inputs:
            inp.pipe_input(k, v, 100)
        return {
            name: [
                (r.key, r.value)
                for r in driver.create_output_topic(name, ks, vs).read_records_to_list()
            ]
            for name, (ks, vs) in outputs.items()
        }


def test_filter_filter_not_map_values() -> None:
    got = _run(
        lambda s: (
            s.filter(lambda k, v: v > 1).to("big", Produced.with_(S, I)),
            s.filter_not(lambda k, v: v > 1)
            .map_values(lambda v: v * 10)
            .to("small", Produced.with_(S, I)),
            s.map_values(lambda k, v: f"{k}:{v}").to("kv", Produced.with_(S, S)),
        ),
        [("a", 1), ("b", 2), ("c", 3)],
        {"big": (S, I), "small": (S, I), "kv": (S, S)},
    )
    assert got == {
        "big": [("b", 2), ("c", 3)],
        "small": [("a", 10)],
        "kv": [("a", "a:1"), ("b", "b:2"), ("c", "c:3")],
    }


def test_map_flat_map_flat_map_values_select_key() -> None:
    got = _run(
        lambda s: (
            s.map(lambda k, v: KeyValue(v, k)).to("swapped", Produced.with_(I, S)),
            s.flat_map(lambda k, v: [(k + str(i), i) for i in range(v)]).to(
                "fm", Produced.with_(S, I)
            ),
            s.flat_map_values(lambda v: [v, -v]).to("fmv", Produced.with_(S, I)),
            s.select_key(lambda k, v: k.upper()).to("sk", Produced.with_(S, I)),
        ),
        [("a", 1), ("b", 2)],
        {"swapped": (I, S), "fm": (S, I), "fmv": (S, I), "sk": (S, I)},
    )
    assert got["swapped"] == [(1, "a"), (2, "b")]
    assert got["fm"] == [("a0", 0), ("b0", 0), ("b1", 1)]
    assert got["fmv"] == [("a", 1), ("a", -1), ("b", 2), ("b", -2)]
    assert got["sk"] == [("A", 1), ("B", 2)]


def test_peek_foreach_and_print() -> None:
    seen: list[tuple[str, int]] = []
    each: list[tuple[str, int]] = []
    buf = io.StringIO()
    printed = Printed.to_sysout().with_label("lbl")
    printed.out = buf
    got = _run(
        lambda s: (
            s.peek(lambda k, v: seen.append((k, v))).to("o", Produced.with_(S, I)),
            s.foreach(lambda k, v: each.append((k, v))),
            s.print(printed),
        ),
        [("a", 1), ("b", 2)],
        {"o": (S, I)},
    )
    assert seen == each == got["o"] == [("a", 1), ("b", 2)]
    assert buf.getvalue() == "[lbl]: a, 1\n[lbl]: b, 2\n"


def test_split_branches_first_match_and_default() -> None:
    branches: dict[str, object] = {}

    def build(s):
        result = (
            s.split()
            .branch(lambda k, v: v < 0, Branched.as_("neg"))
            .branch(lambda k, v: v == 0)
            .default_branch(Branched.as_("rest"))
        )
        branches.update(result)
        result["KSTREAM-BRANCH-0000000001neg"].to("neg", Produced.with_(S, I))
        result["KSTREAM-BRANCH-00000000012"].to("zero", Produced.with_(S, I))
        result["KSTREAM-BRANCH-0000000001rest"].to("pos", Produced.with_(S, I))

    got = _run(
        build,
        [("a", -1), ("b", 0), ("c", 5), ("d", -7)],
        {"neg": (S, I), "zero": (S, I), "pos": (S, I)},
    )
    assert got == {"neg": [("a", -1), ("d", -7)], "zero": [("b", 0)], "pos": [("c", 5)]}


def test_split_with_function_and_consumer_and_prefix() -> None:
    def build(s):
        out = (
            s.split("sp-")
            .branch(
                lambda k, v: v % 2 == 0,
                Branched.with_function(lambda b: b.map_values(lambda v: v // 2), "even"),
            )
            .branch(
                lambda k, v: True,
                Branched.with_consumer(lambda b: b.to("odd", Produced.with_(S, I))),
            )
            .no_default_branch()
        )
        assert set(out) == {"sp-even"}
        out["sp-even"].to("half", Produced.with_(S, I))

    got = _run(build, [("a", 4), ("b", 3)], {"half": (S, I), "odd": (S, I)})
    assert got == {"half": [("a", 2)], "odd": [("b", 3)]}


def test_merge_and_repartition_and_topic_extractor() -> None:
    builder = StreamsBuilder()
    a = builder.stream("a", Consumed.with_(S, I))
    b = builder.stream("b", Consumed.with_(S, I))
    merged = a.merge(b).repartition(
        Repartitioned.with_(S, I).with_name("through").with_number_of_partitions(3)
    )
    merged.to(lambda k, v, ctx: "even" if v % 2 == 0 else "odd", Produced.with_(S, I))
    topo = builder.build()
    assert topo.internal_topics()["through-repartition"].partitions == 3
    with TopologyTestDriver(topo, {"application.id": "app"}) as driver:
        driver.create_input_topic("a", S, I).pipe_input("x", 1, 5)
        driver.create_input_topic("b", S, I).pipe_input("y", 2, 6)
        assert driver.create_output_topic("odd", S, I).read_key_values_to_list() == [
            KeyValue("x", 1)
        ]
        assert driver.create_output_topic("even", S, I).read_key_values_to_list() == [
            KeyValue("y", 2)
        ]
        assert "app-through-repartition" in driver.produced_topic_names()


def test_record_headers_and_timestamps_are_kept_including_zero() -> None:
    builder = StreamsBuilder()
    builder.stream("in", Consumed.with_(S, I)).map_values(lambda v: v + 1).to(
        "out", Produced.with_(S, I)
    )
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, I)
        inp.pipe_record(TestRecord("k", 1, 0, [("h", b"x")]))
        rec = driver.create_output_topic("out", S, I).read_record()
        assert (rec.key, rec.value, rec.timestamp, rec.headers) == ("k", 2, 0, [("h", b"x")])


def test_user_exception_names_the_processor_node() -> None:
    builder = StreamsBuilder()
    builder.stream("in", Consumed.with_(S, I)).map_values(lambda v: 1 // v).to(
        "out", Produced.with_(S, I)
    )
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", S, I)
        with pytest.raises(StreamsException) as err:
            inp.pipe_input("k", 0, 1)
        assert err.value.node_name == "KSTREAM-MAPVALUES-0000000001"
        assert "processor=KSTREAM-MAPVALUES-0000000001" in str(err.value)


def test_deserialization_errors_follow_the_handler() -> None:
    builder = StreamsBuilder()
    builder.stream("in", Consumed.with_(S, Serdes.Long())).to(
        "out", Produced.with_(S, Serdes.Long())
    )
    config = {"default.deserialization.exception.handler": "log-and-continue"}
    with TopologyTestDriver(builder.build(), config) as driver:
        driver.pipe_raw("in", b"k", b"\x01\x02", 1)  # 2 bytes: not a Long
        driver.create_input_topic("in", S, Serdes.Long()).pipe_input("k", 9, 2)
        assert driver.create_output_topic("out", S, Serdes.Long()).read_values_to_list() == [9]
        assert driver.metrics()["dropped-records-total"] == 1
    with (
        TopologyTestDriver(builder.build()) as driver,
        pytest.raises(StreamsException, match="Deserialization"),
    ):
        driver.pipe_raw("in", b"k", b"\x01\x02", 1)


def test_group_by_inserts_a_repartition_topic_only_after_a_key_change() -> None:
    builder = StreamsBuilder()
    s = builder.stream("in", Consumed.with_(S, I))
    s.group_by_key().count()
    s.map_values(lambda v: v).group_by_key().count()
    assert builder.build().repartition_topics == {}
    builder = StreamsBuilder()
    builder.stream("in", Consumed.with_(S, I)).select_key(lambda k, v: v).group_by_key().count()
    assert list(builder.build().repartition_topics) == [
        "KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition"
    ]


def test_timestamp_extractors() -> None:
    def topo(consumed):
        builder = StreamsBuilder()
        builder.stream("in", consumed).to("out", Produced.with_(S, I))
        return builder.build()

    # the default (FailOnInvalidTimestamp) stops on a negative timestamp
    with (
        TopologyTestDriver(topo(Consumed.with_(S, I))) as driver,
        pytest.raises(StreamsException, match="negative"),
    ):
        driver.pipe_raw("in", b"k", b"\x00\x00\x00\x01", -5)
    # LogAndSkipOnInvalidTimestamp drops and counts it
    config = {
        "default.timestamp.extractor": "org.apache.kafka.streams.processor.LogAndSkipOnInvalidTimestamp"
    }
    with TopologyTestDriver(topo(Consumed.with_(S, I)), config) as driver:
        driver.pipe_raw("in", b"k", b"\x00\x00\x00\x01", -5)
        assert driver.metrics()["dropped-records-total"] == 1
    # a per-source extractor sees the deserialized record
    by_value = Consumed.with_(S, I).with_timestamp_extractor(
        lambda rec, partition_time: rec.value * 1000
    )
    with TopologyTestDriver(topo(by_value)) as driver:
        driver.create_input_topic("in", S, I).pipe_input("k", 7, 1)
        assert driver.create_output_topic("out", S, I).read_record().timestamp == 7000
    # the wall clock the task was last driven with
    wall = {"default.timestamp.extractor": "WallclockTimestampExtractor"}
    with TopologyTestDriver(
        topo(Consumed.with_(S, I)), wall, initial_wall_clock_time_ms=5000
    ) as driver:
        driver.advance_wall_clock_time(0)
        driver.create_input_topic("in", S, I).pipe_input("k", 1, 1)
        assert driver.create_output_topic("out", S, I).read_record().timestamp == 5000


def test_driver_waits_for_empty_partitions_until_the_wall_clock_passes_max_task_idle() -> None:
    builder = StreamsBuilder()
    a = builder.stream("a", Consumed.with_(S, I))
    a.merge(builder.stream("b", Consumed.with_(S, I))).to("out", Produced.with_(S, I))
    with TopologyTestDriver(builder.build(), {"max.task.idle.ms": 1000}) as driver:
        out = driver.create_output_topic("out", S, I)
        driver.create_input_topic("a", S, I).pipe_input("a1", 1, 50)
        assert out.is_empty()  # "b" has no data yet: the task waits
        driver.create_input_topic("b", S, I).pipe_input("b1", 2, 10)
        # both had data: the lowest timestamp went first; then "b" is empty again and "a1" waits
        assert out.read_key_values_to_list() == [KeyValue("b1", 2)]
        driver.create_input_topic("a", S, I).pipe_input("a2", 3, 60)
        assert out.is_empty()
        driver.advance_wall_clock_time(1000)  # waited max.task.idle.ms: process what is there
        assert out.read_key_values_to_list() == [KeyValue("a1", 1), KeyValue("a2", 3)]


def test_a_missing_serde_is_refused_naming_the_node() -> None:
    builder = StreamsBuilder()
    builder.stream("in", Consumed.with_(S, I)).map_values(lambda v: v).to("out")
    with pytest.raises(
        StreamsException, match="Please specify a value serde for node KSTREAM-SINK-0000000002"
    ):
        TopologyTestDriver(builder.build())
    # a default serde from the config fills the gap
    with TopologyTestDriver(builder.build(), {"default.value.serde": "Integer"}) as driver:
        driver.create_input_topic("in", S, I).pipe_input("k", 4, 1)
        assert driver.create_output_topic("out", S, I).read_value() == 4
