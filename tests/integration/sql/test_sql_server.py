"""The SQL server over REST with a real broker: statements, persistent queries writing real topics
(read back with confluent-kafka), pull and push queries, inserts, and the status endpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
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
            "ksql.service.id": f"it_{uuid.uuid4().hex[:6]}_",
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


def read_topic(
    broker: RunningBroker, topic: str, n: int, timeout_s: float = 60
) -> list[tuple[Any, Any]]:
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"read-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([topic])
    out: list[tuple[Any, Any]] = []
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


def test_ddl_csas_writes_the_sink_topic(client: httpx.Client, broker: RunningBroker) -> None:
    result = ksql(
        client,
        "CREATE STREAM ORDERS (ID BIGINT KEY, ITEM STRING, QTY INT) WITH (kafka_topic='orders', value_format='JSON', partitions=1);",
    )
    assert result[0]["@type"] == "currentStatus"
    assert result[0]["commandStatus"] == {
        "status": "SUCCESS",
        "message": "Stream created",
        "queryId": None,
    }
    result = ksql(
        client,
        "CREATE STREAM BIG AS SELECT ID, UCASE(ITEM) AS ITEM, QTY FROM ORDERS WHERE QTY > 1;",
    )
    query_id = result[0]["commandStatus"]["queryId"]
    assert query_id.startswith("CSAS_BIG_")
    ksql(client, "INSERT INTO ORDERS (ID, ITEM, QTY) VALUES (1, 'apple', 5);")
    ksql(client, "INSERT INTO ORDERS (ID, ITEM, QTY) VALUES (2, 'pear', 1);")
    ksql(client, "INSERT INTO ORDERS (ID, ITEM, QTY) VALUES (3, 'fig', 2);")
    rows = read_topic(broker, "BIG", 2)
    assert [v for _k, v in rows] == [{"ITEM": "APPLE", "QTY": 5}, {"ITEM": "FIG", "QTY": 2}]
    assert rows[0][0] == (1).to_bytes(8, "big")  # KAFKA key format: Kafka's LongSerializer
    queries = ksql(client, "SHOW QUERIES;")[0]["queries"]
    assert [q["id"] for q in queries if q["sinks"] == ["BIG"]] == [query_id]
    streams = ksql(client, "SHOW STREAMS;")[0]["streams"]
    assert {
        "type": "STREAM",
        "name": "BIG",
        "topic": "BIG",
        "keyFormat": "KAFKA",
        "valueFormat": "JSON",
        "isWindowed": False,
    } in streams
    desc = ksql(client, "DESCRIBE BIG;")[0]["sourceDescription"]
    assert [f["name"] for f in desc["fields"]] == ["ID", "ITEM", "QTY"] and desc["fields"][0][
        "type"
    ] == "KEY"


def test_ctas_pull_and_push_queries(client: httpx.Client, broker: RunningBroker) -> None:
    ksql(
        client,
        "CREATE STREAM CLICKS (USERID STRING KEY, PAGE STRING) WITH (kafka_topic='clicks', value_format='JSON', partitions=1);",
    )
    ksql(client, "CREATE TABLE PER_PAGE AS SELECT PAGE, COUNT(*) AS N FROM CLICKS GROUP BY PAGE;")
    for user, page in [("u1", "home"), ("u2", "home"), ("u1", "cart")]:
        ksql(client, f"INSERT INTO CLICKS (USERID, PAGE) VALUES ('{user}', '{page}');")
    final: dict[str, int] = {}
    for k, v in read_topic(broker, "PER_PAGE", 3):
        final[k.decode()] = v["N"]
    assert final == {"home": 2, "cart": 1}
    # pull query by key, and a scan
    r = client.post("/query", json={"ksql": "SELECT * FROM PER_PAGE WHERE PAGE = 'home';"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body[0]["header"]["schema"] == "`PAGE` STRING, `N` BIGINT"
    assert [x["row"]["columns"] for x in body[1:]] == [["home", 2]]
    r = client.post(
        "/query-stream",
        json={"sql": "SELECT PAGE, N FROM PER_PAGE;"},
        headers={"Accept": "application/json"},
    )
    rows = r.json()
    assert rows[0]["columnNames"] == ["PAGE", "N"] and sorted(rows[1:]) == [
        ["cart", 1],
        ["home", 2],
    ]
    # push query from the beginning, until LIMIT
    lines = []
    body_json = {
        "ksql": "SELECT USERID, PAGE FROM CLICKS EMIT CHANGES LIMIT 3;",
        "streamsProperties": {"ksql.streams.auto.offset.reset": "earliest"},
    }
    with client.stream("POST", "/query", json=body_json) as resp:
        for line in resp.iter_lines():
            lines.append(line)
    text = "".join(lines)
    data = json.loads(text)
    assert [x["row"]["columns"] for x in data[1:4]] == [
        ["u1", "home"],
        ["u2", "home"],
        ["u1", "cart"],
    ]
    assert data[-1] == {"finalMessage": "Limit Reached"}


def test_inserts_stream_and_query_stream_push(client: httpx.Client, broker: RunningBroker) -> None:
    ksql(
        client,
        "CREATE STREAM EVENTS (ID INT KEY, NAME STRING) WITH (kafka_topic='events', value_format='JSON', partitions=1);",
    )
    body = (
        json.dumps({"target": "EVENTS"})
        + "\n"
        + json.dumps({"ID": 1, "NAME": "a"})
        + "\n"
        + json.dumps({"ID": 2, "NAME": "b"})
        + "\n"
    )
    r = client.post("/inserts-stream", content=body)
    assert [json.loads(x) for x in r.text.splitlines()] == [
        {"status": "ok", "seq": 0},
        {"status": "ok", "seq": 1},
    ]
    got = []
    req = {
        "sql": "SELECT * FROM EVENTS EMIT CHANGES LIMIT 2;",
        "properties": {"auto.offset.reset": "earliest"},
    }
    with client.stream("POST", "/query-stream", json=req) as resp:
        assert resp.headers["content-type"].startswith("application/vnd.ksqlapi.delimited.v1")
        for line in resp.iter_lines():
            if line.strip():
                got.append(json.loads(line))
    assert got[0]["columnNames"] == ["ID", "NAME"]
    assert got[1:] == [[1, "a"], [2, "b"]]


def test_errors_and_status_endpoints(client: httpx.Client, server: SqlServer) -> None:
    r = client.post("/ksql", json={"ksql": "SELECT * FRM X;"})
    assert r.status_code == 400
    err = r.json()
    assert err["@type"] == "statement_error" and err["error_code"] == 40001
    assert err["message"].startswith("line 1:10: Syntax Error")
    r = client.post("/ksql", json={"ksql": "DESCRIBE NOPE;"})
    assert r.status_code == 400 and "NOPE" in r.json()["message"]
    info = client.get("/info").json()["KsqlServerInfo"]
    assert info["ksqlServiceId"] == server.service_id and info["serverStatus"] == "RUNNING"
    assert client.get("/healthcheck").json()["isHealthy"] is True
    statuses = client.get("/status").json()["commandStatuses"]
    assert statuses.get("stream/`ORDERS`/create") == "SUCCESS"
    one = client.get("/status/stream/`ORDERS`/create").json()
    assert one["status"] == "SUCCESS"
    cluster = client.get("/clusterStatus").json()["clusterStatus"]
    assert next(iter(cluster.values()))["hostAlive"] is True
    topics = ksql(client, "SHOW TOPICS;")[0]["topics"]
    assert any(t["name"] == "orders" for t in topics)
    fns = ksql(client, "SHOW FUNCTIONS;")[0]["functions"]
    assert {"name": "UCASE", "type": "SCALAR", "category": "STRING"} in fns


def test_command_topic_holds_the_commands(
    server: SqlServer, broker: RunningBroker, tmp_path: Path
) -> None:
    commands = server.commands.read_all()
    assert commands[0].command_id == "stream/`ORDERS`/create"
    assert commands[0].statement.startswith("CREATE STREAM ORDERS")
    assert server.commands.topic == f"_confluent-ksql-{server.service_id}_command_topic"
    del broker, tmp_path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riverlog", *args],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "src")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_shell_runs_statements_with_variables_and_scripts(
    server: SqlServer, tmp_path: Path
) -> None:
    script = tmp_path / "setup.sql"
    script.write_text(
        "DEFINE topic = 'shell_topic';\n"
        "CREATE STREAM SHELL_S (ID INT KEY, V STRING)\n"
        "  WITH (kafka_topic='${topic}', value_format='JSON', partitions=1);\n"
    )
    done = _cli("sql", "--server", server.url, "-f", str(script))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Stream created" in done.stdout
    done = _cli("sql", "--server", server.url, "-e", f"RUN SCRIPT '{tmp_path / 'none.sql'}';")
    assert done.returncode == 1
    done = _cli("sql", "--server", server.url, "-e", "SHOW STREAMS; DESCRIBE SHELL_S;")
    assert done.returncode == 0, done.stderr
    assert "SHELL_S" in done.stdout and "shell_topic" in done.stdout
    assert "| ID" in done.stdout
    done = _cli("sql", "--server", server.url, "-e", "SELECT * FRM X;")
    assert done.returncode == 1 and "line 1:10: Syntax Error" in done.stdout


def test_server_config_rejects_unknown_keys() -> None:
    done = _cli("sql", "server", "--set", "ksql.no.such.key=1")
    assert done.returncode == 1
    assert "ksql.no.such.key" in done.stderr and "Traceback" not in done.stderr


def test_print_and_explain(client: httpx.Client) -> None:
    lines = []
    with client.stream(
        "POST", "/query", json={"ksql": "PRINT 'orders' FROM BEGINNING LIMIT 2;"}
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.strip():
                lines.append(line)
    assert (
        lines[0] == "Key format: KAFKA_BIGINT or KAFKA_DOUBLE" and lines[1] == "Value format: JSON"
    )
    assert lines[2].startswith("rowtime: ") and 'value: {"ITEM":"apple","QTY":5}' in lines[2]
    assert len(lines) == 4
    r = client.post("/query", json={"ksql": "PRINT 'no_such_topic';"})
    assert r.status_code == 400 and "no_such_topic" in r.json()["message"]
    plan = ksql(client, "EXPLAIN CREATE STREAM X AS SELECT ID, QTY FROM ORDERS WHERE QTY > 3;")[0]
    assert plan["@type"] == "queryDescription"
    assert "KSTREAM-SOURCE" in plan["queryDescription"]["topology"]
    assert [f["name"] for f in plan["queryDescription"]["fields"]] == ["ID", "QTY"]
    queries = ksql(client, "SHOW QUERIES;")[0]["queries"]
    qid = next(q["id"] for q in queries if q["sinks"] == ["BIG"])
    described = ksql(client, f"EXPLAIN {qid};")[0]["queryDescription"]
    assert described["id"] == qid and described["state"] == "RUNNING"


def test_undeserializable_records_go_to_the_processing_log(
    client: httpx.Client, server: SqlServer, broker: RunningBroker
) -> None:
    from confluent_kafka import Producer

    ksql(
        client,
        "CREATE STREAM RAW (ID INT KEY, V INT) WITH (kafka_topic='raw', value_format='JSON', partitions=1);",
    )
    ksql(client, "CREATE STREAM CLEAN AS SELECT ID, V FROM RAW;")
    p = Producer({"bootstrap.servers": broker.bootstrap_servers})
    p.produce("raw", key=(1).to_bytes(4, "big"), value=b"not json")
    p.produce("raw", key=(2).to_bytes(4, "big"), value=b'{"V": 2}')
    p.flush(10)
    assert [v for _k, v in read_topic(broker, "CLEAN", 1)] == [{"V": 2}]
    deadline = time.monotonic() + 30
    rows: list[Any] = []
    while not rows and time.monotonic() < deadline:
        r = client.post("/query", json={"ksql": "SELECT MESSAGE FROM KSQL_PROCESSING_LOG;"})
        assert r.status_code == 200, r.text
        rows = [x["row"]["columns"][0] for x in r.json()[1:]]
        time.sleep(0.3)
    errors = [m["DESERIALIZATIONERROR"] for m in rows if m["DESERIALIZATIONERROR"]]
    assert any(
        e["topic"] == "raw" and "Failed to deserialize value" in e["errorMessage"] for e in errors
    )
    assert ksql(client, "SHOW QUERIES;")[0]["queries"][-1]["state"] == "RUNNING"


def test_a_second_server_with_the_same_service_id_follows_the_commands(
    server: SqlServer, client: httpx.Client, broker: RunningBroker, tmp_path: Path
) -> None:
    second = SqlServer(
        {
            "listeners": "http://127.0.0.1:0",
            "bootstrap.servers": broker.bootstrap_servers,
            "ksql.service.id": server.service_id,
            "ksql.streams.state.dir": str(tmp_path / "state2"),
        }
    )
    second.start()
    try:
        with httpx.Client(base_url=second.url, timeout=60) as c2:
            before = {
                s["name"]
                for s in c2.post("/ksql", json={"ksql": "SHOW STREAMS;"}).json()[0]["streams"]
            }
            assert "ORDERS" in before  # replayed at start
            ksql(
                client,
                "CREATE STREAM LATE_ARRIVAL (ID INT KEY) WITH (kafka_topic='late', value_format='JSON', partitions=1);",
            )
            deadline = time.monotonic() + 30
            names: set[str] = set()
            while "LATE_ARRIVAL" not in names and time.monotonic() < deadline:
                names = {
                    s["name"]
                    for s in c2.post("/ksql", json={"ksql": "SHOW STREAMS;"}).json()[0]["streams"]
                }
                time.sleep(0.2)
            assert "LATE_ARRIVAL" in names
            ids_first = sorted(q["id"] for q in ksql(client, "SHOW QUERIES;")[0]["queries"])
            ids_second = sorted(
                q["id"]
                for q in c2.post("/ksql", json={"ksql": "SHOW QUERIES;"}).json()[0]["queries"]
            )
            assert ids_first == ids_second
    finally:
        second.stop()


def test_query_stream_over_http2(server: SqlServer) -> None:
    with httpx.Client(base_url=server.url, http1=False, http2=True, timeout=60) as h2:
        r = h2.post(
            "/query-stream",
            json={"sql": "SELECT ID, ITEM FROM ORDERS WHERE ID = 1;"},
            headers={"Accept": "application/json"},
        )
        assert r.http_version == "HTTP/2"
        assert r.json()[1:] == [[1, "apple"]]
        rows = []
        req = {
            "sql": "SELECT ID FROM ORDERS EMIT CHANGES LIMIT 2;",
            "properties": {"auto.offset.reset": "earliest"},
        }
        with h2.stream("POST", "/query-stream", json=req) as resp:
            assert resp.http_version == "HTTP/2"
            for line in resp.iter_lines():
                if line.strip():
                    rows.append(json.loads(line))
        assert rows[1:] == [[1], [2]]


def test_pull_query_on_a_windowed_table(client: httpx.Client) -> None:
    ksql(
        client,
        "CREATE STREAM TEMPS (SENSOR STRING KEY, T DOUBLE) WITH (kafka_topic='temps', value_format='JSON', partitions=1);",
    )
    ksql(
        client,
        "CREATE TABLE AVG_TEMP AS SELECT SENSOR, AVG(T) AS A FROM TEMPS WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY SENSOR;",
    )
    for t in (10.0, 20.0):
        ksql(client, f"INSERT INTO TEMPS (SENSOR, T, ROWTIME) VALUES ('s1', {t}, 1000);")
    deadline = time.monotonic() + 30
    rows: list[Any] = []
    while rows != [["s1", 0, 3_600_000, 15.0]] and time.monotonic() < deadline:
        r = client.post(
            "/query",
            json={
                "ksql": "SELECT SENSOR, WINDOWSTART, WINDOWEND, A FROM AVG_TEMP WHERE SENSOR = 's1';"
            },
        )
        assert r.status_code == 200, r.text
        rows = [x["row"]["columns"] for x in r.json()[1:]]
        time.sleep(0.2)
    assert rows == [["s1", 0, 3_600_000, 15.0]]


def test_metrics_count_queries_and_messages(client: httpx.Client, server: SqlServer) -> None:
    from riverlog.testing.scrape import scrape, value

    prefix = "ksql_ksql_engine_query_stats_"
    before = scrape(server.url)
    assert value(before, "process_cpu_seconds_total") > 0
    ksql(
        client,
        "CREATE STREAM METER_IN (ID BIGINT KEY, QTY INT) WITH (kafka_topic='meter_in', value_format='JSON', partitions=1);",
    )
    result = ksql(client, "CREATE STREAM METER_OUT AS SELECT ID, QTY FROM METER_IN WHERE QTY > 1;")
    query_id = result[0]["commandStatus"]["queryId"]
    for i, qty in enumerate((5, 1, 2)):
        ksql(client, f"INSERT INTO METER_IN (ID, QTY) VALUES ({i}, {qty});")

    def moved() -> dict[Any, float] | None:
        now = scrape(server.url)
        done = value(now, "ksql_query_messages_produced_total", query_id=query_id) == 2
        return now if done else None

    deadline = time.monotonic() + 60
    after = moved()
    while after is None and time.monotonic() < deadline:
        time.sleep(0.2)
        after = moved()
    assert after is not None, "per-query produced count never reached 2"
    assert value(after, "ksql_query_messages_consumed_total", query_id=query_id) == 3
    for name in ("num_persistent_queries", "running_queries"):
        assert value(after, prefix + name) == value(before, prefix + name) + 1
    assert value(after, prefix + "messages_produced_total") >= 2
    assert value(after, "ksql_rest_request_total", method="POST", status="200") > value(
        before, "ksql_rest_request_total", method="POST", status="200"
    )
