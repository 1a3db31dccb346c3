"""Word count (Kafka Streams' first example) through the TopologyTestDriver, and its topology text."""

from __future__ import annotations

from riverlog.streams import (
    Consumed,
    Grouped,
    KeyValue,
    Materialized,
    Produced,
    Serdes,
    StreamsBuilder,
)
from riverlog.streams.testing import TopologyTestDriver

WORDCOUNT_DESCRIPTION = """\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [streams-plaintext-input])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-KEY-SELECT-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> counts-store-repartition-filter
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Processor: counts-store-repartition-filter (stores: [])
      --> counts-store-repartition-sink
      <-- KSTREAM-KEY-SELECT-0000000002
    Sink: counts-store-repartition-sink (topic: counts-store-repartition)
      <-- counts-store-repartition-filter

  Sub-topology: 1
    Source: counts-store-repartition-source (topics: [counts-store-repartition])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [counts-store])
      --> KTABLE-TOSTREAM-0000000007
      <-- counts-store-repartition-source
    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-AGGREGATE-0000000003
    Sink: KSTREAM-SINK-0000000008 (topic: streams-wordcount-output)
      <-- KTABLE-TOSTREAM-0000000007

"""


def wordcount(
    input_topic: str = "streams-plaintext-input", output: str = "streams-wordcount-output"
):
    builder = StreamsBuilder()
    lines = builder.stream(input_topic, Consumed.with_(Serdes.String(), Serdes.String()))
    counts = (
        lines.flat_map_values(lambda line: line.lower().split())
        .group_by(lambda key, word: word, Grouped.with_(Serdes.String(), Serdes.String()))
        .count(Materialized.as_("counts-store"))
    )
    counts.to_stream().to(output, Produced.with_(Serdes.String(), Serdes.Long()))
    return builder.build()


def test_wordcount_description_is_kafka_streams_text() -> None:
    # The text Kafka Streams prints for its WordCountDemo (docs, "Tutorial: write a Streams app").
    assert str(wordcount().describe()) == WORDCOUNT_DESCRIPTION


def test_wordcount_internal_topics_and_subtopologies() -> None:
    topo = wordcount()
    subs = topo.subtopologies()
    assert subs[0].source_topics == frozenset({"streams-plaintext-input"})
    assert subs[1].source_topics == frozenset({"counts-store-repartition"})
    assert topo.is_internal("counts-store-repartition")
    internal = topo.internal_topics()
    assert internal["counts-store-repartition"].kind == "repartition"
    assert internal["counts-store-repartition"].subtopology == 1
    assert internal["counts-store-repartition"].configs["cleanup.policy"] == "delete"
    assert internal["counts-store-changelog"].kind == "changelog"
    assert internal["counts-store-changelog"].configs["cleanup.policy"] == "compact"


def test_wordcount_emits_every_update_and_fills_the_store() -> None:
    with TopologyTestDriver(wordcount(), {"application.id": "wordcount"}) as driver:
        inp = driver.create_input_topic("streams-plaintext-input", Serdes.String(), Serdes.String())
        out = driver.create_output_topic("streams-wordcount-output", Serdes.String(), Serdes.Long())
        inp.pipe_input(None, "all streams lead to kafka", 1000)
        inp.pipe_input(None, "hello kafka streams", 2000)
        inp.pipe_input(None, "join kafka summit", 3000)
        records = out.read_records_to_list()
        assert [(r.key, r.value) for r in records] == [
            ("all", 1),
            ("streams", 1),
            ("lead", 1),
            ("to", 1),
            ("kafka", 1),
            ("hello", 1),
            ("kafka", 2),
            ("streams", 2),
            ("join", 1),
            ("kafka", 3),
            ("summit", 1),
        ]
        assert [r.timestamp for r in records][:5] == [1000] * 5
        store = driver.get_key_value_store("counts-store")
        assert store.get("kafka") == 3
        assert store.get("missing") is None
        assert list(store.range("j", "lead")) == [
            KeyValue("join", 1),
            KeyValue("kafka", 3),
            KeyValue("lead", 1),
        ]
        assert store.approximate_num_entries() == 8
        timestamped = driver.get_timestamped_key_value_store("counts-store")
        assert (timestamped.get("kafka").value, timestamped.get("kafka").timestamp) == (3, 3000)
        # the changelog and the repartition topic were written with the application id prefix
        assert {"wordcount-counts-store-changelog", "wordcount-counts-store-repartition"} <= (
            driver.produced_topic_names()
        )


def test_wordcount_with_a_cache_emits_once_per_commit() -> None:
    config = {"application.id": "wc", "statestore.cache.max.bytes": 10 * 1024 * 1024}
    with TopologyTestDriver(wordcount(), config) as driver:
        inp = driver.create_input_topic("streams-plaintext-input", Serdes.String(), Serdes.String())
        out = driver.create_output_topic("streams-wordcount-output", Serdes.String(), Serdes.Long())
        # the driver commits after each input record: one line's repeated words collapse
        inp.pipe_input(None, "a a a b", 10)
        assert out.read_key_values_to_map() == {"a": 3, "b": 1}


def test_wordcount_on_rocksdb_with_a_state_dir(tmp_path) -> None:
    config = {"application.id": "wc", "state.dir": str(tmp_path)}
    with TopologyTestDriver(wordcount(), config) as driver:
        inp = driver.create_input_topic("streams-plaintext-input", Serdes.String(), Serdes.String())
        inp.pipe_value_list(["a b", "b c", "c c"])
        store = driver.get_key_value_store("counts-store")
        assert store.persistent()
        assert [(kv.key, kv.value) for kv in store.all()] == [("a", 1), ("b", 2), ("c", 3)]
        assert [(kv.key, kv.value) for kv in store.reverse_range("b", "c")] == [("c", 3), ("b", 2)]
    assert (tmp_path / "wc" / "1_0" / "rocksdb" / "counts-store").is_dir()
    assert (
        (tmp_path / "wc" / "1_0" / ".checkpoint")
        .read_text()
        .startswith("0\n1\nwc-counts-store-changelog 0 ")
    )


def test_store_iterators_have_kafkas_methods() -> None:
    with TopologyTestDriver(wordcount()) as driver:
        driver.create_input_topic(
            "streams-plaintext-input", Serdes.String(), Serdes.String()
        ).pipe_input(None, "b a c", 1)
        store = driver.get_key_value_store("counts-store")
        with store.all() as it:
            assert it.has_next()
            assert it.peek_next_key() == "a"
            assert it.next() == KeyValue("a", 1)
            assert [kv.key for kv in it] == ["b", "c"]
            assert not it.has_next()
