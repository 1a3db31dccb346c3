"""Connect benchmarks (issue 13): FileStreamSource → topic, topic → FileStreamSink, PostgreSQL → topic
(incrementing), topic → PostgreSQL (upsert), REST status latency.

    python -m bench.connect_bench [--lines 200000] [--rows 100000] [--no-write]

The broker is a separate `riverlog broker start` process; the standalone worker runs in this process
(as `riverlog connect standalone` would); PostgreSQL is a throwaway local cluster. Each figure is the
time from creating the connector over REST until the last record is visible at the other end. Figures
are appended to bench/RESULTS.md (measurements, never test assertions).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from riverlog.connect.standalone import ConnectStandalone
from riverlog.testing.broker_process import BrokerProcess
from riverlog.testing.postgres import RunningPostgres

# One client for the status probes: a new one per probe builds an SSL context (~50 ms of CPU under
# load) in the process that also runs the worker.
_HTTP = httpx.Client()


def wait(check: Callable[[], bool], timeout_s: float = 300.0, status: str | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    next_status = time.monotonic() + 1
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        if status is not None and time.monotonic() > next_status:
            next_status = time.monotonic() + 1
            tasks = _HTTP.get(status).json().get("tasks", [])
            failed = [t for t in tasks if t["state"] == "FAILED"]
            if failed:
                raise RuntimeError(f"connector task failed: {failed[0].get('trace', '')[-2000:]}")
        time.sleep(0.05)


_WATERMARK_CONSUMERS: dict[str, Consumer] = {}


def high_watermark(bootstrap: str, topic: str) -> int:
    """The topic's end offset (one long-lived consumer: creating one per probe would load the machine)."""
    c = _WATERMARK_CONSUMERS.get(bootstrap)
    if c is None:
        c = _WATERMARK_CONSUMERS[bootstrap] = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "bench-wm"}
        )
    try:
        return int(c.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)[1])
    except Exception:
        return 0


def compact(doc: Any) -> str:
    """JSON as Kafka's JsonConverter writes it (no spaces)."""
    return json.dumps(doc, separators=(",", ":"))


def create_topic(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(10)


def file_source(url: str, bootstrap: str, tmp: Path, lines: int) -> float:
    path = tmp / "source.txt"
    path.write_text(
        "".join(
            f"line {i:08d} of the benchmark input file, some seventy bytes long\n"
            for i in range(lines)
        )
    )
    create_topic(bootstrap, "bench-file")
    start = time.perf_counter()
    httpx.post(
        f"{url}/connectors",
        json={
            "name": "bench-file-src",
            "config": {
                "connector.class": "FileStreamSource",
                "file": str(path),
                "topic": "bench-file",
                "batch.size": "5000",
            },
        },
    ).raise_for_status()
    wait(
        lambda: high_watermark(bootstrap, "bench-file") >= lines,
        status=f"{url}/connectors/bench-file-src/status",
    )
    elapsed = time.perf_counter() - start
    httpx.delete(f"{url}/connectors/bench-file-src")
    return lines / elapsed


def file_sink(url: str, tmp: Path, lines: int) -> float:
    out = tmp / "sink.txt"
    start = time.perf_counter()
    httpx.post(
        f"{url}/connectors",
        json={
            "name": "bench-file-sink",
            "config": {
                "connector.class": "FileStreamSink",
                "file": str(out),
                "topics": "bench-file",
                "consumer.override.fetch.min.bytes": "1",
            },
        },
    ).raise_for_status()

    def done() -> bool:
        if not out.exists():
            return False
        with out.open("rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")) >= lines

    wait(done, status=f"{url}/connectors/bench-file-sink/status")
    elapsed = time.perf_counter() - start
    httpx.delete(f"{url}/connectors/bench-file-sink")
    return lines / elapsed


def jdbc_source(url: str, bootstrap: str, pg: RunningPostgres, rows: int) -> float:
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE trips (id BIGSERIAL PRIMARY KEY, plate TEXT NOT NULL, gantry INT NOT NULL, amount NUMERIC(8,2), seen TIMESTAMP NOT NULL DEFAULT now())"
        )
        conn.execute(
            "INSERT INTO trips (plate, gantry, amount) SELECT 'AB-' || g, g %% 40, (g %% 1000) / 100.0 FROM generate_series(1, %s) g",
            (rows,),
        )
    create_topic(bootstrap, "pg-trips")
    config = {
        "connector.class": "JdbcSourceConnector",
        "connection.url": f"jdbc:postgresql://127.0.0.1:{pg.port}/postgres",
        "connection.user": "postgres",
        "mode": "incrementing",
        "incrementing.column.name": "id",
        "table.whitelist": "trips",
        "topic.prefix": "pg-",
        "batch.max.rows": "5000",
        "poll.interval.ms": "1000",
    }
    start = time.perf_counter()
    httpx.post(
        f"{url}/connectors", json={"name": "bench-pg-src", "config": config}
    ).raise_for_status()
    wait(
        lambda: high_watermark(bootstrap, "pg-trips") >= rows,
        status=f"{url}/connectors/bench-pg-src/status",
    )
    elapsed = time.perf_counter() - start
    httpx.delete(f"{url}/connectors/bench-pg-src")
    return rows / elapsed


