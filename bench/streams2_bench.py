"""Streams part 2 benchmark (issue 12): joins and interactive queries on one riverlog broker.

    .venv/bin/python -m bench.streams2_bench [--events 1000000] [--table 100000] [--lines 100000]

A `riverlog broker start` process; every app runs at-least-once in this process
(`commit.interval.ms` 1000, default cache). Each row: input records pre-produced, the app started,
and the rate = input records / seconds from the app's first processed record until its threads
have processed every input record (`process-total`). Rows:
- word count (the core's program, the baseline): lines of 10 words, words counted;
- enrichment join: `stream.join(table)`, events keyed by a customer id drawn from the table's rows;
- stream-stream join: two streams, 5-minute `JoinWindows`, every left record has one partner;
- IQ `get` latency on the running enrichment app's table store, local (p50/p99 over 20k gets);
- IQ `get` over the built-in HTTP endpoint of two instances: keys the asked instance owns (local)
  and keys the other owns (forwarded), p50/p99 over 2,000 gets each;
- failover: two instances counting 200,000 keys, one closes; seconds until the other answers
  every key, and the changelog records it restored, without and with one standby replica;
- foreign-key join: order rows (10,000 customers) through a left FK join, rate = order updates /
  seconds until the output holds one result per order.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.streams import (
    Consumed,
    Grouped,
    JoinWindows,
    KafkaStreams,
    Materialized,
    Produced,
    QueryableStoreTypes,
    Serdes,
    StoreQueryParameters,
    StreamJoined,
    StreamsBuilder,
)
from riverlog.testing.broker_process import BrokerProcess

S = Serdes.String()
PARTITIONS = 2


def topics(bootstrap: str, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(n, num_partitions=PARTITIONS) for n in names])
    for f in fs.values():
        f.result(timeout=30)


def produce(bootstrap: str, topic: str, rows: Any) -> int:
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "partitioner": "murmur2_random",
        }
    )
    n = 0
    for k, v, ts in rows:
        while True:
            try:
                p.produce(topic, key=k, value=v, timestamp=ts)
                break
            except BufferError:
                p.poll(0.05)
        n += 1
        if n % 10_000 == 0:
            p.poll(0)
    assert p.flush(120) == 0
    return n


def count_output(bootstrap: str, topic: str) -> int:
    """How many records `topic` holds (sum of its partitions' end offsets)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:6]}"})
    try:
        meta = c.list_topics(topic, timeout=10).topics[topic]
        total = 0
        for p in meta.partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += hi - lo
        return total
    finally:
        c.close()


def run_app(bootstrap: str, topology: Any, state_dir: Path, processed: int) -> tuple[float, Any]:
    """Start the app; seconds from its first processed record until its threads processed
    `processed` records."""
    app = KafkaStreams(
        topology,
        {
            "application.id": f"bench-{uuid.uuid4().hex[:6]}",
            "bootstrap.servers": bootstrap,
            "state.dir": str(state_dir),
            "commit.interval.ms": 1000,
        },
    )
    app.start()
    deadline = time.monotonic() + 120
    while app.metrics().get("process-total", 0) == 0:  # the clock starts at the first record
        if time.monotonic() > deadline:
            raise RuntimeError("the app processed nothing")
        time.sleep(0.005)
    t0 = time.monotonic()
    deadline = t0 + 1800
    while app.metrics().get("process-total", 0) < processed:
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.05)
    return time.monotonic() - t0, app


