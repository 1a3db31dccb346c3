"""Statements that manage the engine rather than define queries, mixed into
`riverlog.sql.engine.Engine`: ALTER STREAM/TABLE, ASSERT TOPIC/SCHEMA, query control (TERMINATE,
PAUSE, RESUME) and custom types.

ksqlDB's rules: ALTER appends value columns to a source created by CREATE STREAM/TABLE (not a
CREATE … AS SELECT sink, not a SOURCE stream/table); running queries keep the schema they were
started with. ASSERT retries every 100 ms until its condition holds or its timeout
(`ksql.assert.topic.default.timeout.ms` / `…schema…`, 1 s) passes, then fails with HTTP 417.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from riverlog.sql import ast
from riverlog.sql import types as T
from riverlog.sql.errors import SqlAssertionError, SqlNotFoundError, SqlStatementError
from riverlog.sql.formats import Column

if TYPE_CHECKING:
    from riverlog.sql.engine import Entity, Kafka, PersistentQuery, Runtime
    from riverlog.sql.metastore import MetaStore

ASSERT_RETRY_MS = 100
ASSERT_DEFAULT_TIMEOUT_MS = 1000
_CAS = re.compile(r"\bAS\s+SELECT\b", re.IGNORECASE)


class AdminStatements:
    """Handlers `Engine.execute_statement` finds by the statement's class name."""

    # provided by Engine
    metastore: MetaStore
    queries: dict[str, PersistentQuery]
    kafka: Kafka
    runtime: Runtime

    def _status(
        self, stmt: ast.Statement, command_id: str, message: str, query_id: str | None = None
    ) -> list[Entity]:
        raise NotImplementedError

    def _stop(self, query: PersistentQuery, cleanup: bool) -> None:
        raise NotImplementedError

    # -- ALTER -----------------------------------------------------------------------------
    def _altersource(self, stmt: ast.AlterSource, _props: dict[str, Any]) -> list[Entity]:
        source = self.metastore.find(stmt.name)
        if source is None:
            raise SqlNotFoundError(f"Source {stmt.name} does not exist.")
        if source.is_source:
            kind = stmt.kind.lower()
            raise SqlStatementError(
                f"Cannot alter {kind} '{stmt.name}': ALTER operations are not supported on "
                f"source {kind}s."
            )
        if source.kind != stmt.kind:
            raise SqlStatementError(
                f"Incompatible data source type is {source.kind}, but statement was ALTER "
                f"{stmt.kind}"
            )
        if _CAS.search(source.sql):
            raise SqlStatementError("ALTER command is not supported for CREATE ... AS statements.")
        added: list[Column] = []
        for name, ref in stmt.columns:
            if source.column(name) is not None or any(c.name == name for c in added):
                raise SqlStatementError(
                    f"Cannot add column {name} to schema. A column with the same name already "
                    "exists."
                )
            added.append(Column(name, T.resolve(ref, self.metastore.types), "VALUE"))
        # a new DataSource: running queries keep the one (and the row layout) they started with
        self.metastore.sources[stmt.name] = dataclasses.replace(
            source, columns=[*source.columns, *added]
        )
        noun = "Stream" if source.kind == "STREAM" else "Table"
        return self._status(
            stmt, f"{stmt.kind.lower()}/{stmt.name}/alter", f"{noun} {stmt.name} altered."
        )

    # -- ASSERT ----------------------------------------------------------------------------
    def _asserttopic(self, stmt: ast.AssertTopic, _props: dict[str, Any]) -> list[Entity]:
        def check() -> None:
            described = _describe_topic(self, stmt.topic)
            if not stmt.exists:
                if described is not None:
                    raise SqlAssertionError(f"Topic {stmt.topic} exists")
                return
            if described is None:
                raise SqlAssertionError(f"Topic {stmt.topic} does not exist")
            partitions, replicas = described
            errors = []
            for key, expected in stmt.props.items():
                actual = {"PARTITIONS": partitions, "REPLICAS": replicas}.get(key.upper())
                if actual is None:
                    errors.append(f"Cannot assert unknown topic property: {key}")
                elif expected != actual:
                    errors.append(
                        f"Mismatched configuration for topic {stmt.topic}: For config "
                        f"{key.lower()}, expected {expected} got {actual}"
                    )
            if errors:
                raise SqlAssertionError("\n".join(errors))

        _retry(check, stmt.timeout_ms)
        entity: Entity = {
            "@type": "assert_topic",
            "statementText": stmt.text,
            "topicName": stmt.topic,
            "exists": stmt.exists,
            "warnings": [],
        }
        return [entity]

    def _assertschema(self, stmt: ast.AssertSchema, _props: dict[str, Any]) -> list[Entity]:
        if stmt.subject is None and stmt.schema_id is None:
            raise SqlStatementError("ASSERT SCHEMA statements much include a subject name or an id")
        subject = f" subject name {stmt.subject}" if stmt.subject is not None else ""
        sid = f" id {stmt.schema_id}" if stmt.schema_id is not None else ""

        def check() -> None:
            found = _schema_exists(stmt.subject, stmt.schema_id)
            if stmt.exists and not found:
                raise SqlAssertionError(f"Schema with{subject}{sid} does not exist")
            if not stmt.exists and found:
                raise SqlAssertionError(f"Schema with{subject}{sid} exists")

        _retry(check, stmt.timeout_ms)
        entity: Entity = {
            "@type": "assert_schema",
            "statementText": stmt.text,
            "subject": stmt.subject,
            "id": stmt.schema_id,
            "exists": stmt.exists,
            "warnings": [],
        }
        return [entity]

    # -- query control ---------------------------------------------------------------------
    def _querycontrol(self, stmt: ast.QueryControl, _props: dict[str, Any]) -> list[Entity]:
        targets = (
            list(self.queries.values()) if stmt.query_id == "ALL" else [self._query(stmt.query_id)]
        )
        for q in targets:
            if stmt.action == "TERMINATE":
                self._stop(q, cleanup=True)
            elif stmt.action == "PAUSE":
                q.state = "PAUSED"
                pause = getattr(self.runtime, "pause", None)
                if pause:
                    pause(q)
            else:
                q.state = "RUNNING"
                q.error = None
                resume = getattr(self.runtime, "resume", None)
                if resume:
                    resume(q)
        verb = {"TERMINATE": "terminate", "PAUSE": "pause", "RESUME": "resume"}[stmt.action]
        message = {
            "TERMINATE": "Query terminated.",
            "PAUSE": "Query paused.",
            "RESUME": "Query resumed.",
        }[stmt.action]
        return self._status(stmt, f"{verb}/{stmt.query_id}/execute", message)

    def _query(self, query_id: str) -> PersistentQuery:
        q = self.queries.get(query_id) or next(
            (x for x in self.queries.values() if x.id.upper() == query_id.upper()), None
        )
        if q is None:
            raise SqlNotFoundError(f"Unknown queryId: {query_id}")
        return q

    # -- types -----------------------------------------------------------------------------
    def _createtype(self, stmt: ast.CreateType, _props: dict[str, Any]) -> list[Entity]:
        if stmt.name in self.metastore.types and not stmt.if_not_exists:
            raise SqlStatementError(
                f"Cannot register custom type '{stmt.name}' since it is already registered with "
                f"type: {self.metastore.types[stmt.name]}"
            )
        self.metastore.types.setdefault(stmt.name, T.resolve(stmt.type, self.metastore.types))
        return self._status(
            stmt,
            f"type/{stmt.name}/create",
            f"Registered custom type with name '{stmt.name}' and SQL type "
            f"{self.metastore.types[stmt.name]}",
        )

    def _droptype(self, stmt: ast.DropType, _props: dict[str, Any]) -> list[Entity]:
        if stmt.name not in self.metastore.types:
            if stmt.if_exists:
                return self._status(
                    stmt, f"type/{stmt.name}/drop", f"Type {stmt.name} does not exist."
                )
            raise SqlNotFoundError(f"Type {stmt.name} does not exist.")
        del self.metastore.types[stmt.name]
        return self._status(stmt, f"type/{stmt.name}/drop", f"Dropped type '{stmt.name}'")


