"""`topology.describe()` prints what Kafka Streams prints for the same DSL program (expected texts are
the ones Kafka Streams' own topology tests assert), including generated names and store names."""

from __future__ import annotations

from datetime import timedelta

from riverlog.streams import (
    Consumed,
    Grouped,
    Materialized,
    Produced,
    Serdes,
    SessionWindows,
    SlidingWindows,
    StreamsBuilder,
    Suppressed,
    TimeWindows,
)

S = Serdes.String()


def _single(processor: str, store: str) -> str:
    return (
        "Topologies:\n"
        "   Sub-topology: 0\n"
        "    Source: KSTREAM-SOURCE-0000000000 (topics: [input-topic])\n"
        f"      --> {processor}\n"
        f"    Processor: {processor} (stores: [{store}])\n"
        "      --> none\n"
        "      <-- KSTREAM-SOURCE-0000000000\n\n"
    )


def test_group_by_key_counts() -> None:
    b = StreamsBuilder()
    b.stream("input-topic").group_by_key().count()
    assert str(b.build().describe()) == _single(
        "KSTREAM-AGGREGATE-0000000002", "KSTREAM-AGGREGATE-STATE-STORE-0000000001"
    )
    b = StreamsBuilder()
    b.stream("input-topic").group_by_key().count(
        Materialized.as_("count-store").with_store_type(Materialized.IN_MEMORY)
    )
    assert str(b.build().describe()) == _single("KSTREAM-AGGREGATE-0000000001", "count-store")
    b = StreamsBuilder()  # an anonymous Materialized burns one more index, as in Kafka Streams
    b.stream("input-topic").group_by_key().count(Materialized.with_(None, Serdes.Long()))
    assert str(b.build().describe()) == _single(
        "KSTREAM-AGGREGATE-0000000003", "KSTREAM-AGGREGATE-STATE-STORE-0000000002"
    )


def test_windowed_counts() -> None:
    for windows in (
        TimeWindows.of_size_with_no_grace(timedelta(milliseconds=1)),
        SlidingWindows.of_time_difference_with_no_grace(timedelta(milliseconds=1)),
        SessionWindows.of_inactivity_gap_with_no_grace(timedelta(milliseconds=1)),
    ):
        b = StreamsBuilder()
        b.stream("input-topic").group_by_key().windowed_by(windows).count()
        assert str(b.build().describe()) == _single(
            "KSTREAM-AGGREGATE-0000000002", "KSTREAM-AGGREGATE-STATE-STORE-0000000001"
        )


def test_table_group_by_count() -> None:
    b = StreamsBuilder()
    b.table("input-topic").group_by(lambda k, v: (v, k)).count()
    assert str(b.build().describe()) == (
        "Topologies:\n"
        "   Sub-topology: 0\n"
        "    Source: KSTREAM-SOURCE-0000000001 (topics: [input-topic])\n"
        "      --> KTABLE-SOURCE-0000000002\n"
        "    Processor: KTABLE-SOURCE-0000000002 (stores: [input-topic-STATE-STORE-0000000000])\n"
        "      --> KTABLE-SELECT-0000000003\n"
        "      <-- KSTREAM-SOURCE-0000000001\n"
        "    Processor: KTABLE-SELECT-0000000003 (stores: [])\n"
        "      --> KSTREAM-SINK-0000000005\n"
        "      <-- KTABLE-SOURCE-0000000002\n"
        "    Sink: KSTREAM-SINK-0000000005 (topic: KTABLE-AGGREGATE-STATE-STORE-0000000004-repartition)\n"
        "      <-- KTABLE-SELECT-0000000003\n"
        "\n"
        "  Sub-topology: 1\n"
        "    Source: KSTREAM-SOURCE-0000000006 (topics: [KTABLE-AGGREGATE-STATE-STORE-0000000004-repartition])\n"
        "      --> KTABLE-AGGREGATE-0000000007\n"
        "    Processor: KTABLE-AGGREGATE-0000000007 (stores: [KTABLE-AGGREGATE-STATE-STORE-0000000004])\n"
        "      --> none\n"
        "      <-- KSTREAM-SOURCE-0000000006\n"
        "\n"
    )


