"""Joins through the TopologyTestDriver. The three semantics tables of the Kafka Streams developer
guide (stream-stream, table-table, stream-table; one key, records processed in timestamp order) are
transcribed below as test data and must match row for row; then out-of-order input, grace expiry,
tombstones and materialized results."""

from __future__ import annotations

from datetime import timedelta

import pytest

from riverlog.streams import (
    Consumed,
    Joined,
    JoinWindows,
    KeyValue,
    Materialized,
    Produced,
    Serdes,
    StreamJoined,
    StreamsBuilder,
)
from riverlog.streams.testing import TopologyTestDriver

S = Serdes.String()
N = None
# (timestamp, left value, right value) — "" = no record on that side; None = a null value
INPUT = [
    (1, N, ""), (2, "", N), (3, "A", ""), (4, "", "a"), (5, "B", ""), (6, "", "b"),
    (7, N, ""), (8, "", N), (9, "C", ""), (10, "", "c"), (11, "", N), (12, N, ""),
    (13, "", N), (14, "", "d"), (15, "D", ""),
]  # fmt: skip

# -- the developer guide's KStream-KStream table (all within one window, then 40 .. 100) ------
STREAM_STREAM_EXTRA = [(40, "E", ""), (60, "F", ""), (80, "", "f"), (100, "G", "")]
_ALL_15 = {
    4: [("A", "a")],
    5: [("B", "a")],
    6: [("A", "b"), ("B", "b")],
    9: [("C", "a"), ("C", "b")],
    10: [("A", "c"), ("B", "c"), ("C", "c")],
    14: [("A", "d"), ("B", "d"), ("C", "d")],
    15: [("D", "a"), ("D", "b"), ("D", "c"), ("D", "d")],
}
STREAM_STREAM = {
    "join": dict(_ALL_15),
    "left_join": {**_ALL_15, 60: [("E", N)], 80: [("F", N)]},
    "outer_join": {**_ALL_15, 60: [("E", N)], 80: [("F", N)], 100: [(N, "f")]},
}
TABLE_TABLE = {
    "join": {4: ("A", "a"), 5: ("B", "a"), 6: ("B", "b"), 7: N, 10: ("C", "c"), 11: N,
             15: ("D", "d")},
    "left_join": {3: ("A", N), 4: ("A", "a"), 5: ("B", "a"), 6: ("B", "b"), 7: N, 9: ("C", N),
                  10: ("C", "c"), 11: ("C", N), 12: N, 15: ("D", "d")},
    "outer_join": {3: ("A", N), 4: ("A", "a"), 5: ("B", "a"), 6: ("B", "b"), 7: (N, "b"), 8: N,
                   9: ("C", N), 10: ("C", "c"), 11: ("C", N), 12: N, 14: (N, "d"),
                   15: ("D", "d")},
}  # fmt: skip
STREAM_TABLE = {
    "join": {5: ("B", "a"), 15: ("D", "d")},
    "left_join": {3: ("A", N), 5: ("B", "a"), 9: ("C", N), 15: ("D", "d")},
}


def _pair(left, right):
    return (left, right)


def _run(topology, rows):
    """Pipe the rows; the outputs grouped by the timestamp of the input record that caused them."""
    with TopologyTestDriver(topology) as driver:
        left = driver.create_input_topic("left", S, S)
        right = driver.create_input_topic("right", S, S)
        out = driver.create_output_topic("out", S, _PairSerde())
        got: dict[int, list] = {}
        for ts, lv, rv in rows:
            if lv != "":
                left.pipe_input("k", lv, ts)
            if rv != "":
                right.pipe_input("k", rv, ts)
            recs = out.read_records_to_list()
            if recs:
                got[ts] = [r.value for r in recs]
        return got


class _PairSerde(Serdes.String().__class__):  # type: ignore[misc]
    """(left, right) pairs as "left|right" ("~" = null); a null value stays null."""

    def serialize(self, topic, data):
        if data is None:
            return None
        return "|".join("~" if x is None else x for x in data).encode()

    def deserialize(self, topic, data):
        if data is None:
            return None
        return tuple(None if x == "~" else x for x in data.decode().split("|"))


