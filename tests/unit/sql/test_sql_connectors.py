"""Connector statements talk Kafka Connect's REST API. Connect itself (issue 13) is on another
branch; this stands in a minimal server with Connect's routes and shapes for the four calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from riverlog.common.service import HttpService
from riverlog.sql.engine import Engine, EngineConfig
from riverlog.sql.errors import SqlNotFoundError, SqlStatementError
from riverlog.sql.qtt import DriverRuntime, MemoryKafka


@pytest.fixture
def connect() -> Iterator[tuple[str, dict[str, Any]]]:
    connectors: dict[str, Any] = {}

    async def create(request: Request) -> Response:
        body = await request.json()
        if body["name"] in connectors:
            return JSONResponse({"error_code": 409, "message": "exists"}, status_code=409)
        kind = "source" if "Source" in body["config"]["connector.class"] else "sink"
        connectors[body["name"]] = {
            "name": body["name"],
            "config": body["config"],
            "tasks": [],
            "type": kind,
        }
        return JSONResponse(connectors[body["name"]], status_code=201)

    async def listing(request: Request) -> Response:
        return JSONResponse(
            {
                n: {
                    "info": c,
                    "status": {"name": n, "connector": {"state": "RUNNING"}, "type": c["type"]},
                }
                for n, c in connectors.items()
            }
        )

    async def one(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in connectors:
            return JSONResponse({"error_code": 404, "message": "not found"}, status_code=404)
        if request.method == "DELETE":
            del connectors[name]
            return Response(status_code=204)
        return JSONResponse(connectors[name])

    async def status(request: Request) -> Response:
        name = request.path_params["name"]
        return JSONResponse({"name": name, "connector": {"state": "RUNNING"}, "tasks": []})

    app = Starlette(
        routes=[
            Route("/connectors", create, methods=["POST"]),
            Route("/connectors", listing, methods=["GET"]),
            Route("/connectors/{name}", one, methods=["GET", "DELETE"]),
            Route("/connectors/{name}/status", status, methods=["GET"]),
        ]
    )
    with HttpService(app, "127.0.0.1", 0, name="connect-standin") as svc:
        yield svc.url, connectors


def test_connector_statements(connect: tuple[str, dict[str, Any]]) -> None:
    url, connectors = connect
    kafka = MemoryKafka()
    engine = Engine(kafka, DriverRuntime(kafka), EngineConfig(connect_url=url))
    out = engine.execute(
        "CREATE SOURCE CONNECTOR gen WITH ('connector.class'='DatagenSource', 'kafka.topic'='pageviews', 'max.interval'=100);"
    )[0]
    assert out["@type"] == "connector_info" and out["info"]["type"] == "source"
    assert connectors["GEN"]["config"] == {
        "connector.class": "DatagenSource",
        "kafka.topic": "pageviews",
        "max.interval": "100",
    }
    again = engine.execute(
        "CREATE SOURCE CONNECTOR IF NOT EXISTS gen WITH ('connector.class'='DatagenSource');"
    )[0]
    assert again["@type"] == "warning_entity"
    listed = engine.execute("SHOW CONNECTORS;")[0]
    assert listed["connectors"] == [
        {"name": "GEN", "type": "source", "className": "DatagenSource", "state": "RUNNING"}
    ]
    assert engine.execute("SHOW SINK CONNECTORS;")[0]["connectors"] == []
    desc = engine.execute("DESCRIBE CONNECTOR gen;")[0]
    assert desc["connectorClass"] == "DatagenSource" and desc["topics"] == ["pageviews"]
    assert engine.execute("DROP CONNECTOR gen;")[0] == {
        "statementText": "DROP CONNECTOR gen;",
        "warnings": [],
        "@type": "drop_connector",
        "connectorName": "GEN",
    }
    with pytest.raises(SqlNotFoundError):
        engine.execute("DROP CONNECTOR gen;")
    assert engine.execute("DROP CONNECTOR IF EXISTS gen;")[0]["@type"] == "warning_entity"


def test_connector_statements_need_the_connect_url() -> None:
    kafka = MemoryKafka()
    engine = Engine(kafka, DriverRuntime(kafka))
    with pytest.raises(SqlStatementError, match="ksql.connect.url"):
        engine.execute("SHOW CONNECTORS;")