def test_table_filter_and_map_values_materialization() -> None:
    def table_text(op: str, stores: str) -> str:
        return (
            "Topologies:\n"
            "   Sub-topology: 0\n"
            "    Source: KSTREAM-SOURCE-0000000001 (topics: [input-topic])\n"
            "      --> KTABLE-SOURCE-0000000002\n"
            "    Processor: KTABLE-SOURCE-0000000002 (stores: [])\n"
            f"      --> {op}\n"
            "      <-- KSTREAM-SOURCE-0000000001\n"
            f"    Processor: {op} (stores: [{stores}])\n"
            "      --> none\n"
            "      <-- KTABLE-SOURCE-0000000002\n\n"
        )

    b = StreamsBuilder()
    b.table("input-topic").filter(lambda k, v: False)
    assert str(b.build().describe()) == table_text("KTABLE-FILTER-0000000003", "")
    b = StreamsBuilder()
    b.table("input-topic").filter(lambda k, v: False, Materialized.with_(None, None))
    assert str(b.build().describe()) == table_text("KTABLE-FILTER-0000000004", "")
    b = StreamsBuilder()
    b.table("input-topic").filter(lambda k, v: False, Materialized.as_("store-name"))
    assert str(b.build().describe()) == table_text("KTABLE-FILTER-0000000003", "store-name")
    b = StreamsBuilder()
    b.table("input-topic").map_values(lambda v: v)
    assert str(b.build().describe()) == table_text("KTABLE-MAPVALUES-0000000003", "")
    b = StreamsBuilder()
    b.table("input-topic").map_values(lambda v: v, Materialized.as_("store-name"))
    assert str(b.build().describe()) == table_text("KTABLE-MAPVALUES-0000000003", "store-name")


def test_stream_to_table_is_not_materialized_unless_named() -> None:
    b = StreamsBuilder()
    b.stream("input", Consumed.with_(S, S)).to_table().to_stream().to("output")
    assert str(b.build().describe()) == (
        "Topologies:\n"
        "   Sub-topology: 0\n"
        "    Source: KSTREAM-SOURCE-0000000000 (topics: [input])\n"
        "      --> KSTREAM-TOTABLE-0000000001\n"
        "    Processor: KSTREAM-TOTABLE-0000000001 (stores: [])\n"
        "      --> KTABLE-TOSTREAM-0000000003\n"
        "      <-- KSTREAM-SOURCE-0000000000\n"
        "    Processor: KTABLE-TOSTREAM-0000000003 (stores: [])\n"
        "      --> KSTREAM-SINK-0000000004\n"
        "      <-- KSTREAM-TOTABLE-0000000001\n"
        "    Sink: KSTREAM-SINK-0000000004 (topic: output)\n"
        "      <-- KTABLE-TOSTREAM-0000000003\n\n"
    )


def _session_final(name: str | None) -> str:
    b = StreamsBuilder()
    suppressed = Suppressed.until_window_closes(Suppressed.BufferConfig.unbounded())
    if name:
        suppressed = suppressed.with_name(name)
    (
        b.stream("input", Consumed.with_(S, S))
        .group_by(lambda k, v: k, Grouped.with_(S, S))
        .windowed_by(
            SessionWindows.of_inactivity_gap_and_grace(
                timedelta(milliseconds=5), timedelta(milliseconds=5)
            )
        )
        .count(Materialized.as_("counts").with_caching_disabled())
        .suppress(suppressed)
        .to_stream()
        .map(lambda k, v: (str(k), v))
        .to("output-suppressed", Produced.with_(S, Serdes.Long()))
    )
    return str(b.build().describe())


def test_suppress_node_names() -> None:
    head = (
        "Topologies:\n"
        "   Sub-topology: 0\n"
        "    Source: KSTREAM-SOURCE-0000000000 (topics: [input])\n"
        "      --> KSTREAM-KEY-SELECT-0000000001\n"
        "    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])\n"
        "      --> counts-repartition-filter\n"
        "      <-- KSTREAM-SOURCE-0000000000\n"
        "    Processor: counts-repartition-filter (stores: [])\n"
        "      --> counts-repartition-sink\n"
        "      <-- KSTREAM-KEY-SELECT-0000000001\n"
        "    Sink: counts-repartition-sink (topic: counts-repartition)\n"
        "      <-- counts-repartition-filter\n"
        "\n"
        "  Sub-topology: 1\n"
        "    Source: counts-repartition-source (topics: [counts-repartition])\n"
        "      --> KSTREAM-AGGREGATE-0000000002\n"
        "    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [counts])\n"
    )
    assert _session_final(None) == head + (
        "      --> KTABLE-SUPPRESS-0000000006\n"
        "      <-- counts-repartition-source\n"
        "    Processor: KTABLE-SUPPRESS-0000000006 (stores: [KTABLE-SUPPRESS-STATE-STORE-0000000007])\n"
        "      --> KTABLE-TOSTREAM-0000000008\n"
        "      <-- KSTREAM-AGGREGATE-0000000002\n"
        "    Processor: KTABLE-TOSTREAM-0000000008 (stores: [])\n"
        "      --> KSTREAM-MAP-0000000009\n"
        "      <-- KTABLE-SUPPRESS-0000000006\n"
        "    Processor: KSTREAM-MAP-0000000009 (stores: [])\n"
        "      --> KSTREAM-SINK-0000000010\n"
        "      <-- KTABLE-TOSTREAM-0000000008\n"
        "    Sink: KSTREAM-SINK-0000000010 (topic: output-suppressed)\n"
        "      <-- KSTREAM-MAP-0000000009\n"
        "\n"
    )
    assert _session_final("myname") == head + (
        "      --> myname\n"
        "      <-- counts-repartition-source\n"
        "    Processor: myname (stores: [myname-store])\n"
        "      --> KTABLE-TOSTREAM-0000000006\n"
        "      <-- KSTREAM-AGGREGATE-0000000002\n"
        "    Processor: KTABLE-TOSTREAM-0000000006 (stores: [])\n"
        "      --> KSTREAM-MAP-0000000007\n"
        "      <-- myname\n"
        "    Processor: KSTREAM-MAP-0000000007 (stores: [])\n"
        "      --> KSTREAM-SINK-0000000008\n"
        "      <-- KTABLE-TOSTREAM-0000000006\n"
        "    Sink: KSTREAM-SINK-0000000008 (topic: output-suppressed)\n"
        "      <-- KSTREAM-MAP-0000000007\n"
        "\n"
    )


