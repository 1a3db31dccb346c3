"""Joins and punctuators in KafkaStreams on a real riverlog broker (confluent-kafka clients)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from riverlog.streams import (
    Consumed,
    JoinWindows,
    KafkaStreams,
    Processor,
    Produced,
    PunctuationType,
    QueryableStoreTypes,
    Record,
    Serdes,
    StoreQueryParameters,
    StreamJoined,
    StreamsBuilder,
)
from riverlog.streams.errors import TopologyException
from riverlog.streams.processors.fk_wire import value_hash
from riverlog.streams.runtime.kafka_streams import State
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
S = Serdes.String()


@pytest.fixture
def apps() -> Iterator[list[KafkaStreams]]:
    started: list[KafkaStreams] = []
    yield started
    for app in started:
        app.close(timedelta(seconds=30))


def _config(broker: RunningBroker, state_dir: Path) -> dict[str, Any]:
    return {
        "application.id": f"join-{uuid.uuid4().hex[:6]}",
        "bootstrap.servers": broker.bootstrap_servers,
        "state.dir": str(state_dir),
        "commit.interval.ms": 100,
        "statestore.cache.max.bytes": 0,
    }


def _produce(broker: RunningBroker, topic: str, rows: list[tuple[str, str | None, int]]) -> None:
    p = Producer({"bootstrap.servers": broker.bootstrap_servers, "partitioner": "murmur2_random"})
    for k, v, ts in rows:
        p.produce(topic, key=k.encode(), value=None if v is None else v.encode(), timestamp=ts)
    assert p.flush(30) == 0


def _read(
    broker: RunningBroker, topic: str, until: Callable[[list[tuple[str, str]]], bool]
) -> list[tuple[str, str]]:
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"check-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([topic])
    got: list[tuple[str, str]] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not until(got):
            for m in c.consume(500, 0.3):
                if not m.error():
                    got.append((m.key().decode(), m.value().decode()))
    finally:
        c.close()
    return got


def _read_raw(broker: RunningBroker, topic: str, count: int) -> list[Any]:
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"raw-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([topic])
    got: list[Any] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and len(got) < count:
            got.extend(m for m in c.consume(500, 0.3) if not m.error())
    finally:
        c.close()
    return got


def test_stream_table_and_stream_stream_joins(
    broker: RunningBroker, make_topic: Callable[..., str], apps: list[KafkaStreams], tmp_path: Path
) -> None:
    orders, customers, payments = (make_topic(partitions=2, prefix=p) for p in "ocp")
    enriched, paid = make_topic(prefix="enriched"), make_topic(prefix="paid")
    b = StreamsBuilder()
    table = b.table(customers, Consumed.with_(S, S))
    order_stream = b.stream(orders, Consumed.with_(S, S))
    order_stream.join(table, lambda o, c: f"{o}@{c}").to(enriched, Produced.with_(S, S))
    order_stream.left_join(
        b.stream(payments, Consumed.with_(S, S)),
        lambda o, p: f"{o}:{p}",
        JoinWindows.of_time_difference_with_no_grace(timedelta(seconds=10)),
        StreamJoined.with_(S, S, S),
    ).to(paid, Produced.with_(S, S))
    app = KafkaStreams(b.build(), _config(broker, tmp_path))
    apps.append(app)
    app.start()
    t0 = 1_700_000_000_000
    _produce(broker, customers, [(f"c{i}", f"name{i}", t0) for i in range(6)])
    time.sleep(1.0)  # the table is read before the orders (they are later in time, too)
    _produce(broker, orders, [(f"c{i}", f"order{i}", t0 + 1000) for i in range(6)])
    _produce(broker, payments, [(f"c{i}", f"pay{i}", t0 + 2000) for i in range(0, 6, 2)])
    # a record far later in time closes the windows of the unpaid orders on its partition(s)
    _produce(broker, orders, [(f"c{i}", "late", t0 + 60_000) for i in range(6)])
    _produce(broker, payments, [(f"c{i}", "late", t0 + 60_000) for i in range(6)])
    want = {(f"c{i}", f"order{i}@name{i}") for i in range(6)} | {
        (f"c{i}", f"late@name{i}") for i in range(6)
    }
    got = _read(broker, enriched, lambda g: want <= set(g))
    assert set(got) == want
    want_paid = {(f"c{i}", f"order{i}:pay{i}") for i in range(0, 6, 2)}
    want_unpaid = {(f"c{i}", f"order{i}:None") for i in range(1, 6, 2)}

    def done(g: list[tuple[str, str]]) -> bool:
        return want_paid | want_unpaid <= set(g)

    got = _read(broker, paid, done)
    assert want_paid <= set(got)
    assert want_unpaid <= set(got)  # emitted only once their window closed, never early


class Ticker(Processor):
    def init(self, context: Any) -> None:
        super().init(context)
        context.schedule(timedelta(milliseconds=200), PunctuationType.WALL_CLOCK_TIME, self.wall)
        context.schedule(timedelta(seconds=10), PunctuationType.STREAM_TIME, self.stream)

    def wall(self, ts: int) -> None:
        self.context.forward(Record("wall", str(ts), ts))

    def stream(self, ts: int) -> None:
        self.context.forward(Record("stream", str(ts), ts))

    def process(self, record: Record) -> None:
        pass


def test_punctuators_on_a_real_broker(
    broker: RunningBroker, make_topic: Callable[..., str], apps: list[KafkaStreams], tmp_path: Path
) -> None:
    source, sink = make_topic(prefix="ticks-in"), make_topic(prefix="ticks-out")
    b = StreamsBuilder()
    b.stream(source, Consumed.with_(S, S)).process(Ticker).to(sink, Produced.with_(S, S))
    app = KafkaStreams(b.build(), _config(broker, tmp_path))
    apps.append(app)
    app.start()
    # the runtime punctuates after each batch of records (as Kafka's StreamThread), so records
    # are sent one at a time here to see one stream-time punctuation each
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"check-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([sink])
    got: list[tuple[str, str]] = []
    try:
        for ts in (5_000, 12_000, 15_000, 47_000):
            _produce(broker, source, [("k", "x", ts)])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and ("stream", str(ts)) not in got:
                if ts == 15_000 and sum(k == "wall" for k, _ in got) >= 3:
                    break  # 15000 < next due 20000: no punctuation expected
                for m in c.consume(100, 0.3):
                    if not m.error():
                        got.append((m.key().decode(), m.value().decode()))
    finally:
        c.close()
    # aligned to 0, every 10 s of stream time: 5000 (first), 12000 (>= 10000), then 47000 once
    # (>= 20000; 30000 and 40000 are skipped, not fired late)
    assert [v for k, v in got if k == "stream"] == ["5000", "12000", "47000"]
    walls = [int(v) for k, v in got if k == "wall"]
    assert len(walls) >= 3 and walls == sorted(walls)


def test_joining_topics_with_different_partition_counts_fails_at_start(
    broker: RunningBroker, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    orders, customers = make_topic(partitions=2, prefix="o"), make_topic(partitions=3, prefix="c")
    b = StreamsBuilder()
    b.stream(orders, Consumed.with_(S, S)).join(
        b.table(customers, Consumed.with_(S, S)), lambda o, c: o
    ).to(make_topic(prefix="out"), Produced.with_(S, S))
    app = KafkaStreams(b.build(), _config(broker, tmp_path))
    try:
        with pytest.raises(TopologyException, match="not co-partitioned") as err:
            app.start()
        assert f"{orders} (2 partitions)" in str(err.value)
        assert f"{customers} (3 partitions)" in str(err.value)
    finally:
        app.close(timedelta(seconds=10))

    # repartitioning the stream side fixes it: the repartition topic takes the table's width
    b = StreamsBuilder()
    b.stream(orders, Consumed.with_(S, S)).repartition().join(
        b.table(customers, Consumed.with_(S, S)), lambda o, c: f"{o}@{c}"
    ).to(out := make_topic(prefix="out"), Produced.with_(S, S))
    app = KafkaStreams(b.build(), _config(broker, tmp_path / "2"))
    try:
        app.start()
        _produce(broker, customers, [(f"c{i}", f"name{i}", 1) for i in range(5)])
        time.sleep(1.0)
        _produce(broker, orders, [(f"c{i}", f"o{i}", 2) for i in range(5)])
        want = {(f"c{i}", f"o{i}@name{i}") for i in range(5)}
        assert set(_read(broker, out, lambda g: want <= set(g))) == want
    finally:
        app.close(timedelta(seconds=30))


def test_global_table_is_loaded_before_processing_and_kept_current(
    broker: RunningBroker, make_topic: Callable[..., str], apps: list[KafkaStreams], tmp_path: Path
) -> None:
    products = make_topic(partitions=3, prefix="products")  # not co-partitioned with orders
    orders, out = make_topic(partitions=2, prefix="orders"), make_topic(prefix="out")
    _produce(broker, products, [(f"p{i}", f"product-{i}", 1) for i in range(300)])
    # orders exist before the app starts, and are older than the products: without the global
    # table loaded first, stream-time ordering could not save them
    _produce(broker, orders, [(f"o{i}", f"p{i * 7 % 300}", 0) for i in range(50)])
    b = StreamsBuilder()
    table = b.global_table(products, Consumed.with_(S, S))
    b.stream(orders, Consumed.with_(S, S)).join(
        table, lambda k, v: v, lambda order, product: product
    ).to(out, Produced.with_(S, S))
    app = KafkaStreams(b.build(), _config(broker, tmp_path))
    apps.append(app)
    app.start()
    want = {(f"o{i}", f"product-{i * 7 % 300}") for i in range(50)}
    assert set(_read(broker, out, lambda g: want <= set(g))) == want
    _produce(broker, products, [("p1", "renamed", 2)])
    time.sleep(1.0)
    _produce(broker, orders, [("late-order", "p1", 3)])
    got = _read(broker, out, lambda g: ("late-order", "renamed") in g)
    assert ("late-order", "renamed") in got
    store = app.store(
        StoreQueryParameters.from_name_and_type(
            table.queryable_store_name(), QueryableStoreTypes.key_value_store()
        )
    )
    assert store.get("p1") == "renamed" and store.get("p2") == "product-2"
    assert app.metrics()["global-restore-total"] == 300  # nothing checkpointed: all of it
    # the global store is RocksDB with a checkpoint: a restart reads only what came after it
    app.close(timedelta(seconds=30))
    global_dir = tmp_path / app.config.application_id / "global"
    assert (global_dir / ".checkpoint").exists()
    assert (global_dir / "rocksdb" / table.queryable_store_name()).is_dir()
    _produce(broker, products, [("p2", "renamed-2", 4), ("p300", "product-300", 4)])
    again = KafkaStreams(
        b.build(), {**_config(broker, tmp_path), "application.id": app.config.application_id}
    )
    apps.append(again)
    again.start()
    assert again.metrics()["global-restore-total"] == 2
    assert again.wait_for_state(State.RUNNING, 60)
    store = again.store(
        StoreQueryParameters.from_name_and_type(
            table.queryable_store_name(), QueryableStoreTypes.key_value_store()
        )
    )
    assert store.get("p1") == "renamed" and store.get("p2") == "renamed-2"
    assert store.get("p300") == "product-300" and store.approximate_num_entries() >= 301


def test_foreign_key_join_on_a_real_broker(
    broker: RunningBroker, make_topic: Callable[..., str], apps: list[KafkaStreams], tmp_path: Path
) -> None:
    # the two tables need not be co-partitioned: the internal topics take each side's width
    orders, customers = make_topic(partitions=2, prefix="o"), make_topic(partitions=3, prefix="c")
    out = make_topic(prefix="out")
    b = StreamsBuilder()
    b.table(orders, Consumed.with_(S, S)).join(
        b.table(customers, Consumed.with_(S, S)),
        lambda order: order.split(":")[0],
        lambda order, customer: f"{order.split(':')[1]} for {customer}",
    ).to_stream().to(out, Produced.with_(S, S))
    app = KafkaStreams(b.build(), _config(broker, tmp_path))
    apps.append(app)
    app.start()
    _produce(broker, customers, [(f"c{i}", f"name{i}", 1) for i in range(5)])
    _produce(broker, orders, [(f"o{i}", f"c{i % 5}:item{i}", 2) for i in range(20)])
    want = {(f"o{i}", f"item{i} for name{i % 5}") for i in range(20)}
    assert want <= set(_read(broker, out, lambda g: want <= set(g)))
    _produce(broker, customers, [("c0", "renamed", 3)])
    want = {(f"o{i}", f"item{i} for renamed") for i in range(0, 20, 5)}
    assert want <= set(_read(broker, out, lambda g: want <= set(g)))
    # the internal topics hold Kafka Streams' bytes and routing
    app_id = app.config.application_id
    where = {m.key(): m.partition() for m in _read_raw(broker, orders, 20)}
    sub = f"{app_id}-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic"
    for m in _read_raw(broker, sub, 20):
        value = m.value()
        pk = value[18:-4]
        i = int(pk[1:])
        assert m.key() == f"c{i % 5}".encode()
        assert value[:2] == b"\x01\x03"  # v1, PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE
        assert value[2:18] == value_hash(f"c{i % 5}:item{i}".encode())
        assert int.from_bytes(value[-4:], "big") == where[pk]  # the order's partition
    resp = f"{app_id}-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic"
    for m in _read_raw(broker, resp, 24):
        # a response goes back to the partition its subscription came from
        assert m.partition() == where[m.key()]
        assert m.value()[0] == 0 and m.value()[17:].startswith((b"name", b"renamed"))


def _cli(broker: RunningBroker, *args: str) -> Any:
    from typer.testing import CliRunner

    from riverlog.cli.main import app as cli

    return CliRunner().invoke(cli, ["streams", *args, "-b", broker.bootstrap_servers])


def test_streams_describe_and_reset_cli(
    broker: RunningBroker, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    source, out = make_topic(partitions=2, prefix="in"), make_topic(prefix="out")
    b = StreamsBuilder()
    b.stream(source, Consumed.with_(S, S)).group_by_key().count().to_stream().to(
        out, Produced.with_(S, Serdes.Long())
    )
    config = _config(broker, tmp_path)
    app_id = config["application.id"]
    _produce(broker, source, [(f"k{i % 3}", "x", 1) for i in range(9)])
    app = KafkaStreams(b.build(), {**config, "default.key.serde": S, "default.value.serde": S})
    app.start()
    try:
        _read(broker, out, lambda g: len({k for k, _ in g}) == 3)
        live = _cli(broker, "describe", "--application-id", app_id)
        assert live.exit_code == 0, live.output
        assert f"{app_id}-KSTREAM-AGGREGATE-STATE-STORE-0000000001-changelog" in live.output
        refused = _cli(broker, "reset", "--application-id", app_id, "--input-topics", source)
        assert refused.exit_code != 0 and "live members" in str(refused.exception)
    finally:
        app.close(timedelta(seconds=30))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the group empties once the member has left
        described = _cli(broker, "describe", "--application-id", app_id)
        if "Members: 0" in described.output:
            break
        time.sleep(0.5)
    assert "Total lag: 0" in described.output
    done = _cli(broker, "reset", "--application-id", app_id, "--input-topics", source, "--progress")
    assert done.exit_code == 0, done.output
    assert "internal topics deleted" in done.output
    # the progress bars (stderr): topics planned, then the commit and each internal topic deleted
    assert f"planning {app_id}" in done.output and f"resetting {app_id}" in done.output
    assert "1/1" in done.output and "100%" in done.output
    after = _cli(broker, "describe", "--application-id", app_id)
    assert "Total lag: 9" in after.output  # everything will be read again
    as_json = _cli(broker, "describe", "--application-id", app_id, "--output", "json")
    assert json.loads(as_json.output)["total_lag"] == 9
    admin_topics = (
        Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "x"})
        .list_topics(timeout=10)
        .topics
    )
    assert not [t for t in admin_topics if t.startswith(f"{app_id}-")]
    unknown = _cli(broker, "describe", "--application-id", "no-such-app")
    assert unknown.exit_code != 0 and "does not exist" in str(unknown.exception)
