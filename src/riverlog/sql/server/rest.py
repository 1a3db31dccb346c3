"""ksqlDB's REST API on Starlette: one handler per route, shapes as ksqlDB's.

Routes: POST /ksql, /query, /query-stream, /close-query, /inserts-stream; GET /info, /healthcheck,
/status, /status/{type}/{entity}/{action}, /clusterStatus; GET /metrics (Prometheus).
"""

from __future__ import annotations

import asyncio
import json
import queue
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, Metric
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from riverlog.common.metrics import FunctionCollector, ServiceMetrics, gauge
from riverlog.sql.errors import SqlError
from riverlog.sql.jsonio import dumps
from riverlog.sql.server.server import VERSION, StatementFailure, error_entity
from riverlog.streams import KafkaStreams

if TYPE_CHECKING:
    from riverlog.sql.server.runtime import TransientQuery
    from riverlog.sql.server.server import SqlServer

KSQL_JSON = "application/vnd.ksql.v1+json"
DELIMITED = "application/vnd.ksqlapi.delimited.v1"


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status_code=status, media_type=KSQL_JSON)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise StatementFailure(error_entity("Request body is not valid JSON", ""), 400) from None
    if not isinstance(data, dict):
        raise StatementFailure(error_entity("Request body must be a JSON object", ""), 400)
    return data