def test_intermediate_suppress_numbering() -> None:
    b = StreamsBuilder()
    (
        b.stream("input", Consumed.with_(S, S))
        .group_by_key()
        .count()
        .suppress(
            Suppressed.until_time_limit(timedelta(seconds=1), Suppressed.BufferConfig.unbounded())
        )
        .to_stream()
        .to("output", Produced.with_(S, Serdes.Long()))
    )
    assert str(b.build().describe()) == (
        "Topologies:\n"
        "   Sub-topology: 0\n"
        "    Source: KSTREAM-SOURCE-0000000000 (topics: [input])\n"
        "      --> KSTREAM-AGGREGATE-0000000002\n"
        "    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000001])\n"
        "      --> KTABLE-SUPPRESS-0000000003\n"
        "      <-- KSTREAM-SOURCE-0000000000\n"
        "    Processor: KTABLE-SUPPRESS-0000000003 (stores: [KTABLE-SUPPRESS-STATE-STORE-0000000004])\n"
        "      --> KTABLE-TOSTREAM-0000000005\n"
        "      <-- KSTREAM-AGGREGATE-0000000002\n"
        "    Processor: KTABLE-TOSTREAM-0000000005 (stores: [])\n"
        "      --> KSTREAM-SINK-0000000006\n"
        "      <-- KTABLE-SUPPRESS-0000000003\n"
        "    Sink: KSTREAM-SINK-0000000006 (topic: output)\n"
        "      <-- KTABLE-TOSTREAM-0000000005\n"
        "\n"
    )


def test_branches_and_successor_order() -> None:
    b = StreamsBuilder()
    s = b.stream("in")
    branches = s.split().branch(lambda k, v: True).default_branch()
    for name, stream in branches.items():
        stream.to(f"out-{name[-1]}")
    text = str(b.build().describe())
    # a branch child is named <splitter><index>; the default branch has index 0
    assert "    Processor: KSTREAM-BRANCH-0000000001 (stores: [])\n" in text
    assert "      --> KSTREAM-BRANCH-00000000010, KSTREAM-BRANCH-00000000011\n" in text
    assert "Sink: KSTREAM-SINK-0000000004 (topic: out-1)" in text


def test_windowed_changelog_topic_configs() -> None:
    b = StreamsBuilder()
    grouped = b.stream("in").group_by_key()
    grouped.windowed_by(
        TimeWindows.of_size_and_grace(timedelta(minutes=1), timedelta(seconds=30))
    ).count(Materialized.as_("w"))
    grouped.windowed_by(SessionWindows.of_inactivity_gap_with_no_grace(timedelta(seconds=5))).count(
        Materialized.as_("s").with_retention(timedelta(hours=1))
    )
    topics = b.build().internal_topics()
    assert topics["w-changelog"].configs == {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(
            90_000 + 86_400_000
        ),  # size + grace + windowstore.changelog.additional.retention.ms
        "message.timestamp.type": "CreateTime",
    }
    assert topics["s-changelog"].configs["retention.ms"] == str(3_600_000 + 86_400_000)
    b = StreamsBuilder({"windowstore.changelog.additional.retention.ms": 0})
    b.stream("in").group_by_key().windowed_by(
        TimeWindows.of_size_with_no_grace(timedelta(seconds=10))
    ).count(Materialized.as_("w"))
    assert b.build().internal_topics()["w-changelog"].configs["retention.ms"] == "10000"


