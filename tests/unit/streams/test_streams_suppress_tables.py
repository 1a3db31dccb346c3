"""KTables and suppress through the TopologyTestDriver."""

from __future__ import annotations

from datetime import timedelta

import pytest

from riverlog.streams import (
    Consumed,
    Grouped,
    KeyValue,
    Materialized,
    Produced,
    Serdes,
    StreamsBuilder,
    StreamsException,
    Suppressed,
    TimeWindows,
)
from riverlog.streams.serdes import TimeWindowedSerde
from riverlog.streams.testing import TopologyTestDriver

S = Serdes.String()
L = Serdes.Long()


def _final_counts(grace_ms: int = 5):
    builder = StreamsBuilder()
    (
        builder.stream("views", Consumed.with_(S, S))
        .group_by_key()
        .windowed_by(
            TimeWindows.of_size_and_grace(
                timedelta(milliseconds=10), timedelta(milliseconds=grace_ms)
            )
        )
        .count(Materialized.as_("view-counts"))
        .suppress(Suppressed.until_window_closes(Suppressed.BufferConfig.unbounded()))
        .to_stream()
        .to("final", Produced.with_(TimeWindowedSerde(S, 10), L))
    )
    return builder.build()


def test_until_window_closes_emits_one_final_result_per_window_after_grace() -> None:
    with TopologyTestDriver(_final_counts()) as driver:
        inp = driver.create_input_topic("views", S, S)
        out = driver.create_output_topic("final", TimeWindowedSerde(S, 10), L)
        inp.pipe_input("page", "v", 1)
        inp.pipe_input("page", "v", 3)
        inp.pipe_input("other", "v", 9)
        inp.pipe_input("page", "v", 12)  # window [10,20) opens; [0,10) still inside grace
        inp.pipe_input("page", "v", 8)  # late but within grace: updates [0,10)
        assert out.is_empty()
        inp.pipe_input("page", "v", 15)  # stream time 15 = end 10 + grace 5: [0,10) closes
        records = out.read_records_to_list()
        assert [(r.key.key, r.key.window.start, r.value, r.timestamp) for r in records] == [
            ("other", 0, 1, 9),
            ("page", 0, 3, 8),
        ]
        inp.pipe_input("page", "v", 7)  # after the window closed: dropped, no new final result
        inp.pipe_input("x", "v", 30)  # closes [10,20)
        assert [(r.key.key, r.key.window.start, r.value) for r in out.read_records_to_list()] == [
            ("page", 10, 2)
        ]
        assert driver.metrics()["dropped-records-total"] == 1


def test_until_time_limit_emits_latest_value_per_key_after_the_limit() -> None:
    builder = StreamsBuilder()
    (
        builder.table("prices", Consumed.with_(S, L))
        .suppress(
            Suppressed.until_time_limit(
                timedelta(milliseconds=100), Suppressed.BufferConfig.unbounded()
            )
        )
        .to_stream()
        .to("rate-limited", Produced.with_(S, L))
    )
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("prices", S, L)
        out = driver.create_output_topic("rate-limited", S, L)
        inp.pipe_input("a", 1, 0)
        inp.pipe_input("a", 2, 50)
        inp.pipe_input("b", 7, 60)
        assert out.is_empty()
        # an update keeps the key's place in the buffer (Kafka's non-resetting semantics): "a" was
        # buffered at 0, so it is due at stream time 100 with its latest value; "b" (60) is not yet
        inp.pipe_input("c", 1, 150)
        assert out.read_key_values_to_list() == [KeyValue("a", 2)]
        inp.pipe_input("c", 2, 400)  # "b" (due 160) and "c" (buffered at 150) in buffer-time order
        assert out.read_key_values_to_list() == [KeyValue("b", 7), KeyValue("c", 2)]


def test_bounded_buffer_emits_early_or_fails_when_full() -> None:
    def topo(buffer):
        builder = StreamsBuilder()
        builder.table("t", Consumed.with_(S, L)).suppress(
            Suppressed.until_time_limit(timedelta(hours=1), buffer)
        ).to_stream().to("o", Produced.with_(S, L))
        return builder.build()

    with TopologyTestDriver(
        topo(Suppressed.BufferConfig.max_records_(1).emit_early_when_full())
    ) as driver:
        inp = driver.create_input_topic("t", S, L)
        out = driver.create_output_topic("o", S, L)
        inp.pipe_input("a", 1, 0)
        inp.pipe_input("b", 2, 1)  # two buffered > 1: the oldest is emitted early
        assert out.read_key_values_to_list() == [KeyValue("a", 1)]
    with TopologyTestDriver(
        topo(Suppressed.BufferConfig.max_records_(1).shut_down_when_full_())
    ) as driver:
        inp = driver.create_input_topic("t", S, L)
        inp.pipe_input("a", 1, 0)
        with pytest.raises(StreamsException, match="buffer exceeded its max capacity"):
            inp.pipe_input("b", 2, 1)


