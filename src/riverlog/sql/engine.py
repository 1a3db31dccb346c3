"""The SQL engine: executes statements against a metastore, starting and stopping queries.

Invariants: the metastore and the persistent queries change only through `execute`, one statement
at a time, in command order; a statement that fails changes nothing (each statement is validated
fully before anything is registered). Statements that change state ("commands": DDL, persistent
queries, TERMINATE, DROP, types) are numbered by `command_seq`, which also numbers query ids
(`CSAS_<SINK>_<seq>`, `CTAS_…`, `INSERTQUERY_<seq>`), so replaying the same commands in the same
order rebuilds the same queries with the same ids.

Running topologies and talking to Kafka are not done here: a `Runtime` starts/stops queries and a
`Kafka` creates/lists/deletes topics and produces records (the QTT runner and the server each give
their own).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from riverlog.sql import ast
from riverlog.sql import types as T
from riverlog.sql.analyzer import Analysis, analyze
from riverlog.sql.build import Sink, TopologyPlanner
from riverlog.sql.engine_admin import AdminStatements
from riverlog.sql.errors import SqlNotFoundError, SqlStatementError
from riverlog.sql.expressions import ExpressionCompiler, Scope
from riverlog.sql.formats import Column, ProcessingLog, RowSerde, check_format
from riverlog.sql.metastore import DataSource, MetaStore, WindowInfo
from riverlog.sql.schema_inference import maybe_infer_columns
from riverlog.sql.script import split_and_parse
from riverlog.streams import StreamsBuilder, Topology

Entity = dict[str, Any]


class Kafka(Protocol):
    def topic_partitions(self, name: str) -> int | None: ...
    def create_topic(
        self, name: str, partitions: int, replicas: int, config: dict[str, str]
    ) -> None: ...
    def delete_topic(self, name: str) -> None: ...
    def list_topics(self) -> dict[str, int]: ...
    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, timestamp: int | None
    ) -> None: ...


class Runtime(Protocol):
    def start(self, query: PersistentQuery) -> None: ...
    def stop(self, query: PersistentQuery, cleanup: bool) -> None: ...


@dataclass
class PersistentQuery:
    id: str
    sql: str
    sink: str
    sink_topic: str
    sources: list[str]
    topology: Topology
    application_id: str
    analysis: Analysis
    plog: ProcessingLog
    state: str = "RUNNING"  # RUNNING | PAUSED | ERROR
    error: str | None = None
    error_time: int = 0  # epoch ms of the error (ksqlDB's QueryError.timestamp)
    handle: Any = None  # the runtime's (KafkaStreams, driver…)
    # the request's streams properties (ksqlDB's overwriteProperties: a session's
    # `SET 'auto.offset.reset'='earliest'` applies to the persistent queries it creates)
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class EngineConfig:
    service_id: str = "default_"
    default_partitions: int = 1
    default_replicas: int = 1
    properties: dict[str, str] = field(default_factory=dict)
    connect_url: str | None = None
    default_key_format: str = "KAFKA"  # ksql.persistence.default.format.key
    default_value_format: str | None = None  # ksql.persistence.default.format.value
    materialize_source_tables: bool = False  # ksql.source.table.materialization.enabled


_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")


class Engine(AdminStatements):
    def __init__(self, kafka: Kafka, runtime: Runtime, config: EngineConfig | None = None) -> None:
        self.kafka = kafka
        self.runtime = runtime
        self.config = config or EngineConfig()
        self.metastore = MetaStore()
        self.queries: dict[str, PersistentQuery] = {}
        self.command_seq = 0
        self.variables: dict[str, str] = {}
        self.plog_sink: Callable[[dict[str, Any]], None] | None = None
        from riverlog.sql.functions import load_plugins

        load_plugins()

    # -- entry points ----------------------------------------------------------------------
    def execute(self, text: str, properties: dict[str, Any] | None = None) -> list[Entity]:
        """Parse and run a script; stops at the first failing statement (raising its error)."""
        results: list[Entity] = []
        for stmt in split_and_parse(text, self.variables):
            results.extend(self.execute_statement(stmt, properties))
        return results

    def execute_statement(
        self, stmt: ast.Statement, properties: dict[str, Any] | None = None
    ) -> list[Entity]:
        handler = getattr(self, "_" + type(stmt).__name__.lower(), None)
        if handler is None:
            raise SqlStatementError(f"Statement not supported: {stmt.text}")
        result: list[Entity] = handler(stmt, properties or {})
        return result

    # -- commands --------------------------------------------------------------------------
    def _status(
        self, stmt: ast.Statement, command_id: str, message: str, query_id: str | None = None
    ) -> list[Entity]:
        seq = self.command_seq
        self.command_seq += 1
        return [
            {
                "@type": "currentStatus",
                "statementText": stmt.text,
                "commandId": command_id,
                "commandStatus": {"status": "SUCCESS", "message": message, "queryId": query_id},
                "commandSequenceNumber": seq,
                "warnings": [],
            }
        ]

    def _createsource(self, stmt: ast.CreateSource, props: dict[str, Any]) -> list[Entity]:
        existing = self.metastore.find(stmt.name)
        if existing is not None and stmt.if_not_exists:
            return self._status(
                stmt,
                _cmd_id(stmt.kind, stmt.name, "create"),
                f"Cannot add {stmt.kind.lower()} `{stmt.name}`: A {existing.kind.lower()} with the same name already exists.",
            )
        source = self._source_from_ddl(stmt)
        self.metastore.put(source, replace=stmt.or_replace)
        noun = "Stream" if stmt.kind == "STREAM" else "Table"
        if stmt.source and stmt.kind == "TABLE" and self.config.materialize_source_tables:
            query = self._materialize_source_table(source)
            self._start(query, props)
            return self._status(
                stmt,
                _cmd_id(stmt.kind, stmt.name, "create"),
                f"Created query with ID {query.id}",
                query.id,
            )
        return self._status(stmt, _cmd_id(stmt.kind, stmt.name, "create"), f"{noun} created")

    def _materialize_source_table(self, source: DataSource) -> PersistentQuery:
        """ksqlDB's CREATE SOURCE TABLE plan: a query `CST_<NAME>_<n>` with no sink that keeps
        the table in its `KsqlTopic-Reduce` store, so pull queries read it."""
        from riverlog.sql.parser import parse_one

        query_id = f"CST_{source.name}_{self.command_seq}"
        app_id = f"_confluent-ksql-{self.config.service_id}query_{query_id}"
        stmt = parse_one(f"SELECT * FROM {_quoted(source.name)} EMIT CHANGES;")
        assert isinstance(stmt, ast.QueryStatement)
        a = analyze(stmt.query, self.metastore, None, persistent=False)
        builder = StreamsBuilder()
        plog = ProcessingLog()
        if self.plog_sink is not None:
            plog.sinks.append(self.plog_sink)
        TopologyPlanner(builder, plog).source_table(source)
        return PersistentQuery(
            query_id, source.sql, source.name, source.topic, [source.name], builder.build(),
            app_id, a, plog,
        )  # fmt: skip

    def _source_from_ddl(self, stmt: ast.CreateSource) -> DataSource:
        props = _upper_keys(stmt.properties)
        topic = props.get("KAFKA_TOPIC")
        if topic is None:
            raise SqlStatementError(
                'Missing required property "KAFKA_TOPIC" which has no default value.'
            )
        topic = str(topic)
        key_format, value_format = _formats(props, None)
        value_format = value_format or self.config.default_value_format
        if value_format is None:
            raise SqlStatementError(
                "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either provide "
                "one or set a default via the 'ksql.persistence.default.format.value' config."
            )
        columns = self._columns(stmt)
        columns = maybe_infer_columns(stmt.kind, columns, key_format, value_format, topic, props)
        keys = [c for c in columns if c.namespace in ("KEY", "PRIMARY_KEY")]
        if stmt.kind == "TABLE" and any(c.namespace == "KEY" for c in columns):
            bad = next(c for c in columns if c.namespace == "KEY")
            raise SqlStatementError(
                f"Column `{bad.name}` is a 'KEY' column: please use 'PRIMARY KEY' for tables.\nTables have PRIMARY KEYs, which are unique and NON NULL.\nStreams have KEYs, which have no uniqueness or NON NULL constraints."
            )
        if stmt.kind == "STREAM" and any(c.namespace == "PRIMARY_KEY" for c in columns):
            bad = next(c for c in columns if c.namespace == "PRIMARY_KEY")
            raise SqlStatementError(
                f"Column `{bad.name}` is a 'PRIMARY KEY' column: please use 'KEY' for streams.\nTables have PRIMARY KEYs, which are unique and NON NULL.\nStreams have KEYs, which have no uniqueness or NON NULL constraints."
            )
        if stmt.kind == "TABLE" and not keys:
            raise SqlStatementError("Tables require a PRIMARY KEY. Please define the PRIMARY KEY.")
        if key_format is None:
            # ksqlDB infers NONE for a source without key columns
            key_format = self.config.default_key_format.upper() if keys else "NONE"
        check_format(key_format, keys, True, props)
        check_format(value_format, [c for c in columns if c.namespace == "VALUE"], False, props)
        partitions = self._ensure_topic(topic, props, stmt.kind)
        window = None
        if "WINDOW_TYPE" in props:
            kind = str(props["WINDOW_TYPE"]).upper()
            size = _duration_ms(str(props["WINDOW_SIZE"])) if "WINDOW_SIZE" in props else None
            window = WindowInfo(kind, size)
        ts_col = str(props["TIMESTAMP"]).upper() if "TIMESTAMP" in props else None
        if ts_col is not None and all(c.name != ts_col for c in columns):
            raise SqlStatementError(
                f"The TIMESTAMP column set in the WITH clause does not exist in the schema: '{ts_col}'"
            )
        return DataSource(
            stmt.name,
            stmt.kind,
            columns,
            topic,
            key_format,
            value_format,
            props,
            window,
            ts_col,
            str(props["TIMESTAMP_FORMAT"]) if "TIMESTAMP_FORMAT" in props else None,
            partitions,
            int(str(props.get("REPLICAS", 1))),
            stmt.text,
            stmt.source,
        )

    def _columns(self, stmt: ast.CreateSource) -> list[Column]:
        seen: set[str] = set()
        out = []
        for el in stmt.elements:
            if el.name in seen:
                raise SqlStatementError(f"Duplicate column names: {el.name}")
            if el.name in ("ROWTIME", "ROWPARTITION", "ROWOFFSET", "WINDOWSTART", "WINDOWEND"):
                raise SqlStatementError(
                    f"'{el.name}' is a reserved column name. You cannot use it as a name for a column."
                )
            seen.add(el.name)
            t = T.resolve(el.type, self.metastore.types)
            ns = {
                "KEY": "KEY",
                "PRIMARY KEY": "PRIMARY_KEY",
                "HEADERS": "HEADERS",
                "HEADER": f"HEADER:{el.header_key}",
            }.get(el.constraint or "", "VALUE")
            out.append(Column(el.name, t, ns))
        return out

    def _ensure_topic(self, topic: str, props: dict[str, object], kind: str) -> int:
        existing = self.kafka.topic_partitions(topic)
        if existing is not None:
            return existing
        if "PARTITIONS" not in props:
            raise SqlStatementError(
                f"Topic '{topic}' does not exist. If you want to create a new topic for the "
                f"{kind.lower()} please re-run the statement providing the required 'PARTITIONS' "
                "configuration in the WITH clause (and optionally 'REPLICAS'). For example: "
                f"CREATE {kind} FOO (ID INT KEY, VAL STRING) WITH (KAFKA_TOPIC='{topic}', "
                "PARTITIONS=2, REPLICAS=1, FORMAT='JSON');"
            )
        if not _TOPIC_NAME.match(topic):
            raise SqlStatementError(f"Invalid topic name: '{topic}'")
        partitions = int(str(props["PARTITIONS"]))
        replicas = int(str(props.get("REPLICAS", self.config.default_replicas)))
        config = {}
        if "RETENTION_MS" in props:
            config["retention.ms"] = str(props["RETENTION_MS"])
        if kind == "TABLE":
            config["cleanup.policy"] = "compact"
        self.kafka.create_topic(topic, partitions, replicas, config)
        return partitions

    def _createasselect(self, stmt: ast.CreateAsSelect, props: dict[str, Any]) -> list[Entity]:
        existing = self.metastore.find(stmt.name)
        if existing is not None and stmt.if_not_exists:
            return self._status(
                stmt,
                _cmd_id(stmt.kind, stmt.name, "create"),
                f"Cannot add {stmt.kind.lower()} `{stmt.name}`: A {existing.kind.lower()} with the same name already exists.",
            )
        if existing is not None and not stmt.or_replace:
            raise SqlStatementError(
                f"Cannot add {stmt.kind.lower()} '{stmt.name}': A {existing.kind.lower()} with the same name already exists"
            )
        a = analyze(stmt.query, self.metastore, stmt.name, persistent=True)
        if a.result_kind != stmt.kind:
            got, want = a.result_kind, stmt.kind
            raise SqlStatementError(
                f"Invalid result type. Your SELECT query produces a {got}. Please use CREATE {got} AS "
                f"SELECT statement instead."
                if want != got
                else ""
            )
        wprops = _upper_keys(stmt.properties)
        topic = str(wprops.get("KAFKA_TOPIC", stmt.name))
        key_format, value_format = _formats(wprops, a.source)
        if not a.key_columns and "KEY_FORMAT" not in wprops and "FORMAT" not in wprops:
            key_format = "NONE"
        inherited = {}
        if "VALUE_FORMAT" not in wprops and "FORMAT" not in wprops:
            inherited = {k: v for k, v in a.source.props.items() if k in ("VALUE_DELIMITER",)}
        fprops = {**inherited, **wprops}
        check_format(key_format or "KAFKA", a.key_columns, True, fprops)
        check_format(value_format or "JSON", a.value_columns, False, fprops)
        partitions = int(str(wprops.get("PARTITIONS", a.source.partitions)))
        replicas = int(str(wprops.get("REPLICAS", a.source.replicas)))
        ts_col = str(wprops["TIMESTAMP"]).upper() if "TIMESTAMP" in wprops else None
        sink = DataSource(
            stmt.name,
            stmt.kind,
            a.key_columns + a.value_columns,
            topic,
            key_format or "KAFKA",
            value_format or "JSON",
            fprops,
            a.output_window,
            ts_col,
            None,
            partitions,
            replicas,
            stmt.text,
        )
        prefix = "CSAS" if stmt.kind == "STREAM" else "CTAS"
        query_id = f"{prefix}_{stmt.name}_{self.command_seq}"
        if existing is not None:
            old = next((q for q in self.queries.values() if q.sink == stmt.name), None)
            if old is not None:
                query_id = old.id
                self._stop(old, cleanup=False)
        query = self._plan(query_id, stmt.text, a, sink)
        if self.kafka.topic_partitions(topic) is None:
            config = {"cleanup.policy": "compact"} if stmt.kind == "TABLE" else {}
            self.kafka.create_topic(topic, partitions, replicas, config)
        self.metastore.put(sink, replace=existing is not None)
        self._start(query, props)
        return self._status(
            stmt,
            _cmd_id(stmt.kind, stmt.name, "create"),
            f"Created query with ID {query_id}",
            query_id,
        )

    def _plan(self, query_id: str, sql: str, a: Analysis, sink: DataSource) -> PersistentQuery:
        app_id = f"_confluent-ksql-{self.config.service_id}query_{query_id}"
        builder = StreamsBuilder()
        plog = ProcessingLog()
        if self.plog_sink is not None:
            plog.sinks.append(self.plog_sink)
        TopologyPlanner(builder, plog).build(
            a,
            Sink(sink.topic, sink.key_format, sink.value_format, sink.props, sink.timestamp_column),
        )
        topology = builder.build()
        return PersistentQuery(
            query_id, sql, sink.name, sink.topic, [a.source.name], topology, app_id, a, plog
        )

    def _start(self, query: PersistentQuery, props: dict[str, Any] | None = None) -> None:
        query.properties = dict(props or {})
        self.queries[query.id] = query
        for name in query.sources:
            self.metastore.get(name).read_by.add(query.id)
        self.metastore.get(query.sink).written_by.add(query.id)
        try:
            self.runtime.start(query)
        except Exception as e:
            query.state = "ERROR"
            query.error = str(e)

    def _stop(self, query: PersistentQuery, cleanup: bool) -> None:
        self.runtime.stop(query, cleanup)
        self.queries.pop(query.id, None)
        for name in query.sources:
            s = self.metastore.find(name)
            if s is not None:
                s.read_by.discard(query.id)
        s = self.metastore.find(query.sink)
        if s is not None:
            s.written_by.discard(query.id)

    def _insertinto(self, stmt: ast.InsertInto, props: dict[str, Any]) -> list[Entity]:
        target = self.metastore.get(stmt.target)
        if target.is_source:
            raise SqlStatementError(
                f"Cannot insert into read-only {target.kind.lower()}: {target.name}"
            )
        a = analyze(stmt.query, self.metastore, stmt.target, persistent=True)
        if a.result_kind != target.kind:
            raise SqlStatementError(
                f"Incompatible data sink and query result. Data sink ({target.name}) type is {target.kind} but select query result is {a.result_kind}."
            )
        got = [(c.name, c.type) for c in a.key_columns + a.value_columns]
        want = [(c.name, c.type) for c in target.key_columns + target.value_columns]
        if got != want:
            raise SqlStatementError(
                f"Incompatible schema between results and sink.\nResult schema is {_schema(a.key_columns + a.value_columns)}\n"
                f"Sink schema is {target.schema_text()}"
            )
        query_id = f"INSERTQUERY_{self.command_seq}"
        query = self._plan(query_id, stmt.text, a, target)
        self._start(query, props)
        return self._status(
            stmt, f"stream/`{target.name}`/create", f"Created query with ID {query_id}", query_id
        )

    def _insertvalues(self, stmt: ast.InsertValues, _props: dict[str, Any]) -> list[Entity]:
        target = self.metastore.get(stmt.target)
        if target.is_source:
            raise SqlStatementError(
                f"Cannot insert values into read-only {target.kind.lower()}: {target.name}"
            )
        names = list(stmt.columns) or [c.name for c in target.key_columns + target.value_columns]
        if len(names) != len(stmt.values):
            raise SqlStatementError(
                f"Expected a value for each column. Expected Columns: {names}. Got {len(stmt.values)} values."
            )
        compiler = ExpressionCompiler(Scope([]))
        given: dict[str, Any] = {}
        for name, expr in zip(names, stmt.values, strict=True):
            col = target.column(name)
            if col is None and name != "ROWTIME":
                raise SqlStatementError(f"Column name {name} does not exist.")
            c = compiler.compile(expr)
            value = c.fn(())
            t = col.type if col else T.BIGINT
            from riverlog.sql.functions import cast_value

            given[name] = value if c.type == t or value is None else cast_value(value, c.type, t)
        if target.kind == "TABLE" and any(given.get(c.name) is None for c in target.key_columns):
            raise SqlStatementError(
                "Failed to insert values into '"
                + target.name
                + "'. Value for primary key column(s) "
                + ", ".join(c.name for c in target.key_columns)
                + " is required for tables"
            )
        key_serde = RowSerde(target.key_format, target.key_columns, True, target.props)
        value_serde = RowSerde(target.value_format, target.value_columns, False, target.props)
        key = tuple(given.get(c.name) for c in target.key_columns) if target.key_columns else None
        value = tuple(given.get(c.name) for c in target.value_columns)
        ts = given.get("ROWTIME")
        self.kafka.produce(
            target.topic,
            key_serde.serialize(target.topic, key),
            value_serde.serialize(target.topic, value),
            ts,
        )
        return []

    def _dropsource(self, stmt: ast.DropSource, _props: dict[str, Any]) -> list[Entity]:
        source = self.metastore.find(stmt.name)
        if source is None:
            if stmt.if_exists:
                return self._status(
                    stmt,
                    _cmd_id(stmt.kind, stmt.name, "drop"),
                    f"Source `{stmt.name}` does not exist.",
                )
            raise SqlNotFoundError(f"Source {stmt.name} does not exist.")
        if source.kind != stmt.kind:
            raise SqlStatementError(
                f"Incompatible data source type is {source.kind}, but statement was DROP {stmt.kind}"
            )
        # a CSAS/CTAS's own query goes with its sink (ksqlDB ≥ 0.24)
        own = [
            q
            for q in self.queries.values()
            if q.sink == stmt.name and not q.id.startswith("INSERTQUERY")
        ]
        readers = [qid for qid in source.read_by if qid not in {q.id for q in own}]
        if readers or any(
            q
            for q in self.queries.values()
            if q.sink == stmt.name and q.id.startswith("INSERTQUERY")
        ):
            self.metastore.drop(stmt.name)  # raises with ksqlDB's message
        for q in own:
            self._stop(q, cleanup=True)
        self.metastore.drop(stmt.name)
        if stmt.delete_topic:
            self.kafka.delete_topic(source.topic)
        return self._status(
            stmt,
            _cmd_id(stmt.kind, stmt.name, "drop"),
            f"Source `{stmt.name}` (topic: {source.topic}) was dropped.",
        )

    def _definevariable(self, stmt: ast.DefineVariable, _props: dict[str, Any]) -> list[Entity]:
        self.variables[stmt.name] = stmt.value
        return []

    def _undefinevariable(self, stmt: ast.UndefineVariable, _props: dict[str, Any]) -> list[Entity]:
        self.variables.pop(stmt.name, None)
        return []

    def _setproperty(self, stmt: ast.SetProperty, props: dict[str, Any]) -> list[Entity]:
        props[stmt.name] = stmt.value
        return []

    def _unsetproperty(self, stmt: ast.UnsetProperty, props: dict[str, Any]) -> list[Entity]:
        props.pop(stmt.name, None)
        return []

    # connectors go straight to Kafka Connect's REST API
    def _createconnector(self, stmt: ast.CreateConnector, _props: dict[str, Any]) -> list[Entity]:
        from riverlog.sql.connectors import ConnectClient

        return [ConnectClient(self.config.connect_url).create(stmt)]

    def _dropconnector(self, stmt: ast.DropConnector, _props: dict[str, Any]) -> list[Entity]:
        from riverlog.sql.connectors import ConnectClient

        return [ConnectClient(self.config.connect_url).drop(stmt)]

    # listing and describing statements live in riverlog.sql.describe
    def _liststatement(self, stmt: ast.ListStatement, props: dict[str, Any]) -> list[Entity]:
        from riverlog.sql.describe import list_entities

        return [list_entities(self, stmt, props)]

    def _describe(self, stmt: ast.Describe, _props: dict[str, Any]) -> list[Entity]:
        from riverlog.sql.describe import describe_entity

        return [describe_entity(self, stmt)]

    def _explain(self, stmt: ast.Explain, _props: dict[str, Any]) -> list[Entity]:
        from riverlog.sql.describe import explain_entity

        return [explain_entity(self, stmt)]


def _upper_keys(props: dict[str, object]) -> dict[str, object]:
    return {k.upper(): v for k, v in props.items()}


def _formats(props: dict[str, object], parent: DataSource | None) -> tuple[str | None, str | None]:
    fmt = props.get("FORMAT")
    key = props.get("KEY_FORMAT")
    value = props.get("VALUE_FORMAT")
    if fmt is not None and (key is not None or value is not None):
        raise SqlStatementError(
            "Cannot supply both 'FORMAT' and 'KEY_FORMAT' or 'VALUE_FORMAT' properties, as 'FORMAT' sets both key and value formats."
        )
    if fmt is not None:
        key = value = fmt
    k = str(key).upper() if key is not None else (parent.key_format if parent else None)
    v = str(value).upper() if value is not None else (parent.value_format if parent else None)
    return k, v


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _cmd_id(kind: str, name: str, action: str) -> str:
    return f"{kind.lower()}/`{name}`/{action}"


def _schema(cols: Sequence[Column]) -> str:
    return ", ".join(f"`{c.name}` {c.type}{' KEY' if c.namespace != 'VALUE' else ''}" for c in cols)


def _duration_ms(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]+)\s*", text)
    if m is None:
        raise SqlStatementError(f"Invalid duration: {text}")
    unit = m.group(2).upper().rstrip("S")
    mult = {
        "MILLISECOND": 1,
        "SECOND": 1000,
        "MINUTE": 60_000,
        "HOUR": 3_600_000,
        "DAY": 86_400_000,
    }
    if unit not in mult:
        raise SqlStatementError(f"Invalid duration unit: {m.group(2)}")
    return int(m.group(1)) * mult[unit]


OnQuery = Callable[[PersistentQuery], None]
