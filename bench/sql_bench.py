"""riverlog.sql benchmark (issue 15).

Part 1, no broker: records/s of three persistent queries compiled by riverlog.sql against the
equivalent hand-written riverlog.streams topology, both run by the TopologyTestDriver over the same
serialized input records (JSON values, KAFKA keys), alternating passes, best of each.
  - CSAS filter/project, a tumbling-window COUNT CTAS, a stream-table join CSAS.
Part 2, one in-process riverlog broker and an in-process SQL server: pull query latency by key,
push query end-to-end latency (produce → row on /query-stream), and the filter/project CSAS
end to end (produce N → N records in the sink topic).

Run: PYTHONPATH=src python -m bench.sql_bench [--records N] [--append-results]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from riverlog.sql.engine import Engine
from riverlog.sql.qtt import DriverRuntime, MemoryKafka
from riverlog.streams import (
    Consumed,
    Grouped,
    KStream,
    Materialized,
    Produced,
    Serdes,
    StreamsBuilder,
    TimeWindows,
)
from riverlog.streams.processors.base import Processor
from riverlog.streams.records import Record
from riverlog.streams.serdes import WindowedSerdes
from riverlog.streams.testing import TopologyTestDriver
from riverlog.streams.topology import ProcessorSpec

PAGES = ["home", "cart", "pay", "search", "help"]


def inputs(n: int) -> list[tuple[bytes, bytes, int]]:
    return [
        (
            struct.pack(">q", i % 1000),
            json.dumps(
                {"PAGE": PAGES[i % 5], "DURATION": i % 100, "USERID": f"u{i % 1000}"}
            ).encode(),
            i * 10,
        )
        for i in range(n)
    ]


def users() -> list[tuple[bytes, bytes, int]]:
    return [
        (f"u{i}".encode(), json.dumps({"REGION": f"r{i % 7}"}).encode(), 0) for i in range(1000)
    ]


# ---- SQL side -------------------------------------------------------------------------------

DDL = [
    "CREATE STREAM VIEWS (ID BIGINT KEY, PAGE STRING, DURATION INT, USERID STRING) WITH (kafka_topic='views', value_format='JSON');",
    "CREATE TABLE USERS (USERID STRING PRIMARY KEY, REGION STRING) WITH (kafka_topic='users', value_format='JSON');",
]
QUERIES = {
    "filter/project CSAS": "CREATE STREAM LONG_VIEWS AS SELECT ID, UCASE(PAGE) AS PAGE, DURATION * 2 AS D2 FROM VIEWS WHERE DURATION > 10;",
    "tumbling COUNT CTAS": "CREATE TABLE PER_PAGE AS SELECT PAGE, COUNT(*) AS N FROM VIEWS WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY PAGE;",
    "stream-table join CSAS": "CREATE STREAM ENRICHED AS SELECT V.USERID, PAGE, REGION FROM VIEWS V JOIN USERS U ON V.USERID = U.USERID;",
}


def sql_driver(query: str) -> tuple[TopologyTestDriver, str]:
    kafka = MemoryKafka()
    runtime = DriverRuntime(kafka)
    engine = Engine(kafka, runtime)
    for s in DDL:
        engine.execute(s)
    engine.execute(query)
    q = next(iter(engine.queries.values()))
    driver = runtime.drivers[q.id][0]
    return driver, q.sink_topic


# ---- hand-written topologies --------------------------------------------------------------


def hand_filter() -> Any:
    b = StreamsBuilder()
    s = b.stream("views", Consumed.with_(Serdes.Long(), Serdes.Json()))
    (
        s.filter(lambda k, v: v is not None and (v.get("DURATION") or 0) > 10)
        .map_values(lambda v: {"PAGE": v["PAGE"].upper(), "D2": v["DURATION"] * 2})
        .to("out", Produced.with_(Serdes.Long(), Serdes.Json()))
    )
    return b.build()


def hand_count() -> Any:
    b = StreamsBuilder()
    s = b.stream("views", Consumed.with_(Serdes.Long(), Serdes.Json()))
    (
        s.group_by(lambda k, v: v["PAGE"], Grouped.with_(Serdes.String(), Serdes.Json()))
        .windowed_by(TimeWindows.of_size_and_grace(timedelta(minutes=1), timedelta(hours=24)))
        .count(Materialized.with_(Serdes.String(), Serdes.Long()))
        .to_stream()
        .map_values(lambda c: {"N": c})
        .to(
            "out",
            Produced.with_(
                WindowedSerdes.time_windowed_serde_from(Serdes.String(), 60_000), Serdes.Json()
            ),
        )
    )
    return b.build()


def hand_join() -> Any:
    b = StreamsBuilder()
    b.table(
        "users",
        Consumed.with_(Serdes.String(), Serdes.Json()),
        Materialized.as_("users-store")
        .with_key_serde(Serdes.String())
        .with_value_serde(Serdes.Json()),
    )
    s = b.stream("views", Consumed.with_(Serdes.Long(), Serdes.Json()))
    keyed = s.select_key(lambda k, v: v["USERID"]).repartition()

    class Join(Processor):
        def process(self, record: Record) -> None:
            found = self.context.get_state_store("users-store").get_with_timestamp(record.key)
            if found is None:
                return
            v = record.value
            self.context.forward(
                Record(
                    record.key,
                    {"PAGE": v["PAGE"], "REGION": found.value["REGION"]},
                    record.timestamp,
                    record.headers,
                )
            )

    b.topology.add_processor(ProcessorSpec("join", Join, [keyed.name], ["users-store"]))
    joined = KStream(b, "join", Serdes.String(), Serdes.Json(), False)
    joined.to("out", Produced.with_(Serdes.String(), Serdes.Json()))
    return b.build()


HAND: dict[str, Callable[[], Any]] = {
    "filter/project CSAS": hand_filter,
    "tumbling COUNT CTAS": hand_count,
    "stream-table join CSAS": hand_join,
}


def run_pass(
    driver: TopologyTestDriver, records: list[tuple[bytes, bytes, int]], join: bool
) -> tuple[float, float]:
    """(records per wall-clock second, records per CPU second of this process)."""
    if join:
        for k, v, ts in users():
            driver.pipe_raw("users", k, v, ts)
    start, cpu = time.perf_counter(), time.process_time()
    for k, v, ts in records:
        driver.pipe_raw("views", k, v, ts)
        driver.outputs.clear()
    n = len(records)
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu)


def part1(n: int, passes: int) -> list[tuple[str, float, float, float, float]]:
    """Per query: best wall rate SQL, hand; best CPU rate SQL, hand."""
    records = inputs(n)
    rows = []
    for name, sql in QUERIES.items():
        best_sql = best_hand = cpu_sql = cpu_hand = 0.0
        for _ in range(passes):
            d, _sink = sql_driver(sql)
            wall, cpu = run_pass(d, records, "join" in name)
            best_sql, cpu_sql = max(best_sql, wall), max(cpu_sql, cpu)
            d.close()
            h = TopologyTestDriver(
                HAND[name](),
                {
                    "application.id": f"hand-{uuid.uuid4().hex[:6]}",
                    "statestore.cache.max.bytes": 0,
                    "default.key.serde": Serdes.String(),
                    "default.value.serde": Serdes.Json(),
                },
            )
            wall, cpu = run_pass(h, records, "join" in name)
            best_hand, cpu_hand = max(best_hand, wall), max(cpu_hand, cpu)
            h.close()
        rows.append((name, best_sql, best_hand, cpu_sql, cpu_hand))
    return rows


# ---- part 2: server on a broker -------------------------------------------------------------


def part2(n: int) -> dict[str, Any]:
    import httpx
    from confluent_kafka import Consumer, Producer

    from riverlog.sql.server.server import SqlServer
    from riverlog.testing.broker import RunningBroker

    out: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="sqlbench-"))
    with RunningBroker(tmp / "broker") as broker:
        srv = SqlServer(
            {
                "listeners": "http://127.0.0.1:0",
                "bootstrap.servers": broker.bootstrap_servers,
                "ksql.streams.state.dir": str(tmp / "state"),
                "ksql.streams.auto.offset.reset": "earliest",
                "ksql.streams.commit.interval.ms": "100",
                "ksql.streams.cache.max.bytes.buffering": "0",
                "ksql.logging.processing.topic.auto.create": "false",
            }
        )
        srv.start()
        c = httpx.Client(base_url=srv.url, timeout=120)

        def ksql(s: str) -> Any:
            r = c.post("/ksql", json={"ksql": s})
            r.raise_for_status()
            return r.json()

        ksql(
            "CREATE STREAM VIEWS (ID BIGINT KEY, PAGE STRING, DURATION INT, USERID STRING) WITH (kafka_topic='views', value_format='JSON', partitions=1);"
        )
        ksql(QUERIES["filter/project CSAS"])
        p = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 5})
        records = inputs(n)
        expected = sum(1 for _k, v, _t in records if json.loads(v)["DURATION"] > 10)
        cons = Consumer(
            {
                "bootstrap.servers": broker.bootstrap_servers,
                "group.id": uuid.uuid4().hex,
                "auto.offset.reset": "earliest",
            }
        )
        cons.subscribe(["LONG_VIEWS"])
        start = time.perf_counter()
        for k, v, ts in records:
            p.produce("views", key=k, value=v, timestamp=ts + 1)
            p.poll(0)
        p.flush(60)
        got = 0
        deadline = time.monotonic() + 300
        while got < expected and time.monotonic() < deadline:
            m = cons.poll(0.5)
            if m is not None and m.error() is None:
                got += 1
        elapsed = time.perf_counter() - start
        cons.close()
        out["e2e"] = (n, got, n / elapsed)
        # pull queries by key on a CTAS table, read from the query's store (interactive queries),
        # once the table has caught up with the input
        ksql("CREATE TABLE PAGE_TOTALS AS SELECT PAGE, COUNT(*) AS N FROM VIEWS GROUP BY PAGE;")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = c.post("/query", json={"ksql": "SELECT N FROM PAGE_TOTALS;"}).json()[1:]
            if sum(r["row"]["columns"][0] for r in rows) >= n:
                break
            time.sleep(0.5)
        lat = []
        for i in range(400):
            t0 = time.perf_counter()
            r = c.post(
                "/query", json={"ksql": f"SELECT * FROM PAGE_TOTALS WHERE PAGE = '{PAGES[i % 5]}';"}
            )
            r.raise_for_status()
            lat.append((time.perf_counter() - t0) * 1000)
        lat.sort()
        out["pull"] = (statistics.median(lat), lat[int(len(lat) * 0.99) - 1], len(lat))
        remote = pull_from_another_process(srv.url, 400)
        out["pull_remote"] = (
            statistics.median(remote),
            remote[int(len(remote) * 0.99) - 1],
            len(remote),
        )
        # push query end-to-end latency
        push_lat: list[float] = []
        sent: dict[int, float] = {}
        ready = threading.Event()

        def reader() -> None:
            body = {
                "sql": "SELECT ID, PAGE FROM VIEWS WHERE PAGE = 'probe' EMIT CHANGES LIMIT 100;",
                "properties": {"auto.offset.reset": "latest"},
            }
            with c.stream("POST", "/query-stream", json=body) as r:
                for line in r.iter_lines():
                    if not line.strip():
                        continue
                    data = json.loads(line)
                    if isinstance(data, dict):
                        ready.set()
                        continue
                    key = int(data[0])
                    if key in sent:
                        push_lat.append((time.perf_counter() - sent[key]) * 1000)

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        ready.wait(60)
        time.sleep(5)  # the push query's consumer joins its group and reaches the end
        for i in range(100):
            key = 10_000_000 + i
            sent[key] = time.perf_counter()
            p.produce(
                "views",
                key=struct.pack(">q", key),
                value=json.dumps({"PAGE": "probe", "DURATION": 1, "USERID": "x"}).encode(),
            )
            p.flush(10)
            time.sleep(0.05)
        t.join(60)
        push_lat.sort()
        if push_lat:
            out["push"] = (
                statistics.median(push_lat),
                push_lat[max(int(len(push_lat) * 0.99) - 1, 0)],
                len(push_lat),
            )
        srv.stop()
    return out


PULL_CLIENT = """
import json, sys, time
import httpx
url, n = sys.argv[1], int(sys.argv[2])
pages = ["home", "cart", "pay", "search", "help"]
lat = []
with httpx.Client(base_url=url, timeout=30) as c:
    for i in range(n + 20):
        t0 = time.perf_counter()
        r = c.post("/query", json={"ksql": f"SELECT * FROM PAGE_TOTALS WHERE PAGE = '{pages[i % 5]}';"})
        r.raise_for_status()
        if i >= 20:  # after the connection and the caches warmed up
            lat.append((time.perf_counter() - t0) * 1000)
