"""JDBC sink (`io.confluent.connect.jdbc.JdbcSinkConnector`) for PostgreSQL and SQLite.

Each `put` groups records by destination table (`table.name.format`, `${topic}` replaced) and writes each
group in one transaction: `insert.mode=insert` plain INSERTs, `upsert` INSERT … ON CONFLICT (pk) DO UPDATE,
`update` UPDATE … WHERE pk; tombstones DELETE when `delete.enabled` (which needs `pk.mode=record_key`).
Batches go through `executemany` (psycopg pipelines them) in chunks of `batch.size`. Primary keys follow
`pk.mode`: `none`, `kafka` (`__connect_topic`, `__connect_partition`, `__connect_offset`), `record_key`,
`record_value`, with `pk.fields` naming them. `auto.create` creates missing tables from the record schema;
`auto.evolve` adds missing optional columns. A failed write is retried `max.retries` times,
`retry.backoff.ms` apart, as a RetriableException (the runtime redelivers the same batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from riverlog.common.configdef import NO_DEFAULT, ConfigDef, Importance, Type, in_range, one_of
from riverlog.connect import data as d
from riverlog.connect.api import SinkConnector, SinkRecord, SinkTask, Task, TopicPartition
from riverlog.connect.data import Schema, Struct
from riverlog.connect.errors import (
    ConfigException,
    ConnectException,
    DataException,
    RetriableException,
)
from riverlog.connect.jdbc.dialect import Dialect, dialect_for

H, M, L = Importance.HIGH, Importance.MEDIUM, Importance.LOW
KAFKA_PK = ("__connect_topic", "__connect_partition", "__connect_offset")

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
        "insert.mode",
        Type.STRING,
        "insert",
        one_of("insert", "upsert", "update", case_sensitive=False),
        H,
        "The insertion mode to use.",
    )
    .define(
        "batch.size",
        Type.INT,
        3000,
        in_range(0),
        M,
        "Specifies how many records to attempt to batch together for insertion into the destination table, when possible.",
    )
    .define(
        "delete.enabled",
        Type.BOOLEAN,
        False,
        None,
        M,
        "Whether to treat null record values as deletes. Requires pk.mode to be record_key.",
    )
    .define(
        "table.name.format",
        Type.STRING,
        "${topic}",
        None,
        M,
        "A format string for the destination table name, which may contain '${topic}' as a placeholder for the originating topic name.",
    )
    .define(
        "pk.mode",
        Type.STRING,
        "none",
        one_of("none", "kafka", "record_key", "record_value", case_sensitive=False),
        H,
        "The primary key mode.",
    )
    .define("pk.fields", Type.LIST, [], None, M, "List of comma-separated primary key field names.")
    .define(
        "fields.whitelist",
        Type.LIST,
        [],
        None,
        M,
        "List of comma-separated record value field names. If empty, all fields from the record value are utilized.",
    )
    .define(
        "db.timezone",
        Type.STRING,
        "UTC",
        None,
        M,
        "Name of the JDBC timezone that should be used in the connector when inserting time-based values.",
    )
    .define(
        "auto.create",
        Type.BOOLEAN,
        False,
        None,
        M,
        "Whether to automatically create the destination table based on record schema if it is found to be missing by issuing CREATE.",
    )
    .define(
        "auto.evolve",
        Type.BOOLEAN,
        False,
        None,
        M,
        "Whether to automatically add columns in the table schema when found to be missing relative to the record schema by issuing ALTER.",
    )
    .define(
        "quote.sql.identifiers",
        Type.STRING,
        "ALWAYS",
        one_of("always", "never", case_sensitive=False),
        M,
        "When to quote table names, column names, and other identifiers in SQL statements.",
    )
    .define(
        "max.retries",
        Type.INT,
        10,
        in_range(0),
        M,
        "The maximum number of times to retry on errors before failing the task.",
    )
    .define(
        "retry.backoff.ms",
        Type.INT,
        3000,
        in_range(0),
        M,
        "The time in milliseconds to wait following an error before a retry attempt is made.",
    )
    .define(
        "dialect.name",
        Type.STRING,
        "",
        None,
        L,
        "The name of the database dialect (derived from the URL when empty).",
    )
)


class JdbcSinkConnector(SinkConnector):
    config_def = CONFIG_DEF

    def validate(self, props: Any) -> dict[str, list[str]]:
        errors = super().validate(props)
        if (
            str(props.get("delete.enabled", "false")).lower() == "true"
            and str(props.get("pk.mode", "none")).lower() != "record_key"
        ):
            errors["delete.enabled"].append("Deletes are only supported for pk.mode record_key")
        mode = str(props.get("insert.mode", "insert")).lower()
        if mode in ("upsert", "update") and str(props.get("pk.mode", "none")).lower() == "none":
            errors["pk.mode"].append(
                f"insert.mode {mode} requires a primary key: pk.mode must not be none"
            )
        if props.get("connection.url"):
            try:
                dialect_for(props["connection.url"])
            except ConfigException as exc:
                errors["connection.url"].append(str(exc))
        return errors

    def start(self, props: dict[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return JdbcSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max_tasks)]


@dataclass(frozen=True)
class _Plan:
    """How one (table, key schema, value schema) combination is written."""

    table: str
    pk: tuple[str, ...]
    cols: tuple[str, ...]
    fields: tuple[tuple[str, Schema], ...]
    write_sql: str
    delete_sql: str | None


# A row's columns by source: (plan, key schema, value schema, [(source, index, default, to_db?)]).
_RowSpec = tuple[_Plan, Schema | None, Schema | None, list[tuple[int, int, Any, bool]]]
_FROM_VALUE_FIELD, _FROM_KEY_FIELD, _FROM_KEY, _FROM_KAFKA = range(4)
_LOGICAL_NAMES = frozenset((d.DECIMAL_NAME, d.DATE_NAME, d.TIME_NAME, d.TIMESTAMP_NAME))


class JdbcSinkTask(SinkTask):
    def start(self, props: dict[str, str]) -> None:
        self.settings = CONFIG_DEF.parse(
            {k: v for k, v in props.items() if k in CONFIG_DEF}, allow_unknown=True
        )
        self.dialect: Dialect = dialect_for(
            self.settings["connection.url"],
            self.settings["connection.user"],
            self.settings["connection.password"],
        )
        self.conn = self.dialect.connect()
        self.mode = self.settings["insert.mode"].lower()
        self.pk_mode = self.settings["pk.mode"].lower()
        self.plans: dict[tuple[str, Schema | None, Schema | None], _Plan] = {}
        self.known_columns: dict[str, set[str]] = {}
        self.retries_left = int(self.settings["max.retries"])
        self._staging: dict[str, str] = {}
        self._last_plan: tuple[str, Schema | None, Schema | None, _Plan] | None = None
        self._row_specs: dict[int, _RowSpec] = {}

    def stop(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass

    # ---------------------------------------------------------------- planning

    def _pk_and_fields(
        self, record: SinkRecord
    ) -> tuple[tuple[str, ...], list[tuple[str, Schema]]]:
        pk_fields: list[str] = list(self.settings["pk.fields"])
        value_schema = record.value_schema
        whitelist = set(self.settings["fields.whitelist"])
        value_fields = [
            (f.name, f.schema)
            for f in (value_schema.fields if value_schema is not None else ())
            if not whitelist or f.name in whitelist
        ]
        if self.pk_mode == "none":
            return (), value_fields
        if self.pk_mode == "kafka":
            names = tuple(pk_fields or KAFKA_PK)
            if len(names) != 3:
                raise ConfigException(
                    "PK mode for kafka requires 3 pk.fields (topic, partition, offset names) or none"
                )
            return names, [
                (names[0], d.STRING_SCHEMA),
                (names[1], d.INT32_SCHEMA),
                (names[2], d.INT64_SCHEMA),
                *value_fields,
            ]
        if self.pk_mode == "record_key":
            ks = record.key_schema
            if ks is None:
                raise DataException(
                    "PK mode for table is RECORD_KEY, but record key schema is missing"
                )
            if ks.type is d.Type.STRUCT:
                names = tuple(pk_fields or [f.name for f in ks.fields])
                key_fields = [(n, ks.field(n).schema) for n in names]  # type: ignore[union-attr]
            else:
                names = tuple(pk_fields or ["__connect_key"])
                key_fields = [(names[0], ks)]
            rest = [(n, s) for n, s in value_fields if n not in names]
            return names, [*key_fields, *rest]
        if not pk_fields:
            raise ConfigException("PK mode for table is RECORD_VALUE with no pk.fields")
        return tuple(pk_fields), value_fields

    def _plan(self, record: SinkRecord) -> _Plan:
        last = self._last_plan  # consecutive records usually share topic and schema objects
        if (
            last is not None
            and last[0] == record.topic
            and last[1] is record.key_schema
            and last[2] is record.value_schema
        ):
            return last[3]
        plan = self._find_plan(record)
        self._last_plan = (record.topic, record.key_schema, record.value_schema, plan)
        return plan

    def _find_plan(self, record: SinkRecord) -> _Plan:
        table = self.settings["table.name.format"].replace("${topic}", record.topic)
        cache_key = (table, record.key_schema, record.value_schema)
        plan = self.plans.get(cache_key)
        if plan is not None:
            return plan
        pk, fields = self._pk_and_fields(record)
        self._maybe_create_or_evolve(table, pk, fields)
        q, qt, p = self.dialect.quote, self.dialect.qualified(table), self.dialect.placeholder
        cols = tuple(n for n, _ in fields)
        if self.mode == "upsert":
            sql = self.dialect.upsert(table, cols, pk)
        elif self.mode == "update":
            sets = ", ".join(f"{q(c)} = {p}" for c in cols if c not in pk)
            where = " AND ".join(f"{q(c)} = {p}" for c in pk)
            sql = f"UPDATE {qt} SET {sets} WHERE {where}"
        else:
            sql = f"INSERT INTO {qt} ({', '.join(q(c) for c in cols)}) VALUES ({', '.join(p for _ in cols)})"
        delete = None
        if self.settings["delete.enabled"] and pk:
            delete = f"DELETE FROM {qt} WHERE " + " AND ".join(f"{q(c)} = {p}" for c in pk)
        plan = _Plan(table, pk, cols, tuple(fields), sql, delete)
        self.plans[cache_key] = plan
        return plan

    def _existing_columns(self, table: str) -> set[str] | None:
        try:
            return {c.name for c in self.dialect.table_columns(self.conn, table)}
        except ConnectException:
            return None

    def _maybe_create_or_evolve(
        self, table: str, pk: Sequence[str], fields: Sequence[tuple[str, Schema]]
    ) -> None:
        existing = self._existing_columns(table)
        q = self.dialect.quote
        if existing is None:
            if not self.settings["auto.create"]:
                raise ConnectException(f"Table {table} is missing and auto-creation is disabled")
            cols = [
                f"{q(n)} {self.dialect.sql_type(s)}{'' if s.optional and n not in pk else ' NOT NULL'}"
                for n, s in fields
            ]
            if pk:
                cols.append(f"PRIMARY KEY({', '.join(q(n) for n in pk)})")
            self.conn.execute(f"CREATE TABLE {self.dialect.qualified(table)} ({', '.join(cols)})")
            return
        missing = [(n, s) for n, s in fields if n not in existing]
        if not missing:
            return
        if not self.settings["auto.evolve"]:
            raise ConnectException(
                f"Table {table} is missing fields ({', '.join(n for n, _ in missing)}) and auto-evolution is disabled"
            )
        for n, s in missing:
            if not s.optional and s.default is None:
                raise ConnectException(
                    f"Cannot ALTER TABLE {table} to add missing field {n}, as the field is not optional and does not have a default value"
                )
            self.conn.execute(
                f"ALTER TABLE {self.dialect.qualified(table)} ADD {q(n)} {self.dialect.sql_type(s)}"
            )

    # ---------------------------------------------------------------- writing

    def _row(self, plan: _Plan, record: SinkRecord) -> list[Any]:
        value = record.value
        key = record.key
        to_db = self.dialect.to_db
        row: list[Any] = []
        for name, _ in plan.fields:
            if self.pk_mode == "kafka" and name in plan.pk:
                v: Any = (record.topic, record.kafka_partition, record.kafka_offset)[
                    plan.pk.index(name)
                ]
            elif self.pk_mode == "record_key" and name in plan.pk:
                v = key.get(name) if isinstance(key, Struct) else key
            else:
                v = value.get(name) if isinstance(value, Struct) else None
            row.append(to_db(v))
        if self.mode == "update":
            by_name = dict(zip(plan.cols, row, strict=True))
            return [by_name[c] for c in plan.cols if c not in plan.pk] + [
                by_name[c] for c in plan.pk
            ]
        return row

    def _row_spec(self, plan: _Plan, record: SinkRecord) -> _RowSpec | None:
        """Where each column of `plan` comes from in records of `record`'s schemas (by field index),
        or None when rows must be built field by field (update mode, a non-struct value)."""
        ks, vs = record.key_schema, record.value_schema
        cached = self._row_specs.get(id(plan))
        if cached is not None and cached[0] is plan and cached[1] is ks and cached[2] is vs:
            return cached
        if self.mode == "update" or vs is None or vs.type is not d.Type.STRUCT:
            return None
        columns: list[tuple[int, int, Any, bool]] = []
        for name, schema in plan.fields:
            convert = schema.name in _LOGICAL_NAMES  # only logical values differ in the database
            if self.pk_mode == "kafka" and name in plan.pk:
                columns.append((_FROM_KAFKA, plan.pk.index(name), None, False))
            elif self.pk_mode == "record_key" and name in plan.pk:
                if ks is not None and ks.type is d.Type.STRUCT:
                    f = ks.field(name)
                    if f is None:
                        return None
                    columns.append((_FROM_KEY_FIELD, f.index, f.schema.default, convert))
                else:
                    columns.append((_FROM_KEY, 0, None, convert))
            else:
                f = vs.field(name)
                if f is None:
                    return None  # `_row` reports the missing field
                columns.append((_FROM_VALUE_FIELD, f.index, f.schema.default, convert))
        spec = (plan, ks, vs, columns)
        self._row_specs[id(plan)] = spec
        return spec

    def _fast_row(self, spec: _RowSpec, record: SinkRecord) -> list[Any] | None:
        """`_row` by field index; None when the record's structs are not of the spec's schemas."""
        key, value = record.key, record.value
        if value.__class__ is not Struct or value.schema is not spec[2]:
            return None
        key_values: list[Any] | None = None
        if key.__class__ is Struct:
            if key.schema is not spec[1]:
                return None
            key_values = key._values
        value_values = value._values
        to_db = self.dialect.to_db
        row: list[Any] = []
        append = row.append
        for source, index, default, convert in spec[3]:
            if source == _FROM_VALUE_FIELD:
                v = value_values[index]
            elif source == _FROM_KEY_FIELD:
                if key_values is None:
                    return None
                v = key_values[index]
            elif source == _FROM_KEY:
                v = key
            else:
                v = (record.topic, record.kafka_partition, record.kafka_offset)[index]
            if v is None:
                v = default
            append(to_db(v) if convert else v)
        return row

    def put(self, records: list[SinkRecord]) -> None:
        if not records:
            return
        # 1. Group consecutive records by plan (order kept within a table, as Confluent's buffers do).
        groups: list[tuple[_Plan, str, list[list[Any]]]] = []
        for record in records:
            if record.value is None:
                if not self.settings["delete.enabled"]:
                    raise DataException(
                        "Sink connector with delete.enabled=false received a tombstone record"
                    )
                plan = self._plan_for_delete(record)
                kind, params = (
                    "delete",
                    [
                        self.dialect.to_db(
                            record.key.get(n) if isinstance(record.key, Struct) else record.key
                        )
                        for n in plan.pk
                    ],
                )
            else:
                if not isinstance(record.value, Struct):
                    raise DataException(
                        f"Sink connector '{type(self).__name__}' is configured with 'delete.enabled={self.settings['delete.enabled']}' and 'pk.mode={self.pk_mode}' and therefore requires records with a non-null Struct value and non-null Struct schema, but found record at (topic='{record.topic}',partition={record.kafka_partition},offset={record.kafka_offset}) with a {type(record.value).__name__} value and {'null' if record.value_schema is None else record.value_schema.type.name} value schema."
                    )
                plan = self._plan(record)
                spec = self._row_spec(plan, record)
                row = None if spec is None else self._fast_row(spec, record)
                kind, params = "write", self._row(plan, record) if row is None else row
            if groups and groups[-1][0] is plan and groups[-1][1] == kind:
                groups[-1][2].append(params)
            else:
                groups.append((plan, kind, [params]))
        # 2. Write every group in one transaction; retry the whole batch on failure.
        try:
            self._write(groups)
        except Exception as exc:
            if self.retries_left <= 0:
                raise ConnectException(f"Exception writing to the database: {exc}") from exc
            self.retries_left -= 1
            import time

            time.sleep(int(self.settings["retry.backoff.ms"]) / 1000)
            raise RetriableException(str(exc)) from exc
        self.retries_left = int(self.settings["max.retries"])

    def _plan_for_delete(self, record: SinkRecord) -> _Plan:
        table = self.settings["table.name.format"].replace("${topic}", record.topic)
        for (t, ks, _), plan in self.plans.items():
            if t == table and ks == record.key_schema and plan.delete_sql:
                return plan
        ks = record.key_schema
        if ks is None:
            raise DataException("Deletes need a record key schema")
        names = tuple(
            self.settings["pk.fields"]
            or ([f.name for f in ks.fields] if ks.type is d.Type.STRUCT else ["__connect_key"])
        )
        q, p = self.dialect.quote, self.dialect.placeholder
        delete = f"DELETE FROM {self.dialect.qualified(table)} WHERE " + " AND ".join(
            f"{q(c)} = {p}" for c in names
        )
        return _Plan(table, names, (), (), "", delete)

    def _write(self, groups: list[tuple[_Plan, str, list[list[Any]]]]) -> None:
        chunk = int(self.settings["batch.size"]) or len(groups[0][2])
        is_pg = self.dialect.name == "PostgreSQL"
        if is_pg:
            with self.conn.transaction(), self.conn.cursor() as cur:
                for plan, kind, rows in groups:
                    if kind == "write" and self.mode in ("insert", "upsert") and len(rows) > 1:
                        self._copy_write(cur, plan, rows)
                        continue
                    sql = plan.delete_sql if kind == "delete" else plan.write_sql
                    for i in range(0, len(rows), chunk):
                        cur.executemany(sql, rows[i : i + chunk])
            return
        cur = self.conn.cursor()
        cur.execute("BEGIN")
        try:
            for plan, kind, rows in groups:
                sql = plan.delete_sql if kind == "delete" else plan.write_sql
                cur.executemany(sql, rows)
            cur.execute("COMMIT")
        except Exception:
            cur.execute("ROLLBACK")
            raise

    def _copy_write(self, cur: Any, plan: _Plan, rows: list[list[Any]]) -> None:
        """PostgreSQL fast path: COPY the batch in. Inserts go straight into the table; upserts go
        into a session-local staging table and then one INSERT … SELECT … ON CONFLICT DO UPDATE (a
        record later in the batch wins over an earlier one with the same key, as one-by-one upserts
        would leave it)."""
        q = self.dialect.quote
        cols = ", ".join(q(c) for c in plan.cols)
        if self.mode == "insert":
            with cur.copy(f"COPY {self.dialect.qualified(plan.table)} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        positions = [plan.cols.index(p) for p in plan.pk]
        key_of: Callable[[list[Any]], Any] = (
            itemgetter(*positions) if positions else lambda row: ()
        )  # a value, or a tuple of them
        latest = {key_of(row): row for row in rows}
        stage = self._staging.get(plan.table)
        if stage is None:
            stage = q(f"riverlog_stage_{len(self._staging)}")
            cur.execute(
                f"CREATE TEMP TABLE {stage} ON COMMIT DELETE ROWS AS SELECT {cols} FROM {self.dialect.qualified(plan.table)} WITH NO DATA"
            )
            self._staging[plan.table] = stage
        with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in latest.values():
                copy.write_row(row)
        updates = [c for c in plan.cols if c not in plan.pk]
        action = (
            "DO UPDATE SET " + ", ".join(f"{q(c)}=EXCLUDED.{q(c)}" for c in updates)
            if updates
            else "DO NOTHING"
        )
        pk = ", ".join(q(p) for p in plan.pk)
        cur.execute(
            f"INSERT INTO {self.dialect.qualified(plan.table)} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT ({pk}) {action}"
        )

    def flush(self, current_offsets: dict[TopicPartition, int]) -> None:
        """Every put commits its own transaction: nothing is pending here."""