def test_table_source_filter_map_values_to_stream() -> None:
    builder = StreamsBuilder()
    table = builder.table("users", Consumed.with_(S, L), Materialized.as_("users-store"))
    table.filter(lambda k, v: v >= 18).map_values(lambda v: v * 2).to_stream().to(
        "adults", Produced.with_(S, L)
    )
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("users", S, L)
        out = driver.create_output_topic("adults", S, L)
        inp.pipe_input("ann", 30, 1)
        inp.pipe_input("bob", 12, 2)  # filtered out: a KTable filter forwards a tombstone
        inp.pipe_input("ann", None, 3)  # tombstone deletes
        assert out.read_key_values_to_list() == [
            KeyValue("ann", 60),
            KeyValue("bob", None),
            KeyValue("ann", None),
        ]
        store = driver.get_key_value_store("users-store")
        assert store.get("bob") == 12
        assert store.get("ann") is None


def test_table_group_by_count_and_aggregate_subtract_old_values() -> None:
    builder = StreamsBuilder()
    users = builder.table("user-region", Consumed.with_(S, S))
    users.group_by(lambda user, region: KeyValue(region, user), Grouped.with_(S, S)).count(
        Materialized.as_("region-counts")
    ).to_stream().to("region-counts-out", Produced.with_(S, L))
    users.group_by(lambda user, region: (region, len(user)), Grouped.with_(S, L)).reduce(
        lambda a, b: a + b, lambda a, b: a - b, Materialized.as_("name-lengths")
    )
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("user-region", S, S)
        out = driver.create_output_topic("region-counts-out", S, L)
        inp.pipe_input("alice", "asia", 1)
        inp.pipe_input("bob", "europe", 2)
        inp.pipe_input("alice", "europe", 3)  # moves: asia -1, europe +1
        inp.pipe_input("bob", None, 4)  # deleted: europe -1
        assert out.read_key_values_to_list() == [
            KeyValue("asia", 1),
            KeyValue("europe", 1),
            KeyValue("asia", 0),
            KeyValue("europe", 2),
            KeyValue("europe", 1),
        ]
        counts = driver.get_key_value_store("region-counts")
        assert dict((kv.key, kv.value) for kv in counts.all()) == {"asia": 0, "europe": 1}
        assert driver.get_key_value_store("name-lengths").get("europe") == 5


def test_table_group_by_aggregate_with_initializer() -> None:
    builder = StreamsBuilder()
    builder.table("t", Consumed.with_(S, L)).group_by(
        lambda k, v: ("all", v), Grouped.with_(S, L)
    ).aggregate(
        lambda: 0,
        lambda k, v, agg: agg + v,
        lambda k, v, agg: agg - v,
        Materialized.as_("sum").with_value_serde(L),
    )
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("t", S, L)
        inp.pipe_input("a", 5, 1)
        inp.pipe_input("b", 3, 2)
        inp.pipe_input("a", 1, 3)  # same new key as old: one record carrying both values
        assert driver.get_key_value_store("sum").get("all") == 4


def test_stream_to_table() -> None:
    builder = StreamsBuilder()
    builder.stream("s", Consumed.with_(S, L)).to_table(Materialized.as_("latest")).to_stream().to(
        "o", Produced.with_(S, L)
    )
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("s", S, L)
        out = driver.create_output_topic("o", S, L)
        inp.pipe_key_value_list(
            [KeyValue("a", 1), KeyValue("a", 2)], start=10, advance=timedelta(milliseconds=5)
        )
        assert [(r.key, r.value, r.timestamp) for r in out.read_records_to_list()] == [
            ("a", 1, 10),
            ("a", 2, 15),
        ]
        assert driver.get_key_value_store("latest").get("a") == 2


