"""The SQL server over REST with a real broker, continued: pull queries answered from the running
queries' stores through riverlog.streams' interactive queries (`KafkaStreams.store`: key lookups
and scans of plain, tumbling and session aggregations; the topic scan a table without a running
query falls to); stream-stream joins with a grace period and foreign-key table joins on real
topics; ALTER, ASSERT TOPIC, PAUSE/RESUME and a query's ERROR state."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer

from riverlog.sql.server.server import SqlServer
from riverlog.testing.broker import RunningBroker


@pytest.fixture(scope="module")
def server(broker: RunningBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlServer]:
    srv = SqlServer(
        {
            "listeners": "http://127.0.0.1:0",
            "bootstrap.servers": broker.bootstrap_servers,
            "ksql.service.id": f"pull_{uuid.uuid4().hex[:6]}_",
            "ksql.streams.state.dir": str(tmp_path_factory.mktemp("sql-state")),
            "ksql.streams.auto.offset.reset": "earliest",
            "ksql.streams.commit.interval.ms": "200",
            "ksql.streams.cache.max.bytes.buffering": "0",
        }
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: SqlServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def ksql(client: httpx.Client, text: str) -> Any:
    r = client.post("/ksql", json={"ksql": text, "streamsProperties": {}})
    assert r.status_code == 200, r.text
    return r.json()


def pull(client: httpx.Client, text: str) -> list[list[Any]]:
    r = client.post("/query", json={"ksql": text})
    assert r.status_code == 200, r.text
    return [x["row"]["columns"] for x in r.json()[1:]]


def pull_until(client: httpx.Client, text: str, expected: list[list[Any]]) -> list[list[Any]]:
    deadline = time.monotonic() + 30
    rows = pull(client, text)
    while sorted(rows) != sorted(expected) and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = pull(client, text)
    return sorted(rows)


def from_store(server: SqlServer, text: str, expected: list[list[Any]]) -> list[list[Any]] | None:
    """The rows `server.pull_from_store` answers from a running query's store (what the REST
    event loop answers without a worker thread), once they are `expected` — None when it never
    answered (no store: the query's instance may still be rebalancing)."""
    deadline = time.monotonic() + 30
    rows = None
    while time.monotonic() < deadline:
        answer = server.pull_from_store(text, {})
        rows = None if answer is None else sorted(answer[1])
        if rows == sorted(expected):
            break
        time.sleep(0.2)
    return rows


@pytest.fixture(scope="module")
def loaded(client: httpx.Client) -> None:
    ksql(
        client,
        "CREATE STREAM HITS (USERID STRING KEY, PAGE STRING, MS INT) "
        "WITH (kafka_topic='hits', value_format='JSON', partitions=2);",
    )
    ksql(
        client,
        "CREATE TABLE HITS_PER_PAGE AS SELECT PAGE, COUNT(*) AS N, SUM(MS) AS T "
        "FROM HITS GROUP BY PAGE HAVING COUNT(*) > 1;",
    )
    ksql(
        client,
        "CREATE TABLE HITS_HOURLY AS SELECT PAGE, COUNT(*) AS N FROM HITS "
        "WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY PAGE;",
    )
    ksql(
        client,
        "CREATE TABLE VISITS AS SELECT USERID, COUNT(*) AS N FROM HITS "
        "WINDOW SESSION (30 MINUTES) GROUP BY USERID;",
    )
    rows = [
        ("u1", "home", 5, 1_000),
        ("u2", "home", 7, 2_000),
        ("u1", "cart", 1, 3_000),
        ("u1", "home", 2, 3_600_000 + 5_000),
    ]
    for user, page, ms, ts in rows:
        ksql(
            client,
            f"INSERT INTO HITS (USERID, PAGE, MS, ROWTIME) VALUES ('{user}', '{page}', {ms}, {ts});",
        )


def test_key_lookup_and_scan_of_an_aggregation(
    client: httpx.Client, server: SqlServer, loaded: None
) -> None:
    q = "SELECT PAGE, N, T FROM HITS_PER_PAGE WHERE PAGE = 'home';"
    assert pull_until(client, q, [["home", 3, 14]]) == [["home", 3, 14]]
    # answered from the store on the REST event loop, not by reading the topic
    assert from_store(server, q, [["home", 3, 14]]) == [["home", 3, 14]]
    # HAVING applies to what the store holds: 'cart' (one hit) is not in the table
    assert pull(client, "SELECT * FROM HITS_PER_PAGE WHERE PAGE = 'cart';") == []
    assert pull(client, "SELECT PAGE, N FROM HITS_PER_PAGE;") == [["home", 3]]
    assert pull(client, "SELECT PAGE FROM HITS_PER_PAGE WHERE N > 5;") == []


def test_windowed_lookups_and_window_bounds(
    client: httpx.Client, server: SqlServer, loaded: None
) -> None:
    q = "SELECT PAGE, WINDOWSTART, WINDOWEND, N FROM HITS_HOURLY WHERE PAGE = 'home';"
    expected = [["home", 0, 3_600_000, 2], ["home", 3_600_000, 7_200_000, 1]]
    assert pull_until(client, q, expected) == expected
    assert from_store(server, q, expected) == expected
    bounded = pull(
        client,
        "SELECT PAGE, N FROM HITS_HOURLY WHERE PAGE = 'home' AND WINDOWSTART >= 3600000;",
    )
    assert bounded == [["home", 1]]
    everything = pull(client, "SELECT PAGE, WINDOWSTART, N FROM HITS_HOURLY;")
    assert sorted(everything) == [["cart", 0, 1], ["home", 0, 2], ["home", 3_600_000, 1]]


def test_session_lookup_by_key(client: httpx.Client, server: SqlServer, loaded: None) -> None:
    q = "SELECT USERID, WINDOWSTART, WINDOWEND, N FROM VISITS WHERE USERID = 'u1';"
    expected = [["u1", 1_000, 3_000, 2], ["u1", 3_605_000, 3_605_000, 1]]
    assert pull_until(client, q, expected) == expected
    assert from_store(server, q, expected) == expected
    # without a key a session table is read from its topic: same rows
    everything = pull_until(
        client, "SELECT USERID, N FROM VISITS;", [["u1", 2], ["u1", 1], ["u2", 1]]
    )
    assert everything == [["u1", 1], ["u1", 2], ["u2", 1]]


def test_a_ctas_over_a_table_is_read_from_its_source_store(
    client: httpx.Client, server: SqlServer, loaded: None
) -> None:
    ksql(
        client,
        "CREATE TABLE PRICES (ITEM STRING PRIMARY KEY, CENTS INT) "
        "WITH (kafka_topic='prices', value_format='JSON', partitions=2);",
    )
    ksql(
        client,
        "CREATE TABLE DEAR AS SELECT ITEM, CENTS / 100 AS EUROS FROM PRICES WHERE CENTS > 500;",
    )
    for item, cents in [("tea", 300), ("cake", 700), ("wine", 1500), ("cake", 900)]:
        ksql(client, f"INSERT INTO PRICES (ITEM, CENTS) VALUES ('{item}', {cents});")
    q = "SELECT ITEM, EUROS FROM DEAR WHERE ITEM = 'cake';"
    assert pull_until(client, q, [["cake", 9]]) == [["cake", 9]]
    assert from_store(server, q, [["cake", 9]]) == [["cake", 9]]
    assert pull(client, "SELECT * FROM DEAR WHERE ITEM = 'tea';") == []  # filtered by the CTAS
    assert sorted(pull(client, "SELECT ITEM FROM DEAR;")) == [["cake"], ["wine"]]


def test_a_source_table_is_materialized_for_pull_queries(
    client: httpx.Client, server: SqlServer, broker: RunningBroker, loaded: None
) -> None:
    from confluent_kafka import Producer

    out = ksql(
        client,
        "CREATE SOURCE TABLE COUNTRIES (CODE STRING PRIMARY KEY, NAME STRING) "
        "WITH (kafka_topic='countries', value_format='JSON', partitions=2);",
    )
    qid = out[0]["commandStatus"]["queryId"]
    assert qid.startswith("CST_COUNTRIES_")
    p = Producer({"bootstrap.servers": broker.bootstrap_servers, "partitioner": "murmur2_random"})
    for code, name in [("fr", "France"), ("no", "Norway"), ("fr", "République française")]:
        p.produce("countries", key=code.encode(), value=json.dumps({"NAME": name}).encode())
    p.flush(10)
    q = "SELECT * FROM COUNTRIES WHERE CODE = 'fr';"
    expected = [["fr", "République française"]]
    assert pull_until(client, q, expected) == expected
    assert from_store(server, q, expected) == expected  # from the CST query's store
    queries = ksql(client, "SHOW QUERIES;")[0]["queries"]
    cst = next(x for x in queries if x["id"] == qid)
    assert cst["sinks"] == [] and cst["state"] == "RUNNING"
    ksql(client, "DROP TABLE COUNTRIES;")
    assert all(x["id"] != qid for x in ksql(client, "SHOW QUERIES;")[0]["queries"])


def test_a_table_without_a_running_query_is_read_from_its_topic(
    client: httpx.Client, server: SqlServer, loaded: None
) -> None:
    ksql(
        client,
        "CREATE TABLE PAGES (PAGE STRING PRIMARY KEY, TITLE STRING) "
        "WITH (kafka_topic='pages', value_format='JSON', partitions=1);",
    )
    ksql(client, "INSERT INTO PAGES (PAGE, TITLE) VALUES ('home', 'Home');")
    q = "SELECT * FROM PAGES WHERE PAGE = 'home';"
    assert server.pull_from_store(q, {}) is None  # no store: the worker thread scans the topic
    assert pull_until(client, q, [["home", "Home"]]) == [["home", "Home"]]


def read_topic(broker: RunningBroker, topic: str, n: int, timeout_s: float = 60) -> list[Any]:
    """(key bytes, JSON value) of the first `n` records of `topic` (fewer after the timeout)."""
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"read-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error() is not None:
                continue
            out.append((m.key(), None if m.value() is None else json.loads(m.value())))
    finally:
        c.close()
    return out


def test_stream_stream_left_join_with_grace_emits_at_window_close(
    client: httpx.Client, broker: RunningBroker
) -> None:
    ksql(
        client,
        "CREATE STREAM CLICKS (ID INT KEY, URL STRING) "
        "WITH (kafka_topic='clicks', value_format='JSON', partitions=1);",
    )
    ksql(
        client,
        "CREATE STREAM BUYS (ID INT KEY, AMOUNT INT) "
        "WITH (kafka_topic='buys', value_format='JSON', partitions=1);",
    )
    ksql(
        client,
        "CREATE STREAM CONVERSIONS AS SELECT C.ID, URL, AMOUNT FROM CLICKS C "
        "LEFT JOIN BUYS B WITHIN 1 SECOND GRACE PERIOD 1 SECOND ON C.ID = B.ID;",
    )
    ksql(client, "INSERT INTO CLICKS (ID, URL, ROWTIME) VALUES (1, '/a', 10000);")
    ksql(client, "INSERT INTO BUYS (ID, AMOUNT, ROWTIME) VALUES (1, 10, 10500);")
    # the two topics are read independently: let the match happen before time moves on
    assert len(read_topic(broker, "CONVERSIONS", 1)) == 1
    ksql(client, "INSERT INTO CLICKS (ID, URL, ROWTIME) VALUES (2, '/b', 11000);")
    ksql(client, "INSERT INTO CLICKS (ID, URL, ROWTIME) VALUES (3, '/c', 13001);")  # closes 2's
    rows = read_topic(broker, "CONVERSIONS", 2)
    assert rows == [
        (b"\x00\x00\x00\x01", {"URL": "/a", "AMOUNT": 10}),
        (b"\x00\x00\x00\x02", {"URL": "/b", "AMOUNT": None}),
    ]


def test_foreign_key_table_join(client: httpx.Client, broker: RunningBroker) -> None:
    ksql(
        client,
        "CREATE TABLE CUSTOMERS (CID INT PRIMARY KEY, NAME STRING) "
        "WITH (kafka_topic='customers', value_format='JSON', partitions=2);",
    )
    ksql(
        client,
        "CREATE TABLE ORDERS (OID INT PRIMARY KEY, CID INT, TOTAL INT) "
        "WITH (kafka_topic='orders', value_format='JSON', partitions=2);",
    )
    ksql(
        client,
        "CREATE TABLE ORDER_NAMES AS SELECT OID, NAME, TOTAL FROM ORDERS "
        "JOIN CUSTOMERS ON ORDERS.CID = CUSTOMERS.CID;",
    )
    ksql(client, "INSERT INTO CUSTOMERS (CID, NAME) VALUES (7, 'ann');")
    ksql(client, "INSERT INTO ORDERS (OID, CID, TOTAL) VALUES (100, 7, 5);")
    ksql(client, "INSERT INTO ORDERS (OID, CID, TOTAL) VALUES (101, 7, 6);")
    assert len(read_topic(broker, "ORDER_NAMES", 2)) == 2  # both orders joined
    ksql(client, "INSERT INTO CUSTOMERS (CID, NAME) VALUES (7, 'anne');")  # updates both
    rows = read_topic(broker, "ORDER_NAMES", 4)
    final = {int.from_bytes(k, "big"): v for k, v in rows}
    assert final == {100: {"NAME": "anne", "TOTAL": 5}, 101: {"NAME": "anne", "TOTAL": 6}}
    assert sorted(v["NAME"] for _k, v in rows) == ["ann", "ann", "anne", "anne"]


def test_alter_then_insert_and_query_the_new_column(client: httpx.Client) -> None:
    ksql(
        client,
        "CREATE STREAM READINGS (SENSOR STRING KEY, T DOUBLE) "
        "WITH (kafka_topic='readings', value_format='JSON', partitions=1);",
    )
    out = ksql(client, "ALTER STREAM READINGS ADD COLUMN UNIT STRING;")
    assert out[0]["commandStatus"]["message"] == "Stream READINGS altered."
    ksql(client, "INSERT INTO READINGS (SENSOR, T, UNIT) VALUES ('s', 1.5, 'C');")
    described = ksql(client, "DESCRIBE READINGS;")[0]["sourceDescription"]
    assert [f["name"] for f in described["fields"]] == ["SENSOR", "T", "UNIT"]
    r = client.post(
        "/query-stream",
        json={
            "sql": "SELECT UNIT FROM READINGS EMIT CHANGES LIMIT 1;",
            "properties": {"auto.offset.reset": "earliest"},
        },
        headers={"Accept": "application/json"},
    )
    assert r.json()[1:] == [["C"]]


def test_assert_topic(client: httpx.Client) -> None:
    ksql(
        client,
        "CREATE STREAM FOUR (ID INT KEY, V INT) "
        "WITH (kafka_topic='four', value_format='JSON', partitions=4);",
    )
    ok = ksql(client, "ASSERT TOPIC 'four' WITH (PARTITIONS=4, REPLICAS=1);")
    assert ok == [
        {
            "@type": "assert_topic",
            "statementText": "ASSERT TOPIC 'four' WITH (PARTITIONS=4, REPLICAS=1);",
            "topicName": "four",
            "exists": True,
            "warnings": [],
        }
    ]
    assert ksql(client, "ASSERT NOT EXISTS TOPIC 'nope';")[0]["exists"] is False
    r = client.post("/ksql", json={"ksql": "ASSERT TOPIC 'four' WITH (PARTITIONS=3);"})
    assert r.status_code == 417
    assert r.json() == {
        "@type": "generic_error",
        "error_code": 41700,
        "message": "Mismatched configuration for topic four: For config partitions, expected 3 got 4",
    }
    r = client.post("/ksql", json={"ksql": "ASSERT TOPIC 'nope' TIMEOUT 300 MILLISECONDS;"})
    assert r.status_code == 417 and r.json()["message"] == "Topic nope does not exist"


def test_pause_resume_and_error_state(client: httpx.Client, broker: RunningBroker) -> None:
    ksql(
        client,
        "CREATE STREAM WORDS (ID INT KEY, W STRING) "
        "WITH (kafka_topic='words', value_format='JSON', partitions=1);",
    )
    created = ksql(client, "CREATE STREAM LOUD AS SELECT ID, UCASE(W) AS W FROM WORDS;")
    qid = created[0]["commandStatus"]["queryId"]
    ksql(client, "INSERT INTO WORDS (ID, W) VALUES (1, 'a');")
    assert read_topic(broker, "LOUD", 1) == [(b"\x00\x00\x00\x01", {"W": "A"})]

    def state() -> str:
        queries = ksql(client, "SHOW QUERIES;")[0]["queries"]
        return str(next(q["state"] for q in queries if q["id"] == qid))

    ksql(client, f"PAUSE {qid};")
    assert state() == "PAUSED"
    ksql(client, "INSERT INTO WORDS (ID, W) VALUES (2, 'b');")
    assert len(read_topic(broker, "LOUD", 2, timeout_s=3)) == 1  # nothing while paused
    ksql(client, f"RESUME {qid};")
    assert state() == "RUNNING"
    assert read_topic(broker, "LOUD", 2)[1] == (b"\x00\x00\x00\x02", {"W": "B"})
    # a record the sink's broker refuses (over message.max.bytes) fails the query: ERROR
    ksql(client, "CREATE STREAM HUGE AS SELECT ID, LPAD(W, 1200000, 'x') AS W FROM WORDS;")
    ksql(client, "INSERT INTO WORDS (ID, W) VALUES (3, 'c');")
    queries: list[Any] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        queries = ksql(client, "SHOW QUERIES;")[0]["queries"]
        if any(q["sinks"] == ["HUGE"] and q["state"] == "ERROR" for q in queries):
            break
        time.sleep(0.5)
    huge = next(q for q in queries if q["sinks"] == ["HUGE"])
    assert huge["state"] == "ERROR" and huge["statusCount"] == {"ERROR": 1}
    explained = ksql(client, f"EXPLAIN {huge['id']};")[0]["queryDescription"]
    assert explained["state"] == "ERROR"
    error = explained["queryErrors"][0]
    assert error["errorMessage"] and error["timestamp"] > 0 and error["type"] == "UNKNOWN"