def _retry(check: Callable[[], None], timeout_ms: int | None) -> None:
    """ksqlDB's AssertExecutor: try, then retry every 100 ms until the timeout has passed."""
    timeout = ASSERT_DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms
    deadline = time.monotonic() + timeout / 1000
    while True:
        try:
            check()
            return
        except SqlAssertionError:
            if time.monotonic() + ASSERT_RETRY_MS / 1000 > deadline:
                raise
            time.sleep(ASSERT_RETRY_MS / 1000)


def _describe_topic(engine: AdminStatements, topic: str) -> tuple[int, int] | None:
    """(partitions, replicas) of `topic`, None when it does not exist."""
    describe = getattr(engine.kafka, "describe_topic", None)
    if describe is not None:
        found: tuple[int, int] | None = describe(topic)
        return found
    partitions = engine.kafka.topic_partitions(topic)
    return None if partitions is None else (partitions, 1)


def _schema_exists(subject: str | None, schema_id: int | None) -> bool:
    """Whether the registry has the subject (latest version), the id, or the id under the
    subject — a 404 means no; any other failure is an error."""
    from riverlog.sql.registry_formats import registry_url

    base = registry_url().rstrip("/")
    if subject is not None and schema_id is not None:
        path = f"/schemas/ids/{schema_id}/subjects"
    elif schema_id is not None:
        path = f"/schemas/ids/{schema_id}"
    else:
        path = f"/subjects/{subject}/versions/latest"
    try:
        r = httpx.get(base + path, timeout=10)
    except httpx.HTTPError as e:
        raise SqlStatementError(f"Cannot check schema existence: {e}") from None
    if r.status_code == 404:
        return False
    if r.status_code != 200:
        raise SqlStatementError(f"Cannot check schema existence: HTTP {r.status_code} {r.text}")
    if subject is not None and schema_id is not None:
        return subject in r.json()
    return True