@pytest.mark.parametrize("op", ["join", "left_join", "outer_join"])
def test_stream_stream_join_matches_the_developer_guide_table(op: str) -> None:
    b = StreamsBuilder()
    left = b.stream("left", Consumed.with_(S, S))
    right = b.stream("right", Consumed.with_(S, S))
    windows = JoinWindows.of_time_difference_with_no_grace(timedelta(milliseconds=15))
    getattr(left, op)(right, _pair, windows, StreamJoined.with_(S, S, S)).to(
        "out", Produced.with_(S, _PairSerde())
    )
    got = _run(b.build(), INPUT + STREAM_STREAM_EXTRA)
    assert got == STREAM_STREAM[op]


@pytest.mark.parametrize("op", ["join", "left_join", "outer_join"])
def test_table_table_join_matches_the_developer_guide_table(op: str) -> None:
    b = StreamsBuilder()
    left = b.table("left", Consumed.with_(S, S))
    right = b.table("right", Consumed.with_(S, S))
    getattr(left, op)(right, _pair).to_stream().to("out", Produced.with_(S, _PairSerde()))
    got = _run(b.build(), INPUT)
    assert got == {ts: [v] for ts, v in TABLE_TABLE[op].items()}


@pytest.mark.parametrize("op", ["join", "left_join"])
def test_stream_table_join_matches_the_developer_guide_table(op: str) -> None:
    b = StreamsBuilder()
    left = b.stream("left", Consumed.with_(S, S))
    right = b.table("right", Consumed.with_(S, S))
    getattr(left, op)(right, _pair, Joined.with_(S, S, S)).to(
        "out", Produced.with_(S, _PairSerde())
    )
    got = _run(b.build(), INPUT)
    assert got == {ts: [v] for ts, v in STREAM_TABLE[op].items()}


def test_stream_stream_out_of_order_grace_and_asymmetric_windows() -> None:
    # a left record at t joins right records in [t - 10, t + 20]; grace 5
    b = StreamsBuilder()
    left = b.stream("left", Consumed.with_(S, S))
    right = b.stream("right", Consumed.with_(S, S))
    w = JoinWindows.of_time_difference_and_grace(10, 5).after(20)
    left.left_join(right, lambda k, lv, rv: (lv, rv), w).to("out", Produced.with_(S, _PairSerde()))
    with TopologyTestDriver(b.build()) as driver:
        li = driver.create_input_topic("left", S, S)
        ri = driver.create_input_topic("right", S, S)
        out = driver.create_output_topic("out", S, _PairSerde())
        li.pipe_input("k", "L100", 100)
        ri.pipe_input("k", "r115", 115)  # within after: joins, output time = max
        ri.pipe_input("k", "r95", 95)  # out of order, within before: joins
        ri.pipe_input("k", "r85", 85)  # 85 < 100 - 10: no join
        ri.pipe_input("k", "r130", 130)  # 130 > 100 + 20: no join
        assert [(r.value, r.timestamp) for r in out.read_records_to_list()] == [
            (("L100", "r115"), 115),
            (("L100", "r95"), 100),
        ]
        # out of order with no partner in [40, 70], and its window (closing at 50 + 20 + 5 = 75)
        # already closed at stream time 130: emitted at once (Kafka does not hold it)
        li.pipe_input("k", "L50", 50)
        assert [(r.value, r.timestamp) for r in out.read_records_to_list()] == [(("L50", None), 50)]
        li.pipe_input("k", "L200", 200)  # no partner yet: held until its window closes
        ri.pipe_input("x", "other-key", 225)  # 225 = 200 + 20 + 5: still open
        assert out.read_records_to_list() == []
        ri.pipe_input("x", "other-key", 226)  # closed: the left result comes out now
        assert [(r.key, r.value, r.timestamp) for r in out.read_records_to_list()] == [
            ("k", ("L200", None), 200)
        ]


def test_stream_stream_late_record_beyond_retention_does_not_join() -> None:
    b = StreamsBuilder()
    left = b.stream("left", Consumed.with_(S, S))
    right = b.stream("right", Consumed.with_(S, S))
    w = JoinWindows.of_time_difference_and_grace(10, 0)
    left.join(right, lambda lv, rv: (lv, rv), w).to("out", Produced.with_(S, _PairSerde()))
    with TopologyTestDriver(b.build()) as driver:
        li = driver.create_input_topic("left", S, S)
        ri = driver.create_input_topic("right", S, S)
        out = driver.create_output_topic("out", S, _PairSerde())
        li.pipe_input("k", "L0", 0)
        li.pipe_input("z", "z", 200_000)  # the left store's time moves on: L0's segment expires
        ri.pipe_input("k", "r5", 5)
        assert out.read_records_to_list() == []


