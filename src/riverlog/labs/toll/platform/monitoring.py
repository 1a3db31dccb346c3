"""The toll lab's monitoring in SQL (ksqlDB's dialect, run by `riverlog sql server`), and the small
REST client `labs toll up/down` and the tests use.

Persistent queries (each writes a `toll.monitor.*` topic):
- `TOLL_GANTRY_MINUTE`: per gantry and 1-minute tumbling window (event time = `captured_at`), the
  number of charges and the revenue in cents.
- `TOLL_PASSAGES_CHECKED` → `TOLL_UNKNOWN_RATIO`: each passage read left-joined with the vehicles table
  (is the plate registered?), then per gantry over 5-minute windows advancing by 1 minute the reads,
  the unknown ones and their ratio. The join runs on arrival order (passages keep their produce time),
  the windows on `captured_at`.
- `TOLL_GANTRY_REVENUE`: revenue per gantry per hour; the top-K is a pull query over it sorted by
  revenue (riverlog.sql's TOPK takes one column, so it cannot carry the gantry id along).
- `TOLL_GANTRY_LAST_SEEN`: per gantry, the newest capture time and the number of reads; a gantry is
  silent when its newest read is more than `silent_after_ms` older than the newest read of any gantry.
- `TOLL_BALANCES`: a SOURCE table over `toll.balances` for pull queries of an account's balance.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

SOURCES = """
CREATE STREAM IF NOT EXISTS toll_passages (plate STRING KEY, passage_id STRING, gantry_id STRING,
    plate_confidence DOUBLE, tag_id STRING, detected_class INT, captured_at BIGINT, lane INT)
  WITH (KAFKA_TOPIC='toll.passages', VALUE_FORMAT='JSON');
CREATE STREAM IF NOT EXISTS toll_charges (passage_id STRING KEY, plate STRING, account_id STRING,
    gantry_id STRING, vehicle_class INT, amount_cents BIGINT, billing STRING, captured_at BIGINT,
    charged_at BIGINT)
  WITH (KAFKA_TOPIC='toll.charges', VALUE_FORMAT='JSON', TIMESTAMP='captured_at');
CREATE TABLE IF NOT EXISTS toll_vehicles (plate STRING PRIMARY KEY, vehicle_class INT,
    account_id STRING, exempt BOOLEAN)
  WITH (KAFKA_TOPIC='toll.vehicles', VALUE_FORMAT='JSON');
CREATE SOURCE TABLE IF NOT EXISTS toll_balances (account_id STRING PRIMARY KEY,
    balance_cents BIGINT, updated_at BIGINT)
  WITH (KAFKA_TOPIC='toll.balances', VALUE_FORMAT='JSON');
"""

QUERIES = """
CREATE TABLE IF NOT EXISTS toll_gantry_minute
  WITH (KAFKA_TOPIC='toll.monitor.gantry_minute', VALUE_FORMAT='JSON') AS
  SELECT gantry_id, WINDOWSTART AS window_start, COUNT(*) AS charges,
         SUM(amount_cents) AS revenue_cents
  FROM toll_charges WINDOW TUMBLING (SIZE 1 MINUTE)
  GROUP BY gantry_id EMIT CHANGES;
CREATE STREAM IF NOT EXISTS toll_passages_checked
  WITH (KAFKA_TOPIC='toll.monitor.passages_checked', VALUE_FORMAT='JSON', TIMESTAMP='captured_at') AS
  SELECT p.plate AS plate, p.passage_id AS passage_id, p.gantry_id AS gantry_id,
         p.captured_at AS captured_at,
         CASE WHEN v.vehicle_class IS NULL THEN 1 ELSE 0 END AS unknown
  FROM toll_passages p LEFT JOIN toll_vehicles v ON p.plate = v.plate EMIT CHANGES;
CREATE TABLE IF NOT EXISTS toll_unknown_ratio
  WITH (KAFKA_TOPIC='toll.monitor.unknown_ratio', VALUE_FORMAT='JSON') AS
  SELECT gantry_id, WINDOWSTART AS window_start, COUNT(*) AS reads, SUM(unknown) AS unknown,
         CAST(SUM(unknown) AS DOUBLE) / COUNT(*) AS unknown_ratio
  FROM toll_passages_checked WINDOW HOPPING (SIZE 5 MINUTES, ADVANCE BY 1 MINUTE)
  GROUP BY gantry_id EMIT CHANGES;
CREATE TABLE IF NOT EXISTS toll_gantry_revenue
  WITH (KAFKA_TOPIC='toll.monitor.gantry_revenue', VALUE_FORMAT='JSON') AS
  SELECT gantry_id, WINDOWSTART AS window_start, SUM(amount_cents) AS revenue_cents,
         COUNT(*) AS charges
  FROM toll_charges WINDOW TUMBLING (SIZE 1 HOUR)
  GROUP BY gantry_id EMIT CHANGES;
CREATE TABLE IF NOT EXISTS toll_gantry_last_seen
  WITH (KAFKA_TOPIC='toll.monitor.gantry_last_seen', VALUE_FORMAT='JSON') AS
  SELECT gantry_id, MAX(captured_at) AS last_seen_at, COUNT(*) AS reads
  FROM toll_passages
  GROUP BY gantry_id EMIT CHANGES;