def test_suppression_buffer_changelog_is_kafka_format_and_restores() -> None:
    from riverlog.streams.records import InputRecord, TaskId, TopicPartition
    from riverlog.streams.task import StreamTask

    def topo():
        builder = StreamsBuilder()
        (
            builder.stream("views", Consumed.with_(S, S))
            .group_by_key()
            .windowed_by(TimeWindows.of_size_with_no_grace(timedelta(milliseconds=10)))
            .count(Materialized.as_("c").with_caching_disabled())
            .suppress(
                Suppressed.until_window_closes(Suppressed.BufferConfig.unbounded()).with_name(
                    "final"
                )
            )
            .to_stream()
            .to("final-out", Produced.with_(TimeWindowedSerde(S, 10), L))
        )
        return builder.build()

    tp = TopicPartition("views", 0)
    task = StreamTask(TaskId(0, 0), topo(), {tp}, {}, "app", None)
    task.add_records(tp, [InputRecord("views", 0, 0, 4, b"k", b"v", [("h", b"1")])])
    task.process(0)
    task.prepare_commit()
    buffered = [o for o in task.drain_outputs() if o.topic == "app-final-store-changelog"]
    assert len(buffered) == 1
    rec = buffered[0]
    assert rec.key == b"k" + bytes.fromhex("0000000000000000")  # the windowed key, window start 0
    assert rec.headers == [("v", b"\x03")]
    expected_value = (
        bytes.fromhex("0000000000000004")  # record context: timestamp
        + bytes.fromhex("0000000000000000")  # offset
        + bytes.fromhex("00000005")
        + b"views"  # topic
        + bytes.fromhex("00000000")  # partition
        + bytes.fromhex("00000001")
        + bytes.fromhex("00000001")
        + b"h"
        + bytes.fromhex("00000001")
        + b"1"
        + bytes.fromhex("ffffffff")  # prior value: null
        + bytes.fromhex("ffffffff")  # old value: null
        + bytes.fromhex("00000008")
        + bytes.fromhex("0000000000000001")  # new value: count 1
        + bytes.fromhex("000000000000000a")  # buffer time: window end 10
    )
    assert rec.value == expected_value
    assert topo().internal_topics()["final-store-changelog"].configs["cleanup.policy"] == "compact"

    # a new owner restores the buffer and emits the final result once the window closes
    again = StreamTask(TaskId(0, 0), topo(), {tp}, {}, "app", None)
    ctp = TopicPartition("app-final-store-changelog", 0)
    assert ctp in again.changelog_offsets_to_restore()
    again.restore(
        ctp, [InputRecord(ctp.topic, 0, 0, rec.timestamp, rec.key, rec.value, rec.headers)]
    )
    again.complete_restoration()
    again.add_records(tp, [InputRecord("views", 0, 1, 25, b"k", b"v", [])])
    again.process(0)
    finals = [o for o in again.drain_outputs() if o.topic == "final-out"]
    assert [(o.key, o.value, o.timestamp, o.headers) for o in finals] == [
        (b"k" + bytes(8), bytes.fromhex("0000000000000001"), 4, [("h", b"1")])
    ]
    again.prepare_commit()
    tombstones = [
        o
        for o in again.drain_outputs()
        if o.topic == "app-final-store-changelog" and o.value is None
    ]
    assert [o.key for o in tombstones] == [b"k" + bytes(8)]


def test_old_values_flow_through_filter_and_map_values_into_group_by() -> None:
    builder = StreamsBuilder()
    (
        builder.table("scores", Consumed.with_(S, L))
        .filter(lambda k, v: v > 0)
        .map_values(lambda v: v * 10)
        .group_by(lambda k, v: ("total", v), Grouped.with_(S, L))
        .reduce(lambda a, b: a + b, lambda a, b: a - b, Materialized.as_("total"))
        .to_stream()
        .to("totals", Produced.with_(S, L))
    )
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("scores", S, L)
        out = driver.create_output_topic("totals", S, L)
        inp.pipe_input("a", 1, 1)
        inp.pipe_input("b", 2, 2)
        inp.pipe_input("a", 3, 3)  # same group key: one record subtracts 10 and adds 30
        inp.pipe_input("b", -1, 4)  # filtered out now: subtract 20
        inp.pipe_input("c", -5, 5)  # never passed the filter: nothing to subtract or add
        assert out.read_values_to_list() == [10, 30, 50, 30]
        assert driver.get_key_value_store("total").get("total") == 30