def word_count(bootstrap: str, tmp: Path, lines: int) -> float:
    src, out = f"wc-in-{uuid.uuid4().hex[:6]}", f"wc-out-{uuid.uuid4().hex[:6]}"
    topics(bootstrap, src, out)
    rng = random.Random(1)
    vocab = [f"w{i}" for i in range(5000)]
    produce(
        bootstrap,
        src,
        ((None, " ".join(rng.choice(vocab) for _ in range(10)).encode(), 1) for _ in range(lines)),
    )
    b = StreamsBuilder()
    b.stream(src, Consumed.with_(S, S)).flat_map_values(lambda s: s.split()).group_by(
        lambda k, w: w, Grouped.with_(S, S)
    ).count(Materialized.as_("counts")).to_stream().to(out, Produced.with_(S, Serdes.Long()))
    # two sub-topologies: every line, then its 10 words through the repartition topic
    elapsed, app = run_app(bootstrap, b.build(), tmp / "wc", lines * 11)
    app.close(timedelta(seconds=60))
    return lines / elapsed


def enrichment(bootstrap: str, tmp: Path, events: int, rows: int) -> tuple[float, list[float]]:
    table, stream, out = (f"{p}-{uuid.uuid4().hex[:6]}" for p in ("cust", "ev", "enriched"))
    topics(bootstrap, table, stream, out)
    produce(
        bootstrap,
        table,
        ((f"c{i}".encode(), f"customer-{i}-gold".encode(), 1) for i in range(rows)),
    )
    rng = random.Random(2)
    produce(
        bootstrap,
        stream,
        (
            (f"c{rng.randrange(rows)}".encode(), f"event-{i}".encode(), 10 + i // 1000)
            for i in range(events)
        ),
    )
    b = StreamsBuilder()
    customers = b.table(table, Consumed.with_(S, S), Materialized.as_("customers"))
    b.stream(stream, Consumed.with_(S, S)).join(customers, lambda e, c: f"{e}|{c}").to(
        out, Produced.with_(S, S)
    )
    elapsed, app = run_app(bootstrap, b.build(), tmp / "enrich", events + rows)
    store = app.store(
        StoreQueryParameters.from_name_and_type("customers", QueryableStoreTypes.key_value_store())
    )
    lat = []
    for _i in range(20_000):
        key = f"c{rng.randrange(rows)}"
        t = time.perf_counter()
        store.get(key)
        lat.append((time.perf_counter() - t) * 1000)
    app.close(timedelta(seconds=60))
    # the table is read along with the events (both from the start): count both as input
    return (events + rows) / elapsed, lat


def stream_stream(bootstrap: str, tmp: Path, events: int) -> float:
    left, right, out = (f"{p}-{uuid.uuid4().hex[:6]}" for p in ("clicks", "views", "joined"))
    topics(bootstrap, left, right, out)
    half = events // 2
    base = 1_700_000_000_000
    produce(
        bootstrap,
        left,
        ((f"u{i % 5000}".encode(), f"click{i}".encode(), base + i * 10) for i in range(half)),
    )
    produce(
        bootstrap,
        right,
        ((f"u{i % 5000}".encode(), f"view{i}".encode(), base + i * 10 + 1) for i in range(half)),
    )
    b = StreamsBuilder()
    # 5-minute windows: with 5000 keys and one record per key every 50 s, each left record has
    # about 12 partners on the right; the output is counted, not the input
    b.stream(left, Consumed.with_(S, S)).join(
        b.stream(right, Consumed.with_(S, S)),
        lambda a, c: a,
        JoinWindows.of_time_difference_with_no_grace(timedelta(minutes=5)),
        StreamJoined.with_(S, S, S),
    ).to(out, Produced.with_(S, S))
    elapsed, app = run_app(bootstrap, b.build(), tmp / "ss", events)
    print(f"  stream-stream join outputs: {count_output(bootstrap, out)}", flush=True)
    app.close(timedelta(seconds=60))
    return events / elapsed


def fk_join(bootstrap: str, tmp: Path, orders_n: int, customers_n: int) -> float:
    orders, customers, out = (f"{p}-{uuid.uuid4().hex[:6]}" for p in ("fko", "fkc", "fkout"))
    topics(bootstrap, orders, customers, out)
    produce(
        bootstrap,
        customers,
        ((f"c{i}".encode(), f"customer-{i}".encode(), 1) for i in range(customers_n)),
    )
    rng = random.Random(3)
    produce(
        bootstrap,
        orders,
        (
            (f"o{i}".encode(), f"c{rng.randrange(customers_n)}:item{i}".encode(), 2)
            for i in range(orders_n)
        ),
    )
    b = StreamsBuilder()
    b.table(orders, Consumed.with_(S, S)).left_join(
        b.table(customers, Consumed.with_(S, S)),
        lambda o: o.split(":")[0],
        lambda o, c: f"{o}|{c}",
    ).to_stream().to(out, Produced.with_(S, S))
    app = KafkaStreams(
        b.build(),
        {
            "application.id": f"bench-{uuid.uuid4().hex[:6]}",
            "bootstrap.servers": bootstrap,
            "state.dir": str(tmp / "fk"),
            "commit.interval.ms": 1000,
        },
    )
    app.start()
    while app.metrics().get("process-total", 0) == 0:
        time.sleep(0.005)
    t0 = time.monotonic()
    # a left foreign-key join answers every order row once (plus customer updates: none here)
    while count_output(bootstrap, out) < orders_n:
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    app.close(timedelta(seconds=60))
    return orders_n / elapsed


def iq_http(bootstrap: str, tmp: Path, keys: int, gets: int) -> tuple[list[float], list[float]]:
    """Two instances with application.server; HTTP GETs to instance A for keys A owns (local) and
    keys B owns (forwarded by A to B): latencies in ms."""
    import socket
    import urllib.request

    src = f"iqb-{uuid.uuid4().hex[:6]}"
    topics(bootstrap, src)
    produce(bootstrap, src, ((f"k{i}".encode(), b"x", 1) for i in range(keys)))
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    app_id = f"bench-iq-{uuid.uuid4().hex[:6]}"
    apps = []
    for i, port in enumerate(ports):
        b = StreamsBuilder()
        b.stream(src, Consumed.with_(S, S)).group_by_key(Grouped.with_(S, S)).count(
            Materialized.as_("counts")
        )
        app = KafkaStreams(
            b.build(),
            {
                "application.id": app_id,
                "bootstrap.servers": bootstrap,
                "state.dir": str(tmp / f"iq{i}"),
                "commit.interval.ms": 100,
                "application.server": f"127.0.0.1:{port}",
            },
        )
        app.start()
        apps.append(app)
    a = apps[0]

    def owner(k: str) -> int | None:
        try:
            return a.query_metadata_for_key("counts", k, S).active_host.port
        except Exception:
            return None

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        owners = {f"k{i}": owner(f"k{i}") for i in range(keys)}
        if set(owners.values()) == set(ports):
            try:
                if all(
                    urllib.request.urlopen(
                        f"http://127.0.0.1:{ports[0]}/stores/counts/keys/k{i}", timeout=10
                    ).status
                    == 200
                    for i in range(0, keys, max(1, keys // 20))
                ):
                    break
            except Exception:
                pass
        time.sleep(0.5)
    local = [k for k, o in owners.items() if o == ports[0]]
    remote = [k for k, o in owners.items() if o == ports[1]]

    def measure(ks: list[str]) -> list[float]:
        out = []
        for i in range(gets):
            url = f"http://127.0.0.1:{ports[0]}/stores/counts/keys/{ks[i % len(ks)]}"
            t = time.perf_counter()
            with urllib.request.urlopen(url, timeout=10) as r:
                r.read()
            out.append((time.perf_counter() - t) * 1000)
        return out

    res = measure(local), measure(remote)
    for app in apps:
        app.close(timedelta(seconds=60))
    return res


def failover(bootstrap: str, tmp: Path, keys: int, standbys: int) -> tuple[float, float]:
    """Two instances counting `keys` keys (one changelog record each); A closes; seconds until B
    answers every key, and the records B restored."""
    import socket

    src = f"fo-{uuid.uuid4().hex[:6]}"
    topics(bootstrap, src)
    produce(bootstrap, src, ((f"k{i}".encode(), b"x", 1) for i in range(keys)))
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    app_id = f"bench-fo-{uuid.uuid4().hex[:6]}"
    apps = []
    for i, port in enumerate(ports):
        b = StreamsBuilder()
        b.stream(src, Consumed.with_(S, S)).group_by_key(Grouped.with_(S, S)).count(
            Materialized.as_("counts")
        )
        app = KafkaStreams(
            b.build(),
            {
                "application.id": app_id,
                "bootstrap.servers": bootstrap,
                "state.dir": str(tmp / f"fo{standbys}-{i}"),
                "commit.interval.ms": 100,
                "statestore.cache.max.bytes": 0,
                "application.server": f"127.0.0.1:{port}",
                "num.standby.replicas": standbys,
            },
        )
        app.start()
        apps.append(app)
    a, b2 = apps
    q = StoreQueryParameters.from_name_and_type("counts", QueryableStoreTypes.key_value_store())

    def complete(app: Any) -> bool:
        try:
            return sum(1 for _ in app.store(q).all()) == keys
        except Exception:
            return False

    while sum(x.metrics().get("process-total", 0) for x in apps) < keys:
        time.sleep(0.2)
    time.sleep(5)  # changelogs written, standbys caught up
    before = b2.metrics().get("restore-total", 0)
    t0 = time.monotonic()
    a.close(timedelta(seconds=60))
    while not complete(b2):
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    restored = b2.metrics().get("restore-total", 0) - before
    b2.close(timedelta(seconds=60))
    return elapsed, restored


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--table", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--ss-events", type=int, default=200_000)
    parser.add_argument("--fk-orders", type=int, default=100_000)
    parser.add_argument("--only-fk", action="store_true", help="run the foreign-key row only")
    parser.add_argument("--only-iq", action="store_true", help="run the IQ HTTP row only")
    parser.add_argument("--only-failover", action="store_true", help="run the failover rows only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker = BrokerProcess(1, tmp / "broker", zookeeper=None).start()
        try:
            bs = broker.bootstrap
            for n in (0, 1):
                secs, restored = failover(bs, tmp, 200_000, n)
                print(
                    f"failover, num.standby.replicas={n}: {secs:.2f} s until every key is "
                    f"answered again, {restored:,.0f} changelog records restored",
                    flush=True,
                )
            if args.only_failover:
                return
            loc, fwd = iq_http(bs, tmp, 1000, 2000)
            ql, qf = statistics.quantiles(loc, n=100), statistics.quantiles(fwd, n=100)
            print(
                f"IQ get over HTTP: local p50 {ql[49]:.2f} ms p99 {ql[98]:.2f} ms; "
                f"forwarded p50 {qf[49]:.2f} ms p99 {qf[98]:.2f} ms",
                flush=True,
            )
            if args.only_iq:
                return
            fk = fk_join(bs, tmp, args.fk_orders, 10_000)
            print(
                f"FK join: {fk:,.0f} order updates/s ({args.fk_orders:,} orders, 10,000 customers)",
                flush=True,
            )
            if args.only_fk:
                return
            wc = word_count(bs, tmp, args.lines)
            print(
                f"word count: {wc:,.0f} lines/s = {wc * 10:,.0f} words/s "
                f"({args.lines:,} lines of 10 words)",
                flush=True,
            )
            rate, lat = enrichment(bs, tmp, args.events, args.table)
            print(
                f"enrichment join: {rate:,.0f} records/s ({args.events:,} events, "
                f"{args.table:,}-row table); {rate / wc:.2f}x word count lines/s, "
                f"{rate / (wc * 10):.2f}x its words/s",
                flush=True,
            )
            q = statistics.quantiles(lat, n=100)
            print(f"IQ get local: p50 {q[49]:.3f} ms, p99 {q[98]:.3f} ms", flush=True)
            ss = stream_stream(bs, tmp, args.ss_events)
            print(f"stream-stream 5-min join: {ss:,.0f} input records/s", flush=True)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
