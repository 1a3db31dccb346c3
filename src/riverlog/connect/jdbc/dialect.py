"""Databases behind the JDBC connectors: connecting from a JDBC URL, column types <-> Connect schemas,
and the SQL each dialect needs (quoting, upsert, DDL).

URLs are Confluent's JDBC URLs — `jdbc:postgresql://host:port/db` and `jdbc:sqlite:/path/file.db` —
or plain `postgresql://…` / `sqlite:///…`. `connection.user` / `connection.password` add credentials.
"""

from __future__ import annotations

import datetime as dt
import decimal
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from riverlog.connect import data as d
from riverlog.connect.data import Schema
from riverlog.connect.errors import ConfigException, ConnectException


@dataclass(frozen=True)
class Column:
    name: str
    schema: Schema


class Dialect:
    name = "generic"
    placeholder = "?"

    def __init__(self, url: str, user: str | None, password: str | None) -> None:
        self.url, self.user, self.password = url, user, password

    def connect(self) -> Any:
        raise NotImplementedError

    def quote(self, ident: str) -> str:
        return '"' + ident.replace('"', '""') + '"'

    def qualified(self, table: str) -> str:
        return ".".join(self.quote(p) for p in table.split("."))

    def list_tables(self, conn: Any, schema_pattern: str | None) -> list[str]:
        raise NotImplementedError

    def table_columns(self, conn: Any, table: str) -> list[Column]:
        raise NotImplementedError

    def partition_name(self, table: str) -> str:
        return table

    def sql_type(self, schema: Schema) -> str:
        raise NotImplementedError

    def upsert(self, table: str, cols: Sequence[str], pks: Sequence[str]) -> str:
        q = self.quote
        names = ", ".join(q(c) for c in cols)
        marks = ", ".join(self.placeholder for _ in cols)
        updates = [c for c in cols if c not in pks]
        action = (
            "DO UPDATE SET " + ", ".join(f"{q(c)}=EXCLUDED.{q(c)}" for c in updates)
            if updates
            else "DO NOTHING"
        )
        return f"INSERT INTO {self.qualified(table)} ({names}) VALUES ({marks}) ON CONFLICT ({', '.join(q(p) for p in pks)}) {action}"

    def now_millis(self, conn: Any) -> int:
        return d.timestamp_to_int(dt.datetime.now(dt.UTC))

    def to_db(self, value: Any) -> Any:
        return value


