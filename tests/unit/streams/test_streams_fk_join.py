"""Foreign-key table joins through the TopologyTestDriver: the subscription/response round trip,
right-side updates fanning out, a row whose foreign key changes, deletes on either side, and stale
responses dropped by the hash check."""

from __future__ import annotations

from riverlog.streams import (
    Consumed,
    Materialized,
    Produced,
    Serdes,
    StreamsBuilder,
    TableJoined,
)
from riverlog.streams.testing import TopologyTestDriver

S = Serdes.String()


def _topology(left: bool):
    b = StreamsBuilder()
    orders = b.table("orders", Consumed.with_(S, S))  # value "customer:item"
    customers = b.table("customers", Consumed.with_(S, S))
    join = orders.left_join if left else orders.join
    join(
        customers,
        lambda order: order.split(":")[0],
        lambda order, customer: f"{order.split(':')[1]} for {customer}",
        Materialized.as_("order-view").with_value_serde(S),
    ).to_stream().to("out", Produced.with_(S, S))
    return b.build()


def _drive(left: bool):
    topo = _topology(left)
    driver = TopologyTestDriver(topo)
    orders = driver.create_input_topic("orders", S, S)
    customers = driver.create_input_topic("customers", S, S)
    out = driver.create_output_topic("out", S, S)
    return topo, driver, orders, customers, out


def test_inner_fk_join_round_trip_fan_out_fk_change_and_deletes() -> None:
    topo, driver, orders, customers, out = _drive(False)
    with driver:
        assert any(t.endswith("-topic") for t in topo.internal_topics())
        customers.pipe_input("c1", "Ada", 1)
        orders.pipe_input("o1", "c1:book", 2)
        orders.pipe_input("o2", "c1:pen", 3)
        orders.pipe_input("o3", "c9:ink", 4)  # no such customer: no result in an inner join
        assert [(kv.key, kv.value) for kv in out.read_key_values_to_list()] == [
            ("o1", "book for Ada"),
            ("o2", "pen for Ada"),
        ]
        customers.pipe_input("c1", "Ada L.", 5)  # a right update reaches every subscriber
        assert sorted((kv.key, kv.value) for kv in out.read_key_values_to_list()) == [
            ("o1", "book for Ada L."),
            ("o2", "pen for Ada L."),
        ]
        customers.pipe_input("c2", "Grace", 6)
        orders.pipe_input("o1", "c2:book", 7)  # the foreign key changes
        assert [(kv.key, kv.value) for kv in out.read_key_values_to_list()] == [
            ("o1", "book for Grace")
        ]
        customers.pipe_input("c1", "Ada again", 8)  # o1 left c1: only o2 is updated
        assert [(kv.key, kv.value) for kv in out.read_key_values_to_list()] == [
            ("o2", "pen for Ada again")
        ]
        orders.pipe_input("o2", None, 9)  # left delete: tombstone
        assert [(kv.key, kv.value) for kv in out.read_key_values_to_list()] == [("o2", None)]
        customers.pipe_input("c2", None, 10)  # right delete: inner join result goes away
        assert [(kv.key, kv.value) for kv in out.read_key_values_to_list()] == [("o1", None)]
        customers.pipe_input("c9", "Edsger", 11)  # o3 finally joins
        assert [(kv.key, kv.value) for kv in out.read_key_values_to_list()] == [
            ("o3", "ink for Edsger")
        ]
        view = driver.get_key_value_store("order-view")
        assert view.get("o3") == "ink for Edsger" and view.get("o1") is None


def test_first_results_in_order() -> None:
    _, driver, orders, customers, out = _drive(False)
    with driver:
        customers.pipe_input("c1", "Ada", 1)
        orders.pipe_input("o1", "c1:book", 2)
        orders.pipe_input("o2", "c1:pen", 3)
        assert [(kv.key, kv.value) for kv in out.read_key_values_to_list()] == [
            ("o1", "book for Ada"),
            ("o2", "pen for Ada"),
        ]


def test_left_fk_join_keeps_rows_without_a_match() -> None:
    _, driver, orders, customers, out = _drive(True)
    with driver:
        orders.pipe_input("o1", "c1:book", 1)  # no customer yet
        assert [(kv.key, kv.value) for kv in out.read_key_values_to_list()] == [
            ("o1", "book for None")
        ]
        customers.pipe_input("c1", "Ada", 2)
        customers.pipe_input("c1", None, 3)
        assert [(kv.key, kv.value) for kv in out.read_key_values_to_list()] == [
            ("o1", "book for Ada"),
            ("o1", "book for None"),
        ]
        orders.pipe_input("o1", None, 4)
        # Kafka's current left join drops the old subscription without a response
        # (DELETE_KEY_NO_PROPAGATE) and answers the null-FK one: a single tombstone, as ksqlDB's
        # fk-join tests expect (Kafka <= 3.6 emitted two)
        assert [(kv.key, kv.value) for kv in out.read_key_values_to_list()] == [("o1", None)]
        orders.pipe_input("o1", None, 5)  # deleting it again (an idempotent delete) emits nothing
        assert out.read_key_values_to_list() == []


def test_table_joined_names_the_internal_topics() -> None:
    b = StreamsBuilder()
    orders = b.table("orders", Consumed.with_(S, S))
    customers = b.table("customers", Consumed.with_(S, S))
    orders.join(customers, lambda o: o, lambda o, c: c, TableJoined.as_("by-customer"))
    topics = set(b.build().internal_topics())
    assert "by-customer-subscription-registration-topic" in topics
    assert "by-customer-subscription-response-topic" in topics
    assert "by-customer-subscription-store-changelog" in topics