def test_table_table_join_materialized_and_queryable() -> None:
    b = StreamsBuilder()
    left = b.table("left", Consumed.with_(S, S))
    right = b.table("right", Consumed.with_(S, S))
    left.join(
        right,
        lambda lv, rv: f"{lv}+{rv}",
        materialized=Materialized.as_("joined").with_value_serde(S),
    ).to_stream().to("out", Produced.with_(S, S))
    with TopologyTestDriver(b.build()) as driver:
        li = driver.create_input_topic("left", S, S)
        ri = driver.create_input_topic("right", S, S)
        out = driver.create_output_topic("out", S, S)
        li.pipe_input("k1", "a", 1)
        ri.pipe_input("k1", "x", 2)
        ri.pipe_input("k2", "y", 3)
        li.pipe_input("k2", "b", 4)
        li.pipe_input("k1", None, 5)
        assert [(r.key, r.value, r.timestamp) for r in out.read_records_to_list()] == [
            ("k1", "a+x", 2),
            ("k2", "b+y", 4),
            ("k1", None, 5),
        ]
        store = driver.get_key_value_store("joined")
        assert store.get("k2") == "b+y"
        assert store.get("k1") is None


def test_stream_table_join_after_key_change_repartitions() -> None:
    b = StreamsBuilder()
    orders = b.stream("left", Consumed.with_(S, S))
    customers = b.table("right", Consumed.with_(S, S))
    orders.select_key(lambda k, v: v.split(":")[0]).join(customers, lambda o, c: f"{o} by {c}").to(
        "out"
    )
    topo = b.build()
    assert any(t.endswith("-repartition") for t in topo.internal_topics())
    with TopologyTestDriver(topo, {"default.key.serde": S, "default.value.serde": S}) as driver:
        ri = driver.create_input_topic("right", S, S)
        li = driver.create_input_topic("left", S, S)
        out = driver.create_output_topic("out", S, S)
        ri.pipe_input("c1", "Carol", 1)
        li.pipe_input("o1", "c1:book", 2)
        li.pipe_input("o2", "c9:pen", 3)  # no customer: inner join drops it
        assert [(r.key, r.value) for r in out.read_records_to_list()] == [
            ("c1", "c1:book by Carol")
        ]


def test_stream_global_table_join_with_key_selector() -> None:
    b = StreamsBuilder()
    products = b.global_table("products", Consumed.with_(S, S), Materialized.as_("products"))
    orders = b.stream("left", Consumed.with_(S, S))
    # the order's value names the product: no co-partitioning, no repartition
    orders.join(products, lambda k, v: v.split(":")[0], lambda o, p: f"{o} = {p}").to(
        "out", Produced.with_(S, S)
    )
    orders.left_join(products, lambda k, v: v.split(":")[0], lambda o, p: f"{o} ? {p}").to(
        "out2", Produced.with_(S, S)
    )
    topo = b.build()
    assert "products" not in {t for s in topo.subtopologies().values() for t in s.source_topics}
    with TopologyTestDriver(topo) as driver:
        g = driver.create_input_topic("products", S, S)
        li = driver.create_input_topic("left", S, S)
        out = driver.create_output_topic("out", S, S)
        out2 = driver.create_output_topic("out2", S, S)
        g.pipe_input("p1", "apple", 1)
        g.pipe_input("p2", "pear", 1)
        li.pipe_input("o1", "p1:3", 5)
        li.pipe_input("o2", "p9:1", 6)  # unknown product
        g.pipe_input("p1", None, 7)  # deleted
        li.pipe_input("o3", "p1:1", 8)
        assert out.read_key_values_to_list() == [KeyValue("o1", "p1:3 = apple")]
        assert out2.read_key_values_to_list() == [
            KeyValue("o1", "p1:3 ? apple"),
            KeyValue("o2", "p9:1 ? None"),
            KeyValue("o3", "p1:1 ? None"),
        ]
        assert driver.get_key_value_store("products").get("p2") == "pear"