class PostgresDialect(Dialect):
    name = "PostgreSQL"
    placeholder = "%s"

    def connect(self) -> Any:
        import psycopg

        parts = urlsplit(self.url)
        kwargs: dict[str, Any] = dict(parse_qsl(parts.query))
        if self.user:
            kwargs["user"] = self.user
        if self.password:
            kwargs["password"] = self.password
        base = f"postgresql://{parts.netloc}{parts.path}"
        return psycopg.connect(base, autocommit=True, **kwargs)

    def list_tables(self, conn: Any, schema_pattern: str | None) -> list[str]:
        rows = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema LIKE %s ORDER BY 1, 2",
            (schema_pattern or "%",),
        ).fetchall()
        return [t if s == "public" else f"{s}.{t}" for s, t in rows]

    def table_columns(self, conn: Any, table: str) -> list[Column]:
        schema_name, _, name = table.rpartition(".")
        rows = conn.execute(
            "SELECT column_name, data_type, is_nullable, numeric_precision, numeric_scale FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema_name or "public", name),
        ).fetchall()
        if not rows:
            raise ConnectException(f"Table {table} does not exist or has no columns")
        return [Column(c, _pg_schema(t, n == "YES", p, s)) for c, t, n, p, s in rows]

    def partition_name(self, table: str) -> str:
        return table if "." in table else f"public.{table}"

    def sql_type(self, schema: Schema) -> str:
        if schema.name == d.DECIMAL_NAME:
            return "DECIMAL"
        if schema.name == d.DATE_NAME:
            return "DATE"
        if schema.name == d.TIME_NAME:
            return "TIME"
        if schema.name == d.TIMESTAMP_NAME:
            return "TIMESTAMP"
        return {
            d.Type.INT8: "SMALLINT",
            d.Type.INT16: "SMALLINT",
            d.Type.INT32: "INT",
            d.Type.INT64: "BIGINT",
            d.Type.FLOAT32: "REAL",
            d.Type.FLOAT64: "DOUBLE PRECISION",
            d.Type.BOOLEAN: "BOOLEAN",
            d.Type.STRING: "TEXT",
            d.Type.BYTES: "BYTEA",
        }.get(schema.type, "TEXT")

    def now_millis(self, conn: Any) -> int:
        (now,) = conn.execute("SELECT CURRENT_TIMESTAMP").fetchone()
        return d.timestamp_to_int(now)

    def to_db(self, value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(
                tzinfo=None
            )  # TIMESTAMP columns hold UTC, as Confluent's db.timezone=UTC
        return value


def _pg_schema(data_type: str, nullable: bool, precision: int | None, scale: int | None) -> Schema:
    t = data_type.lower()
    if t == "numeric" and scale is not None:
        return d.decimal_schema(int(scale), optional=nullable)
    if t == "date":
        return d.date_schema(optional=nullable)
    if t.startswith("time ") or t == "time":
        return d.time_schema(optional=nullable)
    if t.startswith("timestamp"):
        return d.timestamp_schema(optional=nullable)
    kind = {
        "smallint": d.Type.INT16,
        "integer": d.Type.INT32,
        "bigint": d.Type.INT64,
        "real": d.Type.FLOAT32,
        "double precision": d.Type.FLOAT64,
        "numeric": d.Type.FLOAT64,
        "boolean": d.Type.BOOLEAN,
        "bytea": d.Type.BYTES,
    }.get(t, d.Type.STRING)
    return Schema(kind, optional=nullable)


class SqliteDialect(Dialect):
    name = "Sqlite"

    def connect(self) -> Any:
        path = self.url
        for prefix in ("jdbc:sqlite:", "sqlite:///", "sqlite://"):
            if path.startswith(prefix):
                path = path[len(prefix) :]
                break
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        return conn

    def list_tables(self, conn: Any, schema_pattern: str | None) -> list[str]:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        return [r[0] for r in rows]

    def table_columns(self, conn: Any, table: str) -> list[Column]:
        rows = conn.execute(f"PRAGMA table_info({self.quote(table)})").fetchall()
        if not rows:
            raise ConnectException(f"Table {table} does not exist or has no columns")
        return [Column(r[1], _sqlite_schema(r[2], not r[3] and not r[5])) for r in rows]

    def sql_type(self, schema: Schema) -> str:
        if schema.name in (d.DATE_NAME, d.TIME_NAME, d.TIMESTAMP_NAME):
            return "NUMERIC"
        if schema.name == d.DECIMAL_NAME:
            return "NUMERIC"
        return {
            d.Type.INT8: "INTEGER",
            d.Type.INT16: "INTEGER",
            d.Type.INT32: "INTEGER",
            d.Type.INT64: "INTEGER",
            d.Type.FLOAT32: "REAL",
            d.Type.FLOAT64: "REAL",
            d.Type.BOOLEAN: "INTEGER",
            d.Type.STRING: "TEXT",
            d.Type.BYTES: "BLOB",
        }.get(schema.type, "TEXT")

    def to_db(self, value: Any) -> Any:
        if isinstance(value, decimal.Decimal):
            return str(value)
        if isinstance(value, dt.datetime):
            return d.timestamp_to_int(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, dt.time):
            return value.isoformat()
        return value


def _sqlite_schema(declared: str, nullable: bool) -> Schema:
    t = (declared or "").upper()
    if "INT" in t:
        kind = d.Type.INT64
    elif any(x in t for x in ("CHAR", "CLOB", "TEXT")):
        kind = d.Type.STRING
    elif "BLOB" in t or not t:
        kind = d.Type.BYTES if "BLOB" in t else d.Type.STRING
    elif any(x in t for x in ("REAL", "FLOA", "DOUB")):
        kind = d.Type.FLOAT64
    else:
        kind = d.Type.FLOAT64  # NUMERIC affinity
    return Schema(kind, optional=nullable)


def dialect_for(url: str, user: str | None = None, password: str | None = None) -> Dialect:
    lowered = url.lower()
    if lowered.startswith(("jdbc:postgresql:", "postgresql:", "postgres:")):
        return PostgresDialect(url.removeprefix("jdbc:"), user, password)
    if lowered.startswith(("jdbc:sqlite:", "sqlite:")):
        return SqliteDialect(url, user, password)
    raise ConfigException(
        f"Invalid value {url} for configuration connection.url: only PostgreSQL (jdbc:postgresql://…) and SQLite (jdbc:sqlite:…) are supported"
    )


def python_value(schema: Schema, value: Any) -> Any:
    """A database value as the Python value of its Connect schema."""
    if value is None:
        return None
    if schema.name == d.DECIMAL_NAME:
        scale = int(schema.params.get("scale", "0"))
        return decimal.Decimal(value).quantize(decimal.Decimal(1).scaleb(-scale))
    if schema.name == d.TIMESTAMP_NAME:
        if isinstance(value, (int, float)):
            return d.timestamp_from_int(int(value))
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if (
        schema.type in (d.Type.INT8, d.Type.INT16, d.Type.INT32, d.Type.INT64)
        and schema.name is None
    ):
        return int(value)
    if schema.type in (d.Type.FLOAT32, d.Type.FLOAT64):
        return float(value)
    if schema.type is d.Type.STRING and not isinstance(value, str):
        return str(value)
    if schema.type is d.Type.BYTES:
        return bytes(value)
    return value


def value_converter(schema: Schema) -> Callable[[Any], Any]:
    """`python_value` for one column, decided once: values already of the schema's Python type pass
    through (None included), decimals are only rescaled, the rest go to `python_value`."""
    if schema.name == d.DECIMAL_NAME:
        exponent = decimal.Decimal(1).scaleb(-int(schema.params.get("scale", "0")))
        dec = decimal.Decimal

        def to_decimal(value: Any) -> Any:
            if value is None:
                return None
            if value.__class__ is not dec:
                value = dec(value)
            return value.quantize(exponent)

        return to_decimal
    if schema.name == d.TIMESTAMP_NAME:
        utc, datetime = dt.UTC, dt.datetime

        def to_timestamp(value: Any) -> Any:
            if value.__class__ is datetime:
                return value if value.tzinfo is not None else value.replace(tzinfo=utc)
            return python_value(schema, value)

        return to_timestamp
    passing: type | None = None
    if schema.name is None and schema.type in (
        d.Type.INT8,
        d.Type.INT16,
        d.Type.INT32,
        d.Type.INT64,
    ):
        passing = int
    elif schema.type is d.Type.FLOAT32 or schema.type is d.Type.FLOAT64:
        passing = float
    elif schema.type is d.Type.STRING:
        passing = str
    if passing is None:
        return lambda value: python_value(schema, value)
    kind = passing

    def convert(value: Any) -> Any:
        if value is None or value.__class__ is kind:
            return value
        return python_value(schema, value)

    return convert


def join_idents(dialect: Dialect, names: Iterable[str]) -> str:
    return ", ".join(dialect.quote(n) for n in names)
