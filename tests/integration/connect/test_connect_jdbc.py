"""JDBC source and sink against a real PostgreSQL (a throwaway cluster) and SQLite, through a standalone
worker on a real broker; connectors created over REST."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka import Consumer, Producer

from riverlog.connect.standalone import ConnectStandalone
from riverlog.testing.broker import RunningBroker
from riverlog.testing.postgres import RunningPostgres
from riverlog.testing.waiting import wait_until


@pytest.fixture(scope="module")
def pg() -> Iterator[RunningPostgres]:
    with RunningPostgres() as running:
        yield running


@pytest.fixture(scope="module")
def worker(
    broker: RunningBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectStandalone]:
    tmp = tmp_path_factory.mktemp("connect")
    props = {
        "bootstrap.servers": broker.bootstrap_servers,
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "offset.storage.file.filename": str(tmp / "offsets"),
        "offset.flush.interval.ms": "200",
        "listeners": "http://127.0.0.1:0",
    }
    with ConnectStandalone(props) as running:
        yield running


def consume(broker: RunningBroker, topic: str, count: int) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"check-{topic}-{time.monotonic()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + 30
    while len(out) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            out.append(msg)
    consumer.close()
    return out


def test_postgres_incrementing_source(
    worker: ConnectStandalone, broker: RunningBroker, pg: RunningPostgres, tmp_path: Path
) -> None:
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT NOT NULL, amount NUMERIC(10,2), joined DATE)"
        )
        for i in range(50):
            conn.execute(
                "INSERT INTO users (name, amount, joined) VALUES (%s, %s, %s)",
                (f"u{i}", f"{i}.50", "2024-01-02"),
            )
    url = f"jdbc:postgresql://127.0.0.1:{pg.port}/postgres"
    config = {
        "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        "connection.url": url,
        "connection.user": "postgres",
        "mode": "incrementing",
        "incrementing.column.name": "id",
        "table.whitelist": "users",
        "topic.prefix": "pg-",
        "poll.interval.ms": "200",
        "batch.max.rows": "20",
    }
    r = httpx.post(f"{worker.url}/connectors", json={"name": "pg-src", "config": config})
    assert r.status_code == 201, r.text
    msgs = consume(broker, "pg-users", 50)
    assert len(msgs) == 50
    first = json.loads(msgs[0].value())
    assert first["schema"] == {
        "type": "struct",
        "fields": [
            {"type": "int32", "optional": False, "field": "id"},
            {"type": "string", "optional": False, "field": "name"},
            {
                "type": "bytes",
                "optional": True,
                "name": "org.apache.kafka.connect.data.Decimal",
                "version": 1,
                "parameters": {"scale": "2"},
                "field": "amount",
            },
            {
                "type": "int32",
                "optional": True,
                "name": "org.apache.kafka.connect.data.Date",
                "version": 1,
                "field": "joined",
            },
        ],
        "optional": False,
        "name": "users",
    }
    assert (
        first["payload"]["id"] == 1
        and first["payload"]["name"] == "u0"
        and first["payload"]["joined"] == 19724
    )
    assert [json.loads(m.value())["payload"]["id"] for m in msgs] == list(range(1, 51))
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO users (name) SELECT 'late' || g FROM generate_series(1, 10) g")
    assert len(consume(broker, "pg-users", 60)) == 60
    expected = {
        "offsets": [
            {
                "partition": {"protocol": "1", "table": "public.users"},
                "offset": {"incrementing": 60},
            }
        ]
    }
    wait_until(lambda: httpx.get(f"{worker.url}/connectors/pg-src/offsets").json() == expected)
    httpx.delete(f"{worker.url}/connectors/pg-src")


USER_KEY = {
    "type": "struct",
    "fields": [{"type": "int32", "optional": False, "field": "id"}],
    "optional": False,
}
USER_VALUE = {
    "type": "struct",
    "fields": [
        {"type": "int32", "optional": False, "field": "id"},
        {"type": "string", "optional": True, "field": "name"},
        {"type": "int64", "optional": True, "field": "score"},
    ],
    "optional": False,
    "name": "user",
}


def user_record(i: int, name: str, score: int) -> tuple[bytes, bytes]:
    key = {"schema": USER_KEY, "payload": {"id": i}}
    value = {"schema": USER_VALUE, "payload": {"id": i, "name": name, "score": score}}
    return json.dumps(key).encode(), json.dumps(value).encode()


def test_postgres_upsert_sink_with_auto_create_and_deletes(
    worker: ConnectStandalone,
    broker: RunningBroker,
    pg: RunningPostgres,
    make_topic: Callable[..., str],
) -> None:
    topic = make_topic(prefix="scores")
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i in range(20):
        k, v = user_record(i, f"n{i}", i)
        producer.produce(topic, key=k, value=v)
    for i in range(5):  # updates of the first five
        k, v = user_record(i, f"n{i}-v2", 100 + i)
        producer.produce(topic, key=k, value=v)
    producer.produce(
        topic, key=json.dumps({"schema": USER_KEY, "payload": {"id": 19}}).encode(), value=None
    )  # delete 19
    producer.flush(10)
    table = topic.replace("-", "_")
    config = {
        "connector.class": "JdbcSinkConnector",
        "connection.url": f"jdbc:postgresql://127.0.0.1:{pg.port}/postgres",
        "connection.user": "postgres",
        "topics": topic,
        "table.name.format": table,
        "insert.mode": "upsert",
        "pk.mode": "record_key",
        "pk.fields": "id",
        "auto.create": "true",
        "delete.enabled": "true",
    }
    r = httpx.post(f"{worker.url}/connectors", json={"name": "pg-sink", "config": config})
    assert r.status_code == 201, r.text

    def rows() -> list[tuple[Any, ...]]:
        with psycopg.connect(pg.dsn) as conn:
            try:
                return conn.execute(f'SELECT id, name, score FROM "{table}" ORDER BY id').fetchall()
            except psycopg.errors.UndefinedTable:
                return []

    wait_until(lambda: len(rows()) == 19 and rows()[0][1] == "n0-v2")
    assert rows()[:5] == [(i, f"n{i}-v2", 100 + i) for i in range(5)]
    assert rows()[5:] == [(i, f"n{i}", i) for i in range(5, 19)]
    httpx.delete(f"{worker.url}/connectors/pg-sink")


def test_invalid_jdbc_config_names_keys(worker: ConnectStandalone) -> None:
    r = httpx.post(
        f"{worker.url}/connectors",
        json={
            "name": "bad-jdbc",
            "config": {
                "connector.class": "JdbcSourceConnector",
                "connection.url": "jdbc:oracle:thin:@x",
                "mode": "incrementing",
                "topic.prefix": "x-",
            },
        },
    )
    assert r.status_code == 400
    assert (
        "connection.url" in r.json()["message"]
        and "Incrementing column name must be set" in r.json()["message"]
    )


def test_sqlite_timestamp_incrementing_source_and_insert_sink(
    worker: ConnectStandalone, broker: RunningBroker, tmp_path: Path, make_topic: Callable[..., str]
) -> None:
    src_db, dst_db = tmp_path / "src.db", tmp_path / "dst.db"
    conn = sqlite3.connect(src_db)
    conn.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at INTEGER NOT NULL)"
    )
    conn.executemany(
        "INSERT INTO events (id, kind, at) VALUES (?, ?, ?)",
        [(i, f"k{i}", 1_700_000_000_000 + i // 2) for i in range(1, 11)],
    )
    conn.commit()
    conn.close()
    config = {
        "connector.class": "JdbcSourceConnector",
        "connection.url": f"jdbc:sqlite:{src_db}",
        "mode": "timestamp+incrementing",
        "timestamp.column.name": "at",
        "incrementing.column.name": "id",
        "topic.prefix": "lite-",
        "poll.interval.ms": "200",
        "batch.max.rows": "3",
    }
    assert (
        httpx.post(
            f"{worker.url}/connectors", json={"name": "lite-src", "config": config}
        ).status_code
        == 201
    )
    msgs = consume(broker, "lite-events", 10)
    assert [json.loads(m.value())["payload"]["id"] for m in msgs] == list(range(1, 11))
    offsets = wait_until(
        lambda: (
            (o := httpx.get(f"{worker.url}/connectors/lite-src/offsets").json()["offsets"])
            and o[0]["offset"].get("incrementing") == 10
            and o
        )
    )
    assert offsets[0]["partition"] == {"protocol": "1", "table": "events"}
    # timestamp_nanos is the fractional second in nanoseconds, as java.sql.Timestamp.getNanos() gives
    assert offsets[0]["offset"] == {
        "incrementing": 10,
        "timestamp": 1_700_000_000_005,
        "timestamp_nanos": 5_000_000,
    }
    sink = {
        "connector.class": "JdbcSinkConnector",
        "connection.url": f"jdbc:sqlite:{dst_db}",
        "topics": "lite-events",
        "table.name.format": "copy_${topic}",
        "auto.create": "true",
        "pk.mode": "kafka",
    }
    assert (
        httpx.post(
            f"{worker.url}/connectors", json={"name": "lite-sink", "config": sink}
        ).status_code
        == 201
    )

    def copied() -> list[tuple[Any, ...]]:
        if not dst_db.exists():
            return []
        with sqlite3.connect(dst_db) as c:
            try:
                return c.execute(
                    'SELECT "__connect_offset", id, kind FROM "copy_lite-events" ORDER BY 1'
                ).fetchall()
            except sqlite3.OperationalError:
                return []

    wait_until(lambda: len(copied()) == 10)
    assert copied() == [(i - 1, i, f"k{i}") for i in range(1, 11)]
    httpx.delete(f"{worker.url}/connectors/lite-src")
    httpx.delete(f"{worker.url}/connectors/lite-sink")


def test_postgres_query_and_bulk_modes_and_sink_evolve_and_update(
    worker: ConnectStandalone,
    broker: RunningBroker,
    pg: RunningPostgres,
    make_topic: Callable[..., str],
) -> None:
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE gantries (id INT PRIMARY KEY, road TEXT NOT NULL, price NUMERIC(6,2) NOT NULL, seen TIMESTAMP NOT NULL)"
        )
        conn.execute(
            "INSERT INTO gantries VALUES (1, 'A1', 2.50, '2024-05-01 10:00:00'), (2, 'A2', 3.10, '2024-05-01 10:00:01'), (3, 'A1', 1.00, '2024-05-01 10:00:02')"
        )
    url = f"jdbc:postgresql://127.0.0.1:{pg.port}/postgres"
    common = {"connection.url": url, "connection.user": "postgres", "poll.interval.ms": "200"}
    # query mode: the query's rows, topic = topic.prefix, partition {"query": "query"}
    query = {
        "connector.class": "JdbcSourceConnector",
        **common,
        "mode": "incrementing",
        "incrementing.column.name": "id",
        "query": "SELECT id, road FROM gantries WHERE road = 'A1'",
        "topic.prefix": "pg-a1-gantries",
    }
    assert (
        httpx.post(
            f"{worker.url}/connectors", json={"name": "pg-query", "config": query}
        ).status_code
        == 201
    )
    rows = [json.loads(m.value())["payload"] for m in consume(broker, "pg-a1-gantries", 2)]
    assert rows == [{"id": 1, "road": "A1"}, {"id": 3, "road": "A1"}]
    wait_until(
        lambda: (
            httpx.get(f"{worker.url}/connectors/pg-query/offsets").json()["offsets"]
            == [{"partition": {"query": "query"}, "offset": {"incrementing": 3}}]
        )
    )
    # bulk mode: the whole table on every poll
    bulk = {
        "connector.class": "JdbcSourceConnector",
        **common,
        "mode": "bulk",
        "table.whitelist": "gantries",
        "topic.prefix": "bulk-",
    }
    assert (
        httpx.post(f"{worker.url}/connectors", json={"name": "pg-bulk", "config": bulk}).status_code
        == 201
    )
    assert len(consume(broker, "bulk-gantries", 6)) == 6  # at least two full passes
    httpx.delete(f"{worker.url}/connectors/pg-bulk")
    httpx.delete(f"{worker.url}/connectors/pg-query")

    # sink: auto.evolve adds a new optional column; insert.mode=update changes existing rows only
    topic = make_topic(prefix="evolve")
    table = topic.replace("-", "_")
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{table}" (id INT PRIMARY KEY, name TEXT)')
        conn.execute(f"INSERT INTO \"{table}\" VALUES (1, 'old'), (2, 'old')")
    value_schema = {
        "type": "struct",
        "fields": [
            {"type": "int32", "optional": False, "field": "id"},
            {"type": "string", "optional": True, "field": "name"},
            {"type": "int64", "optional": True, "field": "score"},
        ],
        "optional": False,
    }
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i, name in ((1, "new"), (3, "absent")):
        producer.produce(
            topic,
            value=json.dumps(
                {"schema": value_schema, "payload": {"id": i, "name": name, "score": 10 * i}}
            ).encode(),
        )
    producer.flush(10)
    sink = {
        "connector.class": "JdbcSinkConnector",
        "connection.url": url,
        "connection.user": "postgres",
        "topics": topic,
        "table.name.format": table,
        "insert.mode": "update",
        "pk.mode": "record_value",
        "pk.fields": "id",
        "auto.evolve": "true",
    }
    assert (
        httpx.post(
            f"{worker.url}/connectors", json={"name": "pg-evolve", "config": sink}
        ).status_code
        == 201
    )

    def table_rows() -> list[tuple[Any, ...]]:
        with psycopg.connect(pg.dsn) as conn:
            try:
                return conn.execute(f'SELECT id, name, score FROM "{table}" ORDER BY id').fetchall()
            except psycopg.errors.UndefinedColumn:
                return []

    wait_until(lambda: table_rows() == [(1, "new", 10), (2, "old", None)])
    httpx.delete(f"{worker.url}/connectors/pg-evolve")


def test_postgres_timestamp_mode(
    worker: ConnectStandalone, broker: RunningBroker, pg: RunningPostgres
) -> None:
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE readings (sensor TEXT NOT NULL, value DOUBLE PRECISION, updated TIMESTAMP NOT NULL)"
        )
        conn.execute(
            "INSERT INTO readings VALUES ('s1', 1.5, '2024-01-01 00:00:01'), ('s2', 2.5, '2024-01-01 00:00:02.250')"
        )
    config = {
        "connector.class": "JdbcSourceConnector",
        "connection.url": f"jdbc:postgresql://127.0.0.1:{pg.port}/postgres",
        "connection.user": "postgres",
        "mode": "timestamp",
        "timestamp.column.name": "updated",
        "table.whitelist": "readings",
        "topic.prefix": "ts-",
        "poll.interval.ms": "200",
    }
    assert (
        httpx.post(f"{worker.url}/connectors", json={"name": "pg-ts", "config": config}).status_code
        == 201
    )
    first = [json.loads(m.value())["payload"] for m in consume(broker, "ts-readings", 2)]
    assert first == [
        {"sensor": "s1", "value": 1.5, "updated": 1704067201000},
        {"sensor": "s2", "value": 2.5, "updated": 1704067202250},
    ]
    with psycopg.connect(
        pg.dsn, autocommit=True
    ) as conn:  # an update moves the row's timestamp: sent again
        conn.execute(
            "UPDATE readings SET value = 9.0, updated = '2024-01-01 00:00:05' WHERE sensor = 's1'"
        )
    again = [json.loads(m.value())["payload"] for m in consume(broker, "ts-readings", 3)]
    assert again[2] == {"sensor": "s1", "value": 9.0, "updated": 1704067205000}
    expected = {
        "offsets": [
            {
                "partition": {"protocol": "1", "table": "public.readings"},
                "offset": {"timestamp": 1704067205000, "timestamp_nanos": 0},
            }
        ]
    }
    wait_until(lambda: httpx.get(f"{worker.url}/connectors/pg-ts/offsets").json() == expected)
    httpx.delete(f"{worker.url}/connectors/pg-ts")
