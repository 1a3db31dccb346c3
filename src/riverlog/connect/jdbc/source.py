"""JDBC source (`io.confluent.connect.jdbc.JdbcSourceConnector`) for PostgreSQL and SQLite.

Modes (Confluent's): `bulk` re-reads whole tables every `poll.interval.ms`; `incrementing` reads rows whose
`incrementing.column.name` is above the stored offset; `timestamp` rows whose `timestamp.column.name` is
newer than the stored one and older than the database's now minus `timestamp.delay.interval.ms`;
`timestamp+incrementing` both, ordered by (timestamp, id). Source partitions follow Confluent's offset
protocol v1 — `{"protocol": "1", "table": "<schema>.<table>"}` (SQLite: the table name) — or
`{"query": "<query>"}` in query mode; offsets are `{"incrementing": n}` and/or
`{"timestamp": millis, "timestamp_nanos": nanos}`. Records are schemaful: a Struct named after the table,
one optional or required field per column; the topic is `topic.prefix` + table (query mode: the prefix).
Up to `batch.max.rows` rows per poll; a full batch is followed at once by the next query.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from riverlog.common.configdef import NO_DEFAULT, ConfigDef, Importance, Type, in_range, one_of
from riverlog.connect import data as d
from riverlog.connect.api import SourceBatch, SourceConnector, SourceRecord, SourceTask, Task
from riverlog.connect.data import Schema, SchemaBuilder, Struct
from riverlog.connect.errors import ConfigException
from riverlog.connect.jdbc.dialect import (
    Column,
    Dialect,
    dialect_for,
    join_idents,
    python_value,
    value_converter,
)

H, M, L = Importance.HIGH, Importance.MEDIUM, Importance.LOW
MODES = ("bulk", "timestamp", "incrementing", "timestamp+incrementing")

CONFIG_DEF = (
    ConfigDef()
    .define("connection.url", Type.STRING, NO_DEFAULT, None, H, "JDBC connection URL.")
    .define("connection.user", Type.STRING, None, None, H, "JDBC connection user.")
    .define("connection.password", Type.PASSWORD, None, None, H, "JDBC connection password.")
    .define(
        "connection.attempts",
        Type.INT,
        3,
        in_range(1),
        L,
        "Maximum number of attempts to retrieve a valid JDBC connection.",
    )
    .define(
        "connection.backoff.ms",
        Type.LONG,
        10000,
        None,
        L,
        "Backoff time in milliseconds between connection attempts.",
    )
    .define(
        "table.whitelist",
        Type.LIST,
        [],
        None,
        M,
        "List of tables to include in copying (deprecated: table.include.list).",
    )
    .define("table.include.list", Type.LIST, [], None, M, "List of tables to include in copying.")
    .define(
        "table.blacklist",
        Type.LIST,
        [],
        None,
        M,
        "List of tables to exclude from copying (deprecated: table.exclude.list).",
    )
    .define("table.exclude.list", Type.LIST, [], None, M, "List of tables to exclude from copying.")
    .define(
        "schema.pattern",
        Type.STRING,
        None,
        None,
        M,
        "Schema pattern to fetch table metadata from the database.",
    )
    .define(
        "catalog.pattern",
        Type.STRING,
        None,
        None,
        M,
        "Catalog pattern to fetch table metadata from the database.",
    )
    .define(
        "table.types",
        Type.LIST,
        ["TABLE"],
        None,
        L,
        "By default, the JDBC connector will only detect tables with type TABLE from the source Database.",
    )
    .define(
        "query",
        Type.STRING,
        "",
        None,
        M,
        "If specified, the query to perform to select new or updated rows.",
    )
    .define(
        "query.suffix",
        Type.STRING,
        "",
        None,
        L,
        "Suffix to append at the end of the generated query.",
    )
    .define(
        "mode",
        Type.STRING,
        NO_DEFAULT,
        one_of(*MODES),
        H,
        "The mode for updating a table each time it is polled.",
    )
    .define(
        "incrementing.column.name",
        Type.STRING,
        "",
        None,
        M,
        "The name of the strictly incrementing column to use to detect new rows.",
    )
    .define(
        "timestamp.column.name",
        Type.LIST,
        [],
        None,
        M,
        "Comma separated list of one or more timestamp columns to detect new or modified rows.",
    )
    .define(
        "timestamp.initial",
        Type.LONG,
        None,
        None,
        L,
        "The epoch timestamp used for initial queries that use timestamp criteria (-1: current time).",
    )
    .define(
        "validate.non.null",
        Type.BOOLEAN,
        True,
        None,
        L,
        "By default, the JDBC connector will validate that all incrementing and timestamp tables have NOT NULL set for the columns being used.",
    )
    .define(
        "timestamp.delay.interval.ms",
        Type.LONG,
        0,
        in_range(0),
        H,
        "How long to wait after a row with certain timestamp appears before we include it in the result.",
    )
    .define(
        "db.timezone",
        Type.STRING,
        "UTC",
        None,
        M,
        "Name of the JDBC timezone used in the connector when querying with time-based criteria.",
    )
    .define(
        "poll.interval.ms",
        Type.INT,
        5000,
        in_range(0),
        H,
        "Frequency in ms to poll for new data in each table.",
    )
    .define(
        "batch.max.rows",
        Type.INT,
        100,
        in_range(1),
        L,
        "Maximum number of rows to include in a single batch when polling for new data.",
    )
    .define(
        "table.poll.interval.ms",
        Type.LONG,
        60000,
        None,
        L,
        "Frequency in ms to poll for new or removed tables.",
    )
    .define(
        "topic.prefix",
        Type.STRING,
        NO_DEFAULT,
        None,
        H,
        "Prefix to prepend to table names to generate the name of the Kafka topic to publish data to, or in the case of a custom query, the full name of the topic to publish to.",
    )
    .define(
        "numeric.mapping",
        Type.STRING,
        None,
        one_of("none", "precision_only", "best_fit", "best_fit_eager_double"),
        L,
        "Map NUMERIC values by precision and optionally scale to integral or decimal types.",
    )
    .define(
        "numeric.precision.mapping",
        Type.BOOLEAN,
        False,
        None,
        L,
        "Deprecated: use numeric.mapping.",
    )
    .define(
        "dialect.name",
        Type.STRING,
        "",
        None,
        L,
        "The name of the database dialect that should be used for this connector (derived from the URL when empty).",
    )
)


def _settings(props: dict[str, str]) -> dict[str, Any]:
    return CONFIG_DEF.parse({k: v for k, v in props.items() if k in CONFIG_DEF}, allow_unknown=True)


class JdbcSourceConnector(SourceConnector):
    config_def = CONFIG_DEF

    def validate(self, props: Any) -> dict[str, list[str]]:
        errors = super().validate(props)
        mode = props.get("mode")
        if mode in ("incrementing", "timestamp+incrementing") and not props.get(
            "incrementing.column.name"
        ):
            errors["incrementing.column.name"].append(
                f"Incrementing column name must be set in mode {mode}"
            )
        if mode in ("timestamp", "timestamp+incrementing") and not props.get(
            "timestamp.column.name"
        ):
            errors["timestamp.column.name"].append(
                f"Timestamp column name must be set in mode {mode}"
            )
        if props.get("query") and (props.get("table.whitelist") or props.get("table.include.list")):
            errors["query"].append("Do not specify table filtering for query based source.")
        url = props.get("connection.url")
        if url:
            try:
                dialect_for(url)
            except ConfigException as exc:
                errors["connection.url"].append(str(exc))
        return errors

    def start(self, props: dict[str, str]) -> None:
        self.props = dict(props)
        self.settings = _settings(self.props)
        self.tables: list[str] = []
        if self.settings["query"]:
            return
        dialect = dialect_for(
            self.settings["connection.url"],
            self.settings["connection.user"],
            self.settings["connection.password"],
        )
        conn = dialect.connect()
        try:
            found = dialect.list_tables(conn, self.settings["schema.pattern"])
        finally:
            conn.close()
        include = self.settings["table.include.list"] or self.settings["table.whitelist"]
        exclude = set(self.settings["table.exclude.list"] or self.settings["table.blacklist"])
        if include:
            missing = [t for t in include if t not in found]
            if missing:
                raise ConfigException(f"Tables not found in the database: {', '.join(missing)}")
            found = list(include)
        self.tables = [t for t in found if t not in exclude]

    def task_class(self) -> type[Task]:
        return JdbcSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        if self.settings["query"]:
            return [dict(self.props)]
        groups = max(1, min(max_tasks, len(self.tables)))
        return [
            {**self.props, "tables": ",".join(self.tables[i::groups])}
            for i in range(groups)
            if self.tables[i::groups]
        ]


@dataclass
class _Querier:
    """One table (or the query): its criteria, its offset, and rows fetched but not yet returned."""

    table: str | None
    topic: str
    partition: dict[str, str]
    offset: dict[str, Any] = field(default_factory=dict)
    columns: list[Column] = field(default_factory=list)
    schema: Schema | None = None
    next_poll: float = 0.0
    converters: tuple[Schema, list[Callable[[Any], Any]]] | None = None  # per column, for `schema`


class JdbcSourceTask(SourceTask):
    def start(self, props: dict[str, str]) -> None:
        self.settings = _settings(props)
        self.dialect: Dialect = dialect_for(
            self.settings["connection.url"],
            self.settings["connection.user"],
            self.settings["connection.password"],
        )
        self.conn = self.dialect.connect()
        self.mode = self.settings["mode"]
        self.inc_col = self.settings["incrementing.column.name"]
        self.ts_cols: list[str] = self.settings["timestamp.column.name"]
        self._stop = threading.Event()
        prefix = self.settings["topic.prefix"]
        if self.settings["query"]:
            self.queriers = [_Querier(None, prefix, {"query": "query"})]
        else:
            tables = [t for t in props.get("tables", "").split(",") if t]
            self.queriers = [
                _Querier(
                    t,
                    prefix + t.rpartition(".")[2],
                    {"protocol": "1", "table": self.dialect.partition_name(t)},
                )
                for t in tables
            ]
        stored = self.context.offset_storage_reader.offsets([q.partition for q in self.queriers])
        from riverlog.connect.api import partition_key

        for q in self.queriers:
            q.offset = dict(stored.get(partition_key(q.partition)) or {})

    def stop(self) -> None:
        self._stop.set()

    def _ensure_schema(self, q: _Querier, description: Any) -> None:
        if q.schema is not None:
            return
        if q.table is not None:
            q.columns = self.dialect.table_columns(self.conn, q.table)
            name = q.table.rpartition(".")[2]
        else:
            q.columns = [
                Column(c.name, _schema_from_description(c, self.dialect)) for c in description
            ]
            name = None
        b = SchemaBuilder.struct().name(name)
        for c in q.columns:
            b.field(c.name, c.schema)
        q.schema = b.build()

    def _query(self, q: _Querier) -> tuple[str, list[Any]]:
        """The SQL and parameters for the next batch of `q`."""
        base = self.settings["query"] or f"SELECT * FROM {self.dialect.qualified(q.table or '')}"
        p = self.dialect.placeholder
        quote = self.dialect.quote
        params: list[Any] = []
        where = ""
        order = ""
        ts_expr = ""
        if self.ts_cols:
            ts_expr = (
                quote(self.ts_cols[0])
                if len(self.ts_cols) == 1
                else f"COALESCE({join_idents(self.dialect, self.ts_cols)})"
            )
        if self.mode == "incrementing":
            where = f"{quote(self.inc_col)} > {p}"
            params = [int(q.offset.get("incrementing", -1))]
            order = quote(self.inc_col)
        elif self.mode in ("timestamp", "timestamp+incrementing"):
            end = self.dialect.now_millis(self.conn) - int(
                self.settings["timestamp.delay.interval.ms"]
            )
            start = self._ts_offset(q)
            end_v, start_v = (
                self.dialect.to_db(d.timestamp_from_int(end)),
                self.dialect.to_db(start),
            )
            if self.mode == "timestamp":
                where = f"{ts_expr} > {p} AND {ts_expr} < {p}"
                params = [start_v, end_v]
                order = ts_expr
            else:
                inc = int(q.offset.get("incrementing", -1))
                where = f"{ts_expr} < {p} AND (({ts_expr} = {p} AND {quote(self.inc_col)} > {p}) OR {ts_expr} > {p})"
                params = [end_v, start_v, inc, start_v]
                order = f"{ts_expr}, {quote(self.inc_col)}"
        sql = base
        if where:
            sql = (
                f"SELECT * FROM ({base}) AS riverlog_q WHERE {where}"
                if self.settings["query"]
                else f"{base} WHERE {where}"
            )
            sql += f" ORDER BY {order} LIMIT {int(self.settings['batch.max.rows'])}"
        if self.settings["query.suffix"]:
            sql += " " + self.settings["query.suffix"]
        return sql, params

    def _ts_offset(self, q: _Querier) -> dt.datetime:
        if "timestamp" in q.offset:
            base = d.timestamp_from_int(int(q.offset["timestamp"]))
            nanos = int(q.offset.get("timestamp_nanos", 0))
            return base.replace(microsecond=nanos // 1000)
        initial = self.settings["timestamp.initial"]
        if initial is None:
            return d.timestamp_from_int(0)
        if initial == -1:
            return d.timestamp_from_int(self.dialect.now_millis(self.conn))
        return d.timestamp_from_int(int(initial))

    def poll(self) -> Sequence[SourceRecord] | None:
        now = time.monotonic()
        due = [q for q in self.queriers if q.next_poll <= now]
        if not due:
            wait = min(q.next_poll for q in self.queriers) - now
            self._stop.wait(min(max(wait, 0.0), 1.0))
            return None
        batches: list[SourceBatch] = []
        for q in due:
            batch = self._poll_one(q)
            full = self.mode != "bulk" and len(batch) >= int(self.settings["batch.max.rows"])
            q.next_poll = now if full else now + int(self.settings["poll.interval.ms"]) / 1000
            if len(batch):
                batches.append(batch)
        if len(batches) == 1:
            return batches[0]  # one table's rows: sent column-wise when nothing needs records
        return [record for batch in batches for record in batch]

    def _poll_one(self, q: _Querier) -> SourceBatch:
        sql, params = self._query(q)
        cur = self.conn.cursor()
        cur.execute(sql, params)
        rows = cur.fetchall()
        self._ensure_schema(q, cur.description)
        assert q.schema is not None
        schema = q.schema
        names = [c[0] for c in cur.description]
        index = {name: i for i, name in enumerate(names)}
        if q.converters is None or q.converters[0] is not schema:
            q.converters = (schema, [value_converter(c.schema) for c in q.columns])
        # Per struct field: its column in the row and its converter (None for a column not selected).
        picks = [
            (index[c.name], convert) if c.name in index else (0, _none)
            for c, convert in zip(q.columns, q.converters[1], strict=True)
        ]
        new = Struct.__new__
        values: list[Struct] = []
        for row in rows:
            value = new(Struct)
            value.schema = schema
            value._values = [convert(row[idx]) for idx, convert in picks]
            values.append(value)
        offsets: list[dict[str, Any] | None]
        if self.mode == "bulk":
            offsets = [None] * len(rows)
        elif self.mode == "incrementing":
            base, inc = q.offset, index[self.inc_col]
            offsets = [{**base, "incrementing": int(row[inc])} for row in rows]
            if offsets:
                q.offset = offsets[-1]  # type: ignore[assignment]
        else:
            offsets = [self._row_offset(q, row, index) for row in rows]
        return SourceBatch(q.topic, schema, values, q.partition, offsets)

    def _row_offset(self, q: _Querier, row: Any, index: dict[str, int]) -> dict[str, Any]:
        offset = dict(q.offset)
        if self.mode == "timestamp+incrementing":
            offset["incrementing"] = int(row[index[self.inc_col]])
        ts = next((row[index[c]] for c in self.ts_cols if row[index[c]] is not None), None)
        if ts is not None:
            moment = python_value(d.timestamp_schema(), ts)
            offset["timestamp"] = d.timestamp_to_int(moment)
            offset["timestamp_nanos"] = moment.microsecond * 1000
        q.offset = offset
        return offset


def _none(value: Any) -> None:
    return None


def _schema_from_description(col: Any, dialect: Dialect) -> Schema:
    """Query mode: column types from the cursor (PostgreSQL type OIDs; SQLite: strings)."""
    oid = getattr(col, "type_code", None)
    pg = {
        16: d.Type.BOOLEAN,
        17: d.Type.BYTES,
        20: d.Type.INT64,
        21: d.Type.INT16,
        23: d.Type.INT32,
        700: d.Type.FLOAT32,
        701: d.Type.FLOAT64,
        25: d.Type.STRING,
        1043: d.Type.STRING,
    }
    if dialect.name == "PostgreSQL" and isinstance(oid, int):
        if oid in (1114, 1184):
            return d.timestamp_schema(optional=True)
        if oid == 1082:
            return d.date_schema(optional=True)
        if oid == 1700:
            scale = getattr(col, "scale", None)
            return (
                d.decimal_schema(int(scale), optional=True)
                if scale is not None
                else Schema(d.Type.FLOAT64, optional=True)
            )
        return Schema(pg.get(oid, d.Type.STRING), optional=True)
    return Schema(d.Type.STRING, optional=True)
