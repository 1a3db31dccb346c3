"""Pull queries over REST answered from the running queries' stores through riverlog.streams'
interactive queries (`KafkaStreams.store`), with a real broker: key lookups and scans of plain,
tumbling and session aggregations, and the topic scan a table without a running query falls to."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

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
    inline = server.pull_from_store(q, {})
    assert inline is not None and inline[1] == [["home", 3, 14]]
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
    inline = server.pull_from_store(q, {})
    assert inline is not None and sorted(inline[1]) == expected
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
    inline = server.pull_from_store(q, {})
    assert inline is not None and sorted(inline[1]) == expected
    # without a key a session table is read from its topic: same rows
    everything = pull_until(
        client, "SELECT USERID, N FROM VISITS;", [["u1", 2], ["u1", 1], ["u2", 1]]
    )
    assert everything == [["u1", 1], ["u1", 2], ["u2", 1]]


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