def test_named_operators_merge_and_two_repartitions() -> None:
    from riverlog.streams import KeyValue, Named, Stores

    b = StreamsBuilder()
    a = b.stream("inputA", Consumed.with_(S, S).with_name("sourceAStream"))
    c = b.stream("inputB", Consumed.with_(S, S).with_name("sourceBStream"))
    mapped_a = a.map(lambda k, v: KeyValue(v.split(":")[0], v), Named.as_("mappedAStream"))
    mapped_b = c.map(lambda k, v: KeyValue(v.split(":")[0], v), Named.as_("mappedBStream"))
    merged = mapped_a.merge(mapped_b, Named.as_("mergedStream"))
    merged.group_by_key(Grouped.as_("long-groupByKey")).count(
        Materialized.as_(Stores.in_memory_key_value_store("long-store")), Named.as_("long-count")
    ).to_stream(named=Named.as_("long-toStream")).to(
        "outputTopic_0", Produced.with_(S, Serdes.Long()).with_name("long-to")
    )
    merged.group_by_key(Grouped.as_("string-groupByKey")).count(
        Materialized.as_(Stores.in_memory_key_value_store("string-store")),
        Named.as_("string-count"),
    ).to_stream(named=Named.as_("string-toStream")).map_values(
        str, Named.as_("string-mapValues")
    ).to("outputTopic_1", Produced.with_(S, S).with_name("string-to"))
    from riverlog.streams.testing import TopologyTestDriver

    # the map drops the serdes: the repartition topics use the defaults, as in Kafka's own test
    defaults = {"default.key.serde": "String", "default.value.serde": "String"}
    with TopologyTestDriver(b.build(), defaults) as driver:
        driver.create_input_topic("inputA", S, S).pipe_key_value_list([("x", "A:1"), ("y", "B:1")])
        driver.create_input_topic("inputB", S, S).pipe_input("z", "A:2")
        longs = driver.create_output_topic(
            "outputTopic_0", S, Serdes.Long()
        ).read_key_values_to_map()
        strings = driver.create_output_topic("outputTopic_1", S, S).read_key_values_to_map()
        assert longs == {"A": 2, "B": 1}
        assert strings == {"A": "2", "B": "1"}
    assert str(b.build().describe()) == (
        "Topologies:\n"
        "   Sub-topology: 0\n"
        "    Source: sourceAStream (topics: [inputA])\n"
        "      --> mappedAStream\n"
        "    Source: sourceBStream (topics: [inputB])\n"
        "      --> mappedBStream\n"
        "    Processor: mappedAStream (stores: [])\n"
        "      --> mergedStream\n"
        "      <-- sourceAStream\n"
        "    Processor: mappedBStream (stores: [])\n"
        "      --> mergedStream\n"
        "      <-- sourceBStream\n"
        "    Processor: mergedStream (stores: [])\n"
        "      --> long-groupByKey-repartition-filter, string-groupByKey-repartition-filter\n"
        "      <-- mappedAStream, mappedBStream\n"
        "    Processor: long-groupByKey-repartition-filter (stores: [])\n"
        "      --> long-groupByKey-repartition-sink\n"
        "      <-- mergedStream\n"
        "    Processor: string-groupByKey-repartition-filter (stores: [])\n"
        "      --> string-groupByKey-repartition-sink\n"
        "      <-- mergedStream\n"
        "    Sink: long-groupByKey-repartition-sink (topic: long-groupByKey-repartition)\n"
        "      <-- long-groupByKey-repartition-filter\n"
        "    Sink: string-groupByKey-repartition-sink (topic: string-groupByKey-repartition)\n"
        "      <-- string-groupByKey-repartition-filter\n"
        "\n"
        "  Sub-topology: 1\n"
        "    Source: long-groupByKey-repartition-source (topics: [long-groupByKey-repartition])\n"
        "      --> long-count\n"
        "    Processor: long-count (stores: [long-store])\n"
        "      --> long-toStream\n"
        "      <-- long-groupByKey-repartition-source\n"
        "    Processor: long-toStream (stores: [])\n"
        "      --> long-to\n"
        "      <-- long-count\n"
        "    Sink: long-to (topic: outputTopic_0)\n"
        "      <-- long-toStream\n"
        "\n"
        "  Sub-topology: 2\n"
        "    Source: string-groupByKey-repartition-source (topics: [string-groupByKey-repartition])\n"
        "      --> string-count\n"
        "    Processor: string-count (stores: [string-store])\n"
        "      --> string-toStream\n"
        "      <-- string-groupByKey-repartition-source\n"
        "    Processor: string-toStream (stores: [])\n"
        "      --> string-mapValues\n"
        "      <-- string-count\n"
        "    Processor: string-mapValues (stores: [])\n"
        "      --> string-to\n"
        "      <-- string-toStream\n"
        "    Sink: string-to (topic: outputTopic_1)\n"
        "      <-- string-mapValues\n\n"
    )
