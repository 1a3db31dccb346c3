"""Connector statements against riverlog Connect's REST API (a standalone worker) on a real broker:
a file source connector created from SQL feeds a stream the server then queries."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from riverlog.connect.standalone import ConnectStandalone
from riverlog.sql.server.server import SqlServer
from riverlog.testing.broker import RunningBroker


@pytest.fixture(scope="module")
def worker(
    broker: RunningBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectStandalone]:
    tmp = tmp_path_factory.mktemp("connect")
    props = {
        "bootstrap.servers": broker.bootstrap_servers,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "offset.storage.file.filename": str(tmp / "offsets"),
        "offset.flush.interval.ms": "200",
        "listeners": "http://127.0.0.1:0",
    }
    with ConnectStandalone(props) as running:
        yield running


@pytest.fixture(scope="module")
def server(
    broker: RunningBroker, worker: ConnectStandalone, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlServer]:
    srv = SqlServer(
        {
            "listeners": "http://127.0.0.1:0",
            "bootstrap.servers": broker.bootstrap_servers,
            "ksql.service.id": f"conn_{uuid.uuid4().hex[:6]}_",
            "ksql.connect.url": worker.url,
            "ksql.streams.state.dir": str(tmp_path_factory.mktemp("sql-state")),
        }
    )
    srv.start()
    yield srv
    srv.stop()


def ksql(url: str, text: str) -> Any:
    r = httpx.post(f"{url}/ksql", json={"ksql": text}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_file_source_connector_from_sql(server: SqlServer, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("alpha\nbeta\n")
    created = ksql(
        server.url,
        f"CREATE SOURCE CONNECTOR lines_src WITH ('connector.class'='FileStreamSource', 'file'='{src}', 'topic'='lines');",
    )[0]
    assert created["@type"] == "connector_info" and created["info"]["name"] == "LINES_SRC"
    listed = ksql(server.url, "SHOW CONNECTORS;")[0]["connectors"]
    assert [c["name"] for c in listed] == ["LINES_SRC"] and listed[0]["type"] == "source"
    desc = ksql(server.url, "DESCRIBE CONNECTOR lines_src;")[0]
    assert desc["@type"] == "connector_description" and desc["connectorClass"] == "FileStreamSource"
    deadline = time.monotonic() + 60
    while "lines" not in server.kafka.list_topics() and time.monotonic() < deadline:
        time.sleep(0.2)
    ksql(
        server.url,
        "CREATE STREAM LINES (LINE STRING) WITH (kafka_topic='lines', value_format='KAFKA');",
    )
    rows: list[Any] = []
    while len(rows) < 2 and time.monotonic() < deadline:
        r = httpx.post(f"{server.url}/query", json={"ksql": "SELECT LINE FROM LINES;"}, timeout=60)
        rows = [x["row"]["columns"] for x in r.json()[1:]]
        time.sleep(0.2)
    assert rows == [["alpha"], ["beta"]]
    dropped = ksql(server.url, "DROP CONNECTOR lines_src;")[0]
    assert dropped == {
        "statementText": "DROP CONNECTOR lines_src;",
        "warnings": [],
        "@type": "drop_connector",
        "connectorName": "LINES_SRC",
    }
    assert ksql(server.url, "SHOW CONNECTORS;")[0]["connectors"] == []