"""

# what `down` drops, dependents first (DROP of a CSAS/CTAS sink terminates its query in ksqlDB 0.29)
DROP_ORDER = (
    "TOLL_GANTRY_LAST_SEEN",
    "TOLL_GANTRY_REVENUE",
    "TOLL_UNKNOWN_RATIO",
    "TOLL_PASSAGES_CHECKED",
    "TOLL_GANTRY_MINUTE",
    "TOLL_BALANCES",
    "TOLL_VEHICLES",
    "TOLL_CHARGES",
    "TOLL_PASSAGES",
)
TABLES = frozenset(
    (
        "TOLL_GANTRY_LAST_SEEN",
        "TOLL_GANTRY_REVENUE",
        "TOLL_UNKNOWN_RATIO",
        "TOLL_GANTRY_MINUTE",
        "TOLL_BALANCES",
        "TOLL_VEHICLES",
    )
)


class SqlServerError(RuntimeError):
    """The SQL server refused a statement or could not be reached."""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class SqlClient:
    """ksqlDB's REST API: `POST /ksql` for statements, `POST /query` for pull queries."""

    url: str
    timeout_s: float = 60.0

    def ksql(self, text: str, properties: dict[str, str] | None = None) -> list[dict[str, Any]]:
        try:
            answer = httpx.post(
                f"{self.url}/ksql",
                json={"ksql": text, "streamsProperties": properties or {}},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise SqlServerError(f"SQL server at {self.url} unreachable: {exc}") from exc
        if answer.status_code != 200:
            try:
                message = answer.json().get("message", answer.text)
            except ValueError:
                message = answer.text
            raise SqlServerError(f"SQL server refused: {message}")
        result: list[dict[str, Any]] = answer.json()
        return result

    def pull(self, text: str) -> list[dict[str, Any]]:
        """A pull query's rows as dicts by column name."""
        try:
            answer = httpx.post(
                f"{self.url}/query",
                json={"ksql": text, "streamsProperties": {}},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise SqlServerError(f"SQL server at {self.url} unreachable: {exc}") from exc
        if answer.status_code != 200:
            raise SqlServerError(f"SQL server refused {text!r}: {answer.text[:300]}")
        items = json.loads(answer.text)
        if isinstance(items, dict):
            items = [items]
        names: list[str] = []
        rows: list[dict[str, Any]] = []
        for item in items:
            if "header" in item:
                names = [n.strip().split(" ", 1)[0].strip("`") for n in _columns(item["header"])]
            elif "row" in item:
                rows.append(dict(zip(names, item["row"]["columns"], strict=False)))
        return rows


def _columns(header: dict[str, Any]) -> list[str]:
    """Column names from ksqlDB's header schema text: "`A` STRING KEY, `B` BIGINT"."""
    schema = str(header.get("schema", ""))
    out, depth, current = [], 0, ""
    for ch in schema:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        out.append(current.strip())
    return out


def create_all(client: SqlClient) -> None:
    """The sources and the persistent queries (idempotent: IF NOT EXISTS), reading from the earliest
    offsets so a late `up` still sees everything."""
    props = {"auto.offset.reset": "earliest"}
    client.ksql(SOURCES, props)
    client.ksql(QUERIES, props)


def drop_all(client: SqlClient) -> list[str]:
    """Drop the lab's sources and queries (their topics stay); returns what was dropped."""
    dropped = []
    for name in DROP_ORDER:
        kind = "TABLE" if name in TABLES else "STREAM"
        client.ksql(f"DROP {kind} IF EXISTS {name};")
        dropped.append(name)
    return dropped


def balance(client: SqlClient, account_id: str) -> dict[str, Any] | None:
    rows = client.pull(f"SELECT * FROM toll_balances WHERE account_id = {_quote(account_id)};")
    return rows[-1] if rows else None


def top_gantries(client: SqlClient, k: int = 3) -> list[tuple[str, int]]:
    """The k gantries with the most revenue in the newest hour window (ties by gantry id)."""
    rows = client.pull("SELECT * FROM toll_gantry_revenue;")
    if not rows:
        return []
    newest = max(int(r["WINDOW_START"]) for r in rows)
    current = [
        (str(r["GANTRY_ID"]), int(r["REVENUE_CENTS"]))
        for r in rows
        if int(r["WINDOW_START"]) == newest
    ]
    return sorted(current, key=lambda item: (-item[1], item[0]))[:k]


def silent_gantries(client: SqlClient, silent_after_ms: int = 300_000) -> list[tuple[str, int]]:
    """Gantries whose newest read is more than `silent_after_ms` older than the newest read of all."""
    rows = client.pull("SELECT * FROM toll_gantry_last_seen;")
    if not rows:
        return []
    newest = max(int(r["LAST_SEEN_AT"]) for r in rows)
    return sorted(
        (str(r["GANTRY_ID"]), int(r["LAST_SEEN_AT"]))
        for r in rows
        if int(r["LAST_SEEN_AT"]) < newest - silent_after_ms
    )


def query_ids(client: SqlClient) -> list[str]:
    """The ids of the lab's running persistent queries."""
    entities = client.ksql("SHOW QUERIES;")
    return [
        str(q["id"])
        for e in entities
        for q in e.get("queries", [])
        if any(str(s).startswith("TOLL_") for s in q.get("sinks", []))
    ]


def wait_queries_consuming(client: SqlClient, bootstrap: str, timeout_s: float = 60.0) -> None:
    """Wait until every lab query's consumer group is Stable (its consumers hold their partitions),
    so records written next are not skipped by a query that starts at the latest offsets."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    ids = query_ids(client)
    deadline = time.monotonic() + timeout_s
    while True:
        groups = [
            g.group_id
            for g in admin.list_consumer_groups().result(10).valid
            if any(g.group_id.endswith(f"query_{qid}") for qid in ids)
        ]
        if len(groups) >= len(ids):
            described = admin.describe_consumer_groups(groups)
            if all(f.result(10).state == ConsumerGroupState.STABLE for f in described.values()):
                return
        if time.monotonic() > deadline:
            raise SqlServerError(f"SQL queries not consuming after {timeout_s:.0f} s: {ids}")
        time.sleep(0.2)