def build_app(server: SqlServer) -> Starlette:
    async def ksql(request: Request) -> Response:
        try:
            body = await _body(request)
            text = body.get("ksql")
            if not isinstance(text, str):
                return _json(error_entity("Missing 'ksql' in the request body", ""), 400)
            props = dict(body.get("streamsProperties") or {})
            variables = dict(body.get("sessionVariables") or {})
            result = await run_in_threadpool(server.execute, text, props, variables)
            return _json(result)
        except StatementFailure as e:
            return _json(e.entity, e.status)

    async def _start(request: Request, text_key: str, props_key: str) -> tuple[str, Any]:
        body = await _body(request)
        text = body.get(text_key)
        if not isinstance(text, str):
            raise StatementFailure(
                error_entity(f"Missing '{text_key}' in the request body", ""), 400
            )
        props = dict(body.get(props_key) or {})
        variables = dict(body.get("sessionVariables") or {})
        try:
            pulled = server.pull_from_store(text, variables)  # a key lookup: no thread hop
            if pulled is not None:
                return "pull", pulled
            return await run_in_threadpool(server.push_or_pull, text, props, variables)
        except SqlError as e:
            raise StatementFailure(error_entity(str(e), text, e.error_code), 400) from None

    async def rows_of(request: Request, tq: TransientQuery) -> AsyncIterator[tuple[str, Any]]:
        """(kind, payload) from a push query until LIMIT, close, error or the client leaves."""
        try:
            while True:
                try:
                    item = tq.rows.get_nowait()
                except queue.Empty:
                    if await request.is_disconnected():
                        return
                    await asyncio.sleep(0.02)
                    continue
                yield item[0], item[1:]
                if item[0] in ("limit", "closed", "error"):
                    return
        finally:
            server.close_transient(tq.id)

    async def query(request: Request) -> Response:
        try:
            kind, result = await _start(request, "ksql", "streamsProperties")
        except StatementFailure as e:
            return _json(e.entity, e.status)
        if kind == "print":
            return _print_response(request, server, result)
        if kind == "pull":
            columns, rows = result
            header = {
                "header": {
                    "queryId": "query_" + str(int(time.time() * 1000)),
                    "schema": _schema(columns),
                }
            }
            parts = [dumps(header)] + [dumps({"row": {"columns": r}}) for r in rows]
            return Response("[" + ",\n".join(parts) + "]", media_type="application/json")
        tq: TransientQuery = result

        async def stream() -> AsyncIterator[str]:
            yield "[" + dumps({"header": {"queryId": tq.id, "schema": _schema(tq.columns())}})
            async for k, payload in rows_of(request, tq):
                if k == "row":
                    row: dict[str, Any] = {"columns": payload[0]}
                    if payload[1]:
                        row["tombstone"] = True
                    yield ",\n" + dumps({"row": row})
                elif k == "limit":
                    yield ",\n" + dumps({"finalMessage": "Limit Reached"})
                elif k == "error":
                    yield ",\n" + dumps({"errorMessage": {"message": payload[0]}})
            yield "]\n"

        return StreamingResponse(stream(), media_type="application/json")

    async def query_stream(request: Request) -> Response:
        try:
            kind, result = await _start(request, "sql", "properties")
        except StatementFailure as e:
            return JSONResponse(_api_error(e.entity), status_code=e.status)
        if kind == "print":
            return JSONResponse(
                {
                    "@type": "generic_error",
                    "error_code": 40000,
                    "message": "PRINT is only available on /query",
                },
                status_code=400,
            )
        as_json = "application/json" in request.headers.get(
            "accept", ""
        ) and DELIMITED not in request.headers.get("accept", "")
        if kind == "pull":
            columns, rows = result
            meta = _metadata("", columns)
            if as_json:
                return Response(dumps([meta, *rows]), media_type="application/json")
            return Response("".join(dumps(x) + "\n" for x in [meta, *rows]), media_type=DELIMITED)
        tq: TransientQuery = result
        meta = _metadata(tq.id, tq.columns())

        async def stream() -> AsyncIterator[str]:
            yield ("[" + dumps(meta)) if as_json else dumps(meta) + "\n"
            async for k, payload in rows_of(request, tq):
                if k == "row":
                    yield ("," + dumps(payload[0])) if as_json else dumps(payload[0]) + "\n"
                elif k == "error":
                    err = {"@type": "generic_error", "error_code": 50000, "message": payload[0]}
                    yield ("," + dumps(err)) if as_json else dumps(err) + "\n"
            if as_json:
                yield "]"

        return StreamingResponse(stream(), media_type="application/json" if as_json else DELIMITED)

    async def close_query(request: Request) -> Response:
        body = await request.json()
        qid = str(body.get("queryId", ""))
        if not server.close_transient(qid):
            return JSONResponse(
                {
                    "@type": "generic_error",
                    "error_code": 40400,
                    "message": f"No query with id {qid}",
                },
                status_code=400,
            )
        return Response(status_code=200)

    async def inserts_stream(request: Request) -> Response:
        raw = (await request.body()).decode()
        lines = [line for line in raw.splitlines() if line.strip()]
        if not lines:
            return JSONResponse(
                {"@type": "generic_error", "error_code": 40000, "message": "No target"},
                status_code=400,
            )
        try:
            target = json.loads(lines[0])["target"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse(
                {
                    "@type": "generic_error",
                    "error_code": 40000,
                    "message": "Invalid JSON in inserts stream",
                },
                status_code=400,
            )
        acks = []
        for seq, line in enumerate(lines[1:]):
            try:
                await run_in_threadpool(server.insert_row, str(target), json.loads(line))
                acks.append({"status": "ok", "seq": seq})
            except (SqlError, ValueError) as e:
                acks.append({"status": "error", "seq": seq, "error_code": 40000, "message": str(e)})
        return Response("".join(json.dumps(a) + "\n" for a in acks), media_type=DELIMITED)

    async def info(_request: Request) -> Response:
        cluster = await run_in_threadpool(_cluster_id, server)
        return JSONResponse(
            {
                "KsqlServerInfo": {
                    "version": VERSION,
                    "kafkaClusterId": cluster,
                    "ksqlServiceId": server.service_id,
                    "serverStatus": "RUNNING",
                }
            }
        )

    async def healthcheck(_request: Request) -> Response:
        kafka_ok = bool(await run_in_threadpool(_cluster_id, server))
        healthy = kafka_ok
        body = {
            "isHealthy": healthy,
            "details": {
                "metastore": {"isHealthy": True},
                "kafka": {"isHealthy": kafka_ok},
                "commandRunner": {"isHealthy": True},
            },
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def status(_request: Request) -> Response:
        return JSONResponse(
            {"commandStatuses": {k: v["status"] for k, v in server.statuses.items()}}
        )

    async def status_one(request: Request) -> Response:
        p = request.path_params
        command_id = f"{p['type']}/{p['entity']}/{p['action']}"
        found = server.statuses.get(command_id)
        if found is None:
            return JSONResponse(
                {
                    "@type": "generic_error",
                    "error_code": 40400,
                    "message": f"Command not found: {command_id}",
                },
                status_code=404,
            )
        return JSONResponse(found)

    async def cluster_status(_request: Request) -> Response:
        now = int(time.time() * 1000)
        host = f"{server.host if server.host not in ('0.0.0.0', '') else 'localhost'}:{server.port}"
        return JSONResponse(
            {
                "clusterStatus": {
                    host: {
                        "hostAlive": True,
                        "lastStatusUpdateMs": now,
                        "activeStandbyPerQuery": {
                            q.id: {
                                "activeStores": [],
                                "activePartitions": [],
                                "standByStores": [],
                                "standByPartitions": [],
                            }
                            for q in server.engine.queries.values()
                        },
                        "hostStoreLags": {"stateStoreLags": {}, "updateTimeMs": now},
                    }
                }
            }
        )

    routes = [
        Route("/ksql", ksql, methods=["POST"]),
        Route("/query", query, methods=["POST"]),
        Route("/query-stream", query_stream, methods=["POST"]),
        Route("/close-query", close_query, methods=["POST"]),
        Route("/inserts-stream", inserts_stream, methods=["POST"]),
        Route("/info", info, methods=["GET"]),
        Route("/healthcheck", healthcheck, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/status/{type}/{entity:path}/{action}", status_one, methods=["GET"]),
        Route("/clusterStatus", cluster_status, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    metrics = ServiceMetrics("ksql_rest_request", FunctionCollector(lambda: _metrics(server)))
    return metrics.install(app)


def _metrics(server: SqlServer) -> Iterator[Metric]:
    """ksqlDB's engine metrics (ksql-engine-query-stats) and per-query messages, Prometheus-named."""
    prefix = "ksql_ksql_engine_query_stats_"
    queries = list(server.engine.queries.values())
    states = [q.state for q in queries]
    yield gauge(prefix + "num_persistent_queries", "Persistent queries", len(queries))
    yield gauge(prefix + "running_queries", "Persistent queries running", states.count("RUNNING"))
    yield gauge(prefix + "error_queries", "Persistent queries in ERROR", states.count("ERROR"))
    yield gauge(
        prefix + "num_active_queries",
        "Persistent and push queries",
        len(queries) + len(server.transient),
    )
    consumed = CounterMetricFamily(
        "ksql_query_messages_consumed",
        "Records a persistent query consumed (process-total)",
        labels=["query_id"],
    )
    produced = CounterMetricFamily(
        "ksql_query_messages_produced",
        "Records a persistent query produced to its sink (record-send-total)",
        labels=["query_id"],
    )
    total_in = total_out = 0.0
    for q in queries:
        numbers = q.handle.metrics() if isinstance(q.handle, KafkaStreams) else {}
        n_in, n_out = numbers.get("process-total", 0.0), numbers.get("record-send-total", 0.0)
        consumed.add_metric([q.id], n_in)
        produced.add_metric([q.id], n_out)
        total_in, total_out = total_in + n_in, total_out + n_out
    yield consumed
    yield produced
    yield gauge(
        prefix + "messages_consumed_total", "Records consumed by persistent queries", total_in
    )
    yield gauge(
        prefix + "messages_produced_total", "Records produced by persistent queries", total_out
    )


def _print_response(request: Request, server: SqlServer, stmt: Any) -> Response:
    import threading

    from riverlog.sql.server.printer import print_topic

    stop = threading.Event()
    lines = print_topic(server.bootstrap, stmt, stop)

    async def stream() -> AsyncIterator[str]:
        try:
            while True:
                line = await run_in_threadpool(next, lines, None)
                if line is None:
                    return
                yield line
                if await request.is_disconnected():
                    return
        finally:
            stop.set()

    return StreamingResponse(stream(), media_type="text/plain")


def _schema(columns: list[tuple[str, str]]) -> str:
    return ", ".join(f"`{n}` {t}" for n, t in columns)


def _metadata(query_id: str, columns: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "queryId": query_id,
        "columnNames": [n for n, _ in columns],
        "columnTypes": [t for _, t in columns],
    }


def _api_error(entity: dict[str, Any]) -> dict[str, Any]:
    return {
        "@type": "generic_error",
        "error_code": entity.get("error_code", 40001),
        "message": entity.get("message"),
    }


def _cluster_id(server: SqlServer) -> str:
    try:
        return server.kafka.cluster_id()
    except Exception:
        return ""