print(json.dumps(sorted(lat)))
"""


def pull_from_another_process(url: str, n: int) -> list[float]:
    """Pull latencies seen by a client in its own process (as a ksqlDB client would be): the
    server's threads and the client do not share a GIL."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", PULL_CLIENT, url, str(n)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lat: list[float] = json.loads(proc.stdout)
    return lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--e2e-records", type=int, default=20_000)
    ap.add_argument("--append-results", action="store_true")
    ap.add_argument("--parts", default="12", help="which parts to run: 1, 2 or 12")
    args = ap.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = part1(args.records, args.passes) if "1" in args.parts else []
    lines = [
        "",
        "## Streaming SQL (issue 15)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.sql_bench` on 2 cores shared with other work; load average {load}.",
        f"Part 1: {args.records:,} JSON records through the TopologyTestDriver (no broker), best of {args.passes} alternating passes; "
        "the SQL query as compiled by riverlog.sql against the equivalent hand-written riverlog.streams topology "
        "(the join's hand-written side is a store-lookup processor). Goal ≥ 0.8x. "
        "Rates are the best pass by wall clock and, since the machine is shared, by this process's CPU time (`time.process_time`).",
        "",
        "| query | riverlog.sql | hand-written streams | ratio | ratio in CPU time |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, s, h, cs, ch in rows:
        lines.append(
            f"| {name} | {s:,.0f} rec/s | {h:,.0f} rec/s | {s / h:.2f}x | {cs / ch:.2f}x "
            f"({cs:,.0f} vs {ch:,.0f} rec/CPU-s) |"
        )
    print("\n".join(lines), flush=True)
    if "2" not in args.parts:
        return
    p2 = part2(args.e2e_records)
    lines2 = [
        "",
        "Part 2: one in-process riverlog broker, the SQL server in the same process (REST on hypercorn, HTTP/1.1 and h2c), at_least_once, commit.interval.ms=100, cache 0.",
        "",
        "| measurement | result |",
        "| --- | --- |",
    ]
    n, got, rate = p2["e2e"]
    lines2.append(
        f"| filter/project CSAS end to end ({n:,} produced, {got:,} out) | {rate:,.0f} input rec/s |"
    )
    if "pull" in p2:
        p50, p99, cnt = p2["pull"]
        lines2.append(
            f"| pull query by key on a CTAS table (the query's store through KafkaStreams.store, answered on the REST event loop; client in the same process), {cnt} queries | p50 {p50:.1f} ms, p99 {p99:.1f} ms |"
        )
    if "pull_remote" in p2:
        p50, p99, cnt = p2["pull_remote"]
        lines2.append(
            f"| pull query by key, the same, client in its own process, {cnt} queries | p50 {p50:.1f} ms, p99 {p99:.1f} ms |"
        )
    if "push" in p2:
        p50, p99, cnt = p2["push"]
        lines2.append(
            f"| push query end to end (produce → /query-stream row), {cnt} rows | p50 {p50:.1f} ms, p99 {p99:.1f} ms |"
        )
    print("\n".join(lines2), flush=True)
    if args.append_results:
        with open(Path(__file__).parent / "RESULTS.md", "a") as f:
            f.write("\n".join(lines + lines2) + "\n")


if __name__ == "__main__":
    main()
