"""The toll lab's page (`/labs/toll`): alerts, account balances and per-gantry charts.

- `POST /labs/toll/alerts` is the toll lab's HTTP sink target: a JSON array of alerts (or one alert)
  per request; the newest `MAX_ALERTS` are kept in memory (a restart forgets them; `toll.alerts`
  keeps them all).
- Balances are the latest value per account of `toll.balances`; the charts come from the SQL
  monitoring table `toll.monitor.gantry_minute` (a windowed key: the gantry id then the window start
  as 8 big-endian bytes, as Kafka Streams' windowed serde writes it).
The console knows these only as topic names and JSON shapes (it imports nothing from the labs).
"""

from __future__ import annotations

import json
import struct
import threading
import time
import uuid
from collections import deque
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from riverlog.console.app import blocking, console_of, render
from riverlog.console.kafka import KafkaGateway

MAX_ALERTS = 1000
MAX_RECORDS = 50_000  # per topic read, newest first
BALANCES = "toll.balances"
GANTRY_MINUTE = "toll.monitor.gantry_minute"
WINDOWS_SHOWN = 60


class AlertInbox:
    """The alerts the HTTP sink posted, newest last."""

    def __init__(self) -> None:
        self._alerts: deque[dict[str, Any]] = deque(maxlen=MAX_ALERTS)
        self._lock = threading.Lock()
        self.received = 0

    def add(self, alerts: list[dict[str, Any]]) -> None:
        with self._lock:
            self._alerts.extend(alerts)
            self.received += len(alerts)

    def newest(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._alerts)[-limit:][::-1]


_inbox_lock = threading.Lock()


def inbox_of(request: Request) -> AlertInbox:
    state = request.app.state
    with _inbox_lock:
        if not hasattr(state, "toll_alerts"):
            state.toll_alerts = AlertInbox()
    inbox: AlertInbox = state.toll_alerts
    return inbox


def read_topic(kafka: KafkaGateway, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """The (key, value) pairs of every partition up to its high watermark (the newest MAX_RECORDS
    of each); empty when the topic does not exist."""
    try:
        marks = kafka.watermarks(topic)
    except Exception:
        return []
    consumer = Consumer(
        {
            **kafka.settings,
            "group.id": f"riverlog-console-toll-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    out: list[tuple[bytes | None, bytes | None]] = []
    try:
        todo = {p: high for p, (low, high) in marks.items() if high > low}
        consumer.assign(
            [
                TopicPartition(topic, p, max(marks[p][0], high - MAX_RECORDS))
                for p, high in todo.items()
            ]
        )
        deadline = time.monotonic() + 10
        while todo and time.monotonic() < deadline:
            for record in consumer.consume(1000, timeout=0.5):
                error = record.error()
                partition = int(record.partition() or 0)
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        todo.pop(partition, None)
                    continue
                out.append((record.key(), record.value()))
                if (record.offset() or 0) + 1 >= todo.get(partition, 0):
                    todo.pop(partition, None)
    finally:
        consumer.close()
    return out


def _json(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def balances(kafka: KafkaGateway, limit: int = 50) -> tuple[int, list[dict[str, Any]]]:
    """(accounts known, the `limit` lowest balances)."""
    latest: dict[bytes, dict[str, Any]] = {}
    for key, value in read_topic(kafka, BALANCES):
        parsed = _json(value)
        if key is None:
            continue
        if isinstance(parsed, dict):
            latest[key] = parsed
        else:
            latest.pop(key, None)  # a tombstone
    rows = sorted(
        latest.values(), key=lambda r: (r.get("balance_cents") or 0, str(r.get("account_id")))
    )
    return len(latest), rows[:limit]


def gantry_series(kafka: KafkaGateway) -> dict[str, dict[int, dict[str, int]]]:
    """gantry id → window start (ms) → {"charges", "revenue_cents"} (the latest row of each)."""
    series: dict[str, dict[int, dict[str, int]]] = {}
    for key, value in read_topic(kafka, GANTRY_MINUTE):
        row = _json(value)
        if key is None or len(key) <= 8 or not isinstance(row, dict):
            continue
        gantry = key[:-8].decode("utf-8", "replace")
        (start,) = struct.unpack(">q", key[-8:])
        upper = {str(k).upper(): v for k, v in row.items()}
        series.setdefault(gantry, {})[start] = {
            "charges": int(upper.get("CHARGES") or 0),
            "revenue_cents": int(upper.get("REVENUE_CENTS") or 0),
        }
    return series


def chart(series: dict[str, dict[int, dict[str, int]]], measure: str) -> dict[str, Any]:
    """uPlot's layout: window starts (s), then one list per gantry (None where it had no charges)."""
    starts = sorted({s for windows in series.values() for s in windows})[-WINDOWS_SHOWN:]
    labels = sorted(series)
    data: list[list[Any]] = [[s / 1000 for s in starts]]
    for gantry in labels:
        windows = series[gantry]
        data.append([windows[s][measure] if s in windows else None for s in starts])
    return {"labels": labels, "data": data}


async def receive_alerts(request: Request) -> Response:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"error_code": 400, "message": "the body is not JSON"}, 400)
    alerts = body if isinstance(body, list) else [body]
    if not all(isinstance(a, dict) for a in alerts):
        return JSONResponse({"error_code": 400, "message": "expected alert objects"}, 400)
    inbox_of(request).add(alerts)
    return JSONResponse({"received": len(alerts)})


async def alerts_api(request: Request) -> Response:
    inbox = inbox_of(request)
    return JSONResponse({"received": inbox.received, "alerts": inbox.newest(MAX_ALERTS)})


async def gantries_api(request: Request) -> Response:
    measure = request.query_params.get("measure", "revenue_cents")
    if measure not in ("charges", "revenue_cents"):
        measure = "revenue_cents"
    series = await blocking(gantry_series, console_of(request).kafka)
    return JSONResponse(chart(series, measure))


async def balances_api(request: Request) -> Response:
    known, rows = await blocking(balances, console_of(request).kafka)
    return JSONResponse({"accounts": known, "lowest": rows})


async def toll_page(request: Request) -> Response:
    console = console_of(request)
    inbox = inbox_of(request)
    known, lowest = await blocking(balances, console.kafka)
    series = await blocking(gantry_series, console.kafka)
    totals = sorted(
        (
            (
                g,
                sum(w["charges"] for w in ws.values()),
                sum(w["revenue_cents"] for w in ws.values()),
            )
            for g, ws in series.items()
        ),
        key=lambda t: (-t[2], t[0]),
    )
    return render(
        request,
        "toll.html",
        page="toll",
        alerts=inbox.newest(100),
        alerts_received=inbox.received,
        accounts=known,
        balances=lowest,
        gantries=totals,
    )


ROUTES = [
    Route("/labs/toll", toll_page),
    Route("/labs/toll/alerts", receive_alerts, methods=["POST"]),
    Route("/api/labs/toll/alerts", alerts_api),
    Route("/api/labs/toll/balances", balances_api),
    Route("/api/labs/toll/gantries", gantries_api),
]
