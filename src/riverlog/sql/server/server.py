"""The SQL server: engine + command topic + query runtime + REST API.

Invariants: statements that change the engine run one at a time under `lock`; a command is written
to the command topic only after it executed here, at the offset the engine numbered it with; on
start the server replays the whole command topic before it listens, then follows commands other
servers with the same service id write.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from riverlog.common.service import HttpService, parse_listener
from riverlog.sql import ast
from riverlog.sql import types as T
from riverlog.sql.analyzer import Analysis, analyze
from riverlog.sql.engine import Engine, EngineConfig, Entity
from riverlog.sql.errors import SqlAssertionError, SqlError, SqlStatementError
from riverlog.sql.formats import Column
from riverlog.sql.jsonio import dumps
from riverlog.sql.metastore import DataSource
from riverlog.sql.script import split_and_parse
from riverlog.sql.server.commands import Command, CommandTopic
from riverlog.sql.server.config import parse_config, streams_properties
from riverlog.sql.server.kafka import ClusterKafka
from riverlog.sql.server.runtime import StreamsRuntime, TransientQuery

log = logging.getLogger("riverlog.sql.server")

VERSION = "0.29.0"

COMMANDS = (
    ast.CreateSource,
    ast.CreateAsSelect,
    ast.InsertInto,
    ast.DropSource,
    ast.CreateType,
    ast.DropType,
    ast.QueryControl,
    ast.AlterSource,
)


class StatementFailure(Exception):
    """A statement failed: the entity ksqlDB returns (statement_error) and the HTTP status."""

    def __init__(self, entity: Entity, status: int = 400) -> None:
        super().__init__(entity.get("message"))
        self.entity = entity
        self.status = status


def error_entity(message: str, statement: str, code: int = 40001) -> Entity:
    return {
        "@type": "statement_error",
        "error_code": code,
        "message": message,
        "statementText": statement,
        "entities": [],
    }


class SqlServer:
    def __init__(self, props: dict[str, Any]) -> None:
        import threading

        self.config = parse_config(props)  # raises ConfigError naming the key
        self.service_id = str(self.config["ksql.service.id"])
        self.bootstrap = str(self.config["bootstrap.servers"])
        _scheme, self.host, self.port = parse_listener(str(self.config["listeners"]))
        self.lock = threading.RLock()
        from riverlog.sql import registry_formats

        registry_formats.configure(str(self.config["ksql.schema.registry.url"]) or None)
        self.kafka = ClusterKafka(self.bootstrap, int(self.config["ksql.internal.topic.replicas"]))
        self.runtime = StreamsRuntime(self.bootstrap, streams_properties(self.config))
        self.engine = Engine(
            self.kafka,
            self.runtime,
            EngineConfig(
                self.service_id,
                properties={k: str(v) for k, v in self.config.items()},
                connect_url=str(self.config["ksql.connect.url"]) or None,
                default_key_format=str(self.config["ksql.persistence.default.format.key"]),
                default_value_format=str(
                    self.config["ksql.persistence.default.format.value"]
                ).upper()
                or None,
                materialize_source_tables=bool(
                    self.config["ksql.source.table.materialization.enabled"]
                ),
            ),
        )
        self.commands = CommandTopic(
            self.kafka, self.service_id, int(self.config["ksql.internal.topic.replicas"])
        )
        self.statuses: dict[str, dict[str, str]] = {}
        self.transient: dict[str, TransientQuery] = {}
        self.http: HttpService | None = None
        self.started_ms = int(time.time() * 1000)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        from riverlog.sql.server.rest import build_app

        self.commands.ensure()
        self._replay()
        self._maybe_processing_log()
        self.commands.follow(self.commands.next_offset, self._run_remote)
        self.http = HttpService(build_app(self), self.host, self.port, name="ksql", http2=True)
        self.http.start()

    @property
    def url(self) -> str:
        assert self.http is not None
        return self.http.url

    def stop(self) -> None:
        if self.http is not None:
            self.http.stop()
        self.commands.close()
        for tq in list(self.transient.values()):
            tq.close()
        for q in list(self.engine.queries.values()):
            self.runtime.stop(q, cleanup=False)
        self.kafka.close()

    def _replay(self) -> None:
        commands = self.commands.read_all()
        self.runtime.deferred = []
        with self.lock:
            for cmd in commands:
                self._apply(cmd)
            self.runtime.finish_replay(self.engine.queries)
        log.info(
            "replayed %d commands; %d queries running", len(commands), len(self.engine.queries)
        )

    def _apply(self, cmd: Command) -> None:
        self.engine.command_seq = cmd.offset
        try:
            self.engine.execute(cmd.statement, dict(cmd.properties))
            self.statuses[cmd.command_id] = {"status": "SUCCESS", "message": ""}
        except SqlError as e:
            log.warning("command %d (%s) failed on replay: %s", cmd.offset, cmd.command_id, e)
            self.statuses[cmd.command_id] = {"status": "ERROR", "message": str(e)}

    def _run_remote(self, cmd: Command) -> None:
        with self.lock:
            if cmd.offset in self.commands.own_offsets or cmd.offset < self.commands.next_offset:
                return  # ours, or already run
            self._apply(cmd)
            self.commands.next_offset = cmd.offset + 1

    def _maybe_processing_log(self) -> None:
        topic = (
            str(self.config["ksql.logging.processing.topic.name"])
            or f"{self.service_id}ksql_processing_log"
        )
        if not self.config["ksql.logging.processing.topic.auto.create"]:
            return
        if self.kafka.topic_partitions(topic) is None:
            self.kafka.create_topic(
                topic,
                int(self.config["ksql.logging.processing.topic.partitions"]),
                int(self.config["ksql.logging.processing.topic.replication.factor"]),
                {},
            )

        def sink(entry: dict[str, Any]) -> None:
            record = {
                "LOGGER": "processing",
                "LEVEL": "ERROR",
                "TIME": int(time.time() * 1000),
                "MESSAGE": entry,
            }
            try:
                self.kafka.producer().produce(topic, value=dumps(record).encode())
                self.kafka.producer().poll(0)
            except Exception as e:
                log.warning("processing log write failed: %s", e)

        self.engine.plog_sink = sink
        if (
            self.config["ksql.logging.processing.stream.auto.create"]
            and self.engine.metastore.find("KSQL_PROCESSING_LOG") is None
        ):
            message = T.SqlType(
                "STRUCT",
                fields=(
                    ("TYPE", T.INTEGER),
                    (
                        "DESERIALIZATIONERROR",
                        T.SqlType(
                            "STRUCT",
                            fields=(
                                ("target", T.STRING),
                                ("errorMessage", T.STRING),
                                ("RECORDB64", T.STRING),
                                ("topic", T.STRING),
                            ),
                        ),
                    ),
                    (
                        "RECORDPROCESSINGERROR",
                        T.SqlType(
                            "STRUCT", fields=(("errorMessage", T.STRING), ("record", T.STRING))
                        ),
                    ),
                ),
            )
            self.engine.metastore.put(
                DataSource(
                    "KSQL_PROCESSING_LOG",
                    "STREAM",
                    [
                        Column("LOGGER", T.STRING),
                        Column("LEVEL", T.STRING),
                        Column("TIME", T.BIGINT),
                        Column("MESSAGE", message),
                    ],
                    topic,
                    "NONE",
                    "JSON",
                    sql=f"CREATE STREAM KSQL_PROCESSING_LOG (LOGGER STRING, LEVEL STRING, TIME BIGINT, MESSAGE STRUCT<...>) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');",
                )
            )

    # -- statements ------------------------------------------------------------------------
    def execute(self, text: str, props: dict[str, Any], variables: dict[str, str]) -> list[Entity]:
        """POST /ksql: every statement in order; the first failure stops and is returned."""
        with self.lock:
            self.engine.variables = dict(variables)
            try:
                statements = split_and_parse(text, self.engine.variables)
            except SqlError as e:
                raise StatementFailure(error_entity(str(e), text)) from None
            results: list[Entity] = []
            for stmt in statements:
                if isinstance(stmt, (ast.QueryStatement, ast.PrintTopic)):  # /query only
                    raise StatementFailure(
                        error_entity(
                            "The following statement types should be issued to the websocket "
                            "endpoint '/query':\n\t* PRINT\n\t* SELECT",
                            stmt.text,
                        )
                    )
                try:
                    results.extend(self._execute_one(stmt, props))
                except SqlAssertionError as e:  # ksqlDB: a KsqlErrorMessage with HTTP 417
                    raise StatementFailure(
                        {"@type": "generic_error", "error_code": e.error_code, "message": str(e)},
                        417,
                    ) from None
                except SqlError as e:
                    raise StatementFailure(
                        error_entity(str(e), stmt.text, e.error_code), 400
                    ) from None
            return results

    def _execute_one(self, stmt: ast.Statement, props: dict[str, Any]) -> list[Entity]:
        if not isinstance(stmt, COMMANDS):
            return self.engine.execute_statement(stmt, props)
        self.engine.command_seq = self.commands.next_offset
        out = self.engine.execute_statement(stmt, props)
        command_id = out[0]["commandId"] if out else f"statement/{stmt.text[:40]}"
        offset = self.commands.append(command_id, stmt.text, {k: v for k, v in props.items()})
        if out:
            out[0]["commandSequenceNumber"] = offset
        self.statuses[command_id] = {
            "status": "SUCCESS",
            "message": out[0]["commandStatus"]["message"] if out else "",
        }
        return out

    def push_or_pull(
        self, text: str, props: dict[str, Any], variables: dict[str, str]
    ) -> tuple[str, Any]:
        """POST /query and /query-stream: ("push", TransientQuery) or ("pull", (columns, rows))."""
        with self.lock:
            statements = split_and_parse(text, {**self.engine.variables, **variables})
            if len(statements) == 1 and isinstance(statements[0], ast.PrintTopic):
                if self.kafka.topic_partitions(statements[0].topic) is None:
                    raise SqlStatementError(
                        f"Could not find topic '{statements[0].topic}', or the KSQL user does not "
                        "have permissions to list the topic. Topic names are case-sensitive."
                    )
                return "print", statements[0]
            if len(statements) != 1 or not isinstance(statements[0], ast.QueryStatement):
                raise SqlStatementError("Expected a single SELECT or PRINT statement.")
            q = statements[0].query
            a = analyze(q, self.engine.metastore, None, persistent=False)
        if q.emit is None:
            return "pull", self._pull(a)
        tq = TransientQuery(self.runtime, self.service_id, a, q.limit, props)
        self.transient[tq.id] = tq
        tq.start()
        return "push", tq

    def _pull(self, a: Analysis) -> tuple[list[tuple[str, str]], list[list[Any]]]:
        from riverlog.sql.server.pull import from_store, scan

        with self.lock:
            queries = list(self.engine.queries.values())
        rows = from_store(queries, a)
        if rows is None:
            rows = scan(self.bootstrap, a, bool(self.config["ksql.query.pull.table.scan.enabled"]))
        return [(p.name, str(p.compiled.type)) for p in a.projection], rows

    def pull_from_store(
        self, text: str, variables: dict[str, str]
    ) -> tuple[list[tuple[str, str]], list[list[Any]]] | None:
        """A pull query answered at once from a running query's store, or None when `text` is
        anything else (or the engine is busy with a statement): the REST layer calls this on its
        event loop, so a key lookup costs no thread hand-offs, and sends the rest to a worker
        thread (`push_or_pull`)."""
        from riverlog.sql.server.pull import from_store

        if not self.lock.acquire(blocking=False):
            return None
        try:
            statements = split_and_parse(text, {**self.engine.variables, **variables})
            if len(statements) != 1 or not isinstance(statements[0], ast.QueryStatement):
                return None
            q = statements[0].query
            if q.emit is not None:
                return None
            a = analyze(q, self.engine.metastore, None, persistent=False)
            queries = list(self.engine.queries.values())
        finally:
            self.lock.release()
        rows = from_store(queries, a)
        if rows is None:
            return None
        return [(p.name, str(p.compiled.type)) for p in a.projection], rows

    def close_transient(self, query_id: str) -> bool:
        tq = self.transient.pop(query_id, None)
        if tq is None:
            return False
        tq.close()
        return True

    def insert_row(self, target: str, row: dict[str, Any]) -> None:
        """POST /inserts-stream: one JSON row into a stream or table."""
        with self.lock:
            source = self.engine.metastore.get(target.upper())
        from riverlog.sql.formats import RowSerde

        upper = {k.upper(): v for k, v in row.items()}
        unknown = [k for k in upper if source.column(k) is None and k != "ROWTIME"]
        if unknown:
            raise SqlStatementError(f"Column name {unknown[0]} does not exist.")
        key = (
            tuple(T.coerce(upper.get(c.name), c.type) for c in source.key_columns)
            if source.key_columns
            else None
        )
        value = tuple(T.coerce(upper.get(c.name), c.type) for c in source.value_columns)
        ks = RowSerde(source.key_format, source.key_columns, True, source.props)
        vs = RowSerde(source.value_format, source.value_columns, False, source.props)
        ts = upper.get("ROWTIME")
        self.kafka.produce(
            source.topic,
            ks.serialize(source.topic, key),
            vs.serialize(source.topic, value),
            int(ts) if ts is not None else None,
        )