def jdbc_upsert_sink(url: str, bootstrap: str, pg: RunningPostgres, rows: int) -> float:
    key_schema = {
        "type": "struct",
        "fields": [{"type": "int64", "optional": False, "field": "id"}],
        "optional": False,
    }
    value_schema = {
        "type": "struct",
        "fields": [
            {"type": "int64", "optional": False, "field": "id"},
            {"type": "string", "optional": False, "field": "plate"},
            {"type": "double", "optional": True, "field": "amount"},
        ],
        "optional": False,
        "name": "toll",
    }
    create_topic(bootstrap, "tolls")
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for i in range(rows):
        k = compact(
            {"schema": key_schema, "payload": {"id": i % (rows // 2)}}
        )  # half the rows update an earlier one
        v = compact(
            {
                "schema": value_schema,
                "payload": {"id": i % (rows // 2), "plate": f"AB-{i}", "amount": i / 100},
            }
        )
        while True:
            try:
                producer.produce("tolls", key=k.encode(), value=v.encode())
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(60)
    config = {
        "connector.class": "JdbcSinkConnector",
        "connection.url": f"jdbc:postgresql://127.0.0.1:{pg.port}/postgres",
        "connection.user": "postgres",
        "topics": "tolls",
        "insert.mode": "upsert",
        "pk.mode": "record_key",
        "pk.fields": "id",
        "auto.create": "true",
        "consumer.override.max.poll.records": "5000",
    }
    start = time.perf_counter()
    httpx.post(
        f"{url}/connectors", json={"name": "bench-pg-sink", "config": config}
    ).raise_for_status()

    probe = psycopg.connect(pg.dsn, autocommit=True)

    def done() -> bool:
        try:
            row = probe.execute(
                "SELECT plate FROM tolls WHERE id = %s", ((rows - 1) % (rows // 2),)
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return False
        return row is not None and row[0] == f"AB-{rows - 1}"

    wait(done, status=f"{url}/connectors/bench-pg-sink/status")
    elapsed = time.perf_counter() - start
    probe.close()
    httpx.delete(f"{url}/connectors/bench-pg-sink")
    return rows / elapsed


def rest_status(url: str, tmp: Path, requests: int = 2000) -> tuple[float, float]:
    (tmp / "idle.txt").write_text("")
    httpx.post(
        f"{url}/connectors",
        json={
            "name": "bench-status",
            "config": {
                "connector.class": "FileStreamSource",
                "file": str(tmp / "idle.txt"),
                "topic": "bench-idle",
            },
        },
    ).raise_for_status()
    samples = []
    with httpx.Client(base_url=url) as client:
        for _ in range(100):
            client.get("/connectors/bench-status/status")
        for _ in range(requests):
            t = time.perf_counter()
            client.get("/connectors/bench-status/status").raise_for_status()
            samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # Kafka's shipped config/server.properties sets group.initial.rebalance.delay.ms=0; with the
        # broker default (3 s) each sink figure would include a 3 s wait before the first fetch.
        broker = BrokerProcess(
            1, tmp / "broker", zookeeper=None, settings={"group.initial.rebalance.delay.ms": "0"}
        ).start()
        try:
            worker_props = {
                "bootstrap.servers": broker.bootstrap,
                "key.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "offset.storage.file.filename": str(tmp / "offsets"),
                "offset.flush.interval.ms": "10000",
                "listeners": "http://127.0.0.1:0",
            }
            string_props = {
                **worker_props,
                "key.converter": "org.apache.kafka.connect.storage.StringConverter",
                "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            }
            with ConnectStandalone(string_props) as worker:
                results["file_source"] = file_source(worker.url, broker.bootstrap, tmp, args.lines)
                results["file_sink"] = file_sink(worker.url, tmp, args.lines)
                results["status"] = rest_status(worker.url, tmp)
            with (
                RunningPostgres() as pg,
                ConnectStandalone(
                    {**worker_props, "offset.storage.file.filename": str(tmp / "offsets2")}
                ) as worker,
            ):
                results["jdbc_source"] = jdbc_source(worker.url, broker.bootstrap, pg, args.rows)
                results["jdbc_sink"] = jdbc_upsert_sink(worker.url, broker.bootstrap, pg, args.rows)
        finally:
            broker.stop()
    load_after = os.getloadavg()
    p50, p99 = results["status"]
    table = [
        "| metric | measured | goal |",
        "| --- | --- | --- |",
        f"| FileStreamSource → topic ({args.lines:,} lines, StringConverter) | {results['file_source']:,.0f} lines/s | ≥ 200k lines/s |",
        f"| topic → FileStreamSink ({args.lines:,} lines) | {results['file_sink']:,.0f} lines/s | — |",
        f"| PostgreSQL → topic, incrementing ({args.rows:,} rows, batch.max.rows=5000, JsonConverter) | {results['jdbc_source']:,.0f} rows/s | ≥ 50k rows/s |",
        f"| topic → PostgreSQL, upsert ({args.rows:,} records onto {args.rows // 2:,} keys, JsonConverter) | {results['jdbc_sink']:,.0f} rows/s | ≥ 30k rows/s |",
        f"| REST GET /connectors/{{c}}/status (2,000 sequential requests) | p50 {p50:.2f} ms, p99 {p99:.2f} ms | p99 ≤ 10 ms |",
    ]
    text = "\n".join(table)
    print(text, flush=True)
    if not args.no_write:
        header = (
            "\n## Connect (issue 13)\n\n"
            f"Run {started} by `python -m bench.connect_bench` on {os.cpu_count()} cores; load average before "
            f"{' '.join(f'{x:.2f}' for x in load_before)}, after {' '.join(f'{x:.2f}' for x in load_after)}. Broker: a `riverlog broker start` "
            "process; worker: a standalone worker in the bench process; PostgreSQL 15 local (fsync off). Each figure: from the REST create "
            "until the last record is visible at the far end (topic high watermark, file line count, table row).\n\n"
        )
        with open(Path(__file__).with_name("RESULTS.md"), "a") as fh:
            fh.write(header + text + "\n")


if __name__ == "__main__":
    main()
