"""SHOW / LIST / DESCRIBE / EXPLAIN results, shaped as ksqlDB's REST entities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from riverlog.sql import ast
from riverlog.sql import types as T
from riverlog.sql.aggregates import AGGREGATES
from riverlog.sql.errors import SqlNotFoundError, SqlStatementError
from riverlog.sql.functions import FUNCTIONS
from riverlog.sql.metastore import DataSource

if TYPE_CHECKING:
    from riverlog.sql.engine import Engine, Entity, PersistentQuery

TABLE_FUNCTIONS = {
    "EXPLODE": "Explodes an array into one row per element.",
    "CUBE_EXPLODE": "All grouping-set combinations of the columns.",
}


def schema_json(t: T.SqlType) -> dict[str, Any]:
    """ksqlDB's `SchemaInfo`: {type, fields, memberSchema}."""
    if t.base == "STRUCT":
        return {
            "type": "STRUCT",
            "fields": [{"name": n, "schema": schema_json(ft)} for n, ft in t.fields],
            "memberSchema": None,
        }
    if t.base == "ARRAY":
        return {"type": "ARRAY", "fields": None, "memberSchema": schema_json(t.items[0])}
    if t.base == "MAP":
        return {"type": "MAP", "fields": None, "memberSchema": schema_json(t.items[1])}
    base = {"INTEGER": "INTEGER", "STRING": "STRING"}.get(t.base, t.base)
    out: dict[str, Any] = {"type": base, "fields": None, "memberSchema": None}
    if t.base == "DECIMAL":
        out["parameters"] = {"precision": t.precision, "scale": t.scale}
    return out


def _source_summary(s: DataSource) -> dict[str, Any]:
    return {
        "type": s.kind,
        "name": s.name,
        "topic": s.topic,
        "keyFormat": s.key_format,
        "valueFormat": s.value_format,
        "isWindowed": s.window is not None,
    }


def query_summary(q: PersistentQuery) -> dict[str, Any]:
    materializer = q.id.startswith("CST_")  # a source table's query writes nowhere
    return {
        "queryString": q.sql,
        "sinks": [] if materializer else [q.sink],
        "sinkKafkaTopics": [] if materializer else [q.sink_topic],
        "id": q.id,
        "statusCount": {q.state: 1},
        "queryType": "PERSISTENT",
        "state": q.state,
    }


def list_entities(engine: Engine, stmt: ast.ListStatement, props: dict[str, Any]) -> Entity:
    what = stmt.what
    base: dict[str, Any] = {"statementText": stmt.text, "warnings": []}
    ms = engine.metastore
    if what == "STREAMS":
        if stmt.extended:
            return {
                **base,
                "@type": "source_descriptions",
                "sourceDescriptions": [source_description(engine, s, True) for s in ms.streams()],
            }
        return {**base, "@type": "streams", "streams": [_source_summary(s) for s in ms.streams()]}
    if what == "TABLES":
        if stmt.extended:
            return {
                **base,
                "@type": "source_descriptions",
                "sourceDescriptions": [source_description(engine, s, True) for s in ms.tables()],
            }
        return {**base, "@type": "tables", "tables": [_source_summary(s) for s in ms.tables()]}
    if what == "QUERIES":
        return {
            **base,
            "@type": "queries",
            "queries": [query_summary(q) for q in engine.queries.values()],
        }
    if what == "TOPICS":
        topics = engine.kafka.list_topics()
        shown = {
            n: p for n, p in topics.items() if stmt.qualifier == "ALL" or not n.startswith("_")
        }
        return {
            **base,
            "@type": "kafka_topics",
            "topics": [{"name": n, "replicaInfo": [1] * p} for n, p in sorted(shown.items())],
        }
    if what == "PROPERTIES":
        merged = {**engine.config.properties, **{k: str(v) for k, v in props.items()}}
        return {
            **base,
            "@type": "properties",
            "properties": [
                {"name": k, "scope": "KSQL", "value": v} for k, v in sorted(merged.items())
            ],
            "overwrittenProperties": sorted(props),
            "defaultProperties": [],
        }
    if what == "FUNCTIONS":
        fns = [
            {"name": f.name, "type": "SCALAR", "category": f.category} for f in FUNCTIONS.values()
        ]
        fns += [{"name": n, "type": "AGGREGATE", "category": "AGGREGATE"} for n in AGGREGATES]
        fns += [{"name": n, "type": "TABLE", "category": "TABLE"} for n in TABLE_FUNCTIONS]
        fns += [
            {"name": n, "type": "SCALAR", "category": "LAMBDA"}
            for n in ("TRANSFORM", "FILTER", "REDUCE")
        ]
        return {
            **base,
            "@type": "function_names",
            "functions": sorted(fns, key=lambda f: f["name"]),
        }
    if what == "TYPES":
        return {
            **base,
            "@type": "type_list",
            "types": {n: schema_json(t) for n, t in sorted(ms.types.items())},
        }
    if what == "VARIABLES":
        return {
            **base,
            "@type": "variables",
            "variables": [{"name": k, "value": v} for k, v in sorted(engine.variables.items())],
        }
    if what == "CONNECTORS":
        from riverlog.sql.connectors import ConnectClient

        return ConnectClient(engine.config.connect_url).list(stmt)
    raise SqlStatementError(f"Unsupported listing: {what}")


def source_description(engine: Engine, s: DataSource, extended: bool) -> dict[str, Any]:
    readers = [query_summary(q) for q in engine.queries.values() if s.name in q.sources]
    writers = [query_summary(q) for q in engine.queries.values() if q.sink == s.name]
    fields = []
    for c in s.columns:
        f: dict[str, Any] = {"name": c.name, "schema": schema_json(c.type)}
        if c.namespace in ("KEY", "PRIMARY_KEY"):
            f["type"] = "KEY"
        elif c.namespace.startswith("HEADER"):
            f["type"] = "HEADER"
            if ":" in c.namespace:
                f["headerKey"] = c.namespace.split(":", 1)[1]
        fields.append(f)
    errors = sum(len(q.plog.entries) for q in engine.queries.values() if s.name in q.sources)
    return {
        "name": s.name,
        "windowType": s.window.kind if s.window else None,
        "readQueries": readers,
        "writeQueries": writers,
        "fields": fields,
        "type": s.kind,
        "timestamp": s.timestamp_column or "",
        "statistics": "",
        "errorStats": f"processing-errors: {errors}" if extended and errors else "",
        "extended": extended,
        "keyFormat": s.key_format,
        "valueFormat": s.value_format,
        "topic": s.topic,
        "partitions": s.partitions if extended else 0,
        "replication": s.replicas if extended else 0,
        "statement": s.sql,
        "queryOffsetSummaries": [],
        "sourceConstraints": sorted(q.sink for q in engine.queries.values() if s.name in q.sources),
        "clusterStatistics": [],
        "clusterErrorStats": [],
    }


def describe_entity(engine: Engine, stmt: ast.Describe) -> Entity:
    base: dict[str, Any] = {"statementText": stmt.text, "warnings": []}
    if stmt.what == "FUNCTION":
        return {**base, "@type": "describe_function", **describe_function(stmt.name or "")}
    if stmt.what in ("STREAMS", "TABLES"):
        sources = (
            engine.metastore.streams() if stmt.what == "STREAMS" else engine.metastore.tables()
        )
        return {
            **base,
            "@type": "source_descriptions",
            "sourceDescriptions": [source_description(engine, s, stmt.extended) for s in sources],
        }
    if stmt.what == "CONNECTOR":
        from riverlog.sql.connectors import ConnectClient

        return ConnectClient(engine.config.connect_url).describe(stmt.name or "", stmt.text)
    source = engine.metastore.find(stmt.name or "")
    if source is None:
        raise SqlNotFoundError(f"Could not find STREAM/TABLE '{stmt.name}' in the Metastore")
    return {
        **base,
        "@type": "sourceDescription",
        "sourceDescription": source_description(engine, source, stmt.extended),
    }


def describe_function(name: str) -> dict[str, Any]:
    upper = name.upper()
    if upper in FUNCTIONS:
        f = FUNCTIONS[upper]
        kind, desc = "SCALAR", f.description
    elif upper in AGGREGATES:
        kind, desc = "AGGREGATE", AGGREGATES[upper].description
    elif upper in TABLE_FUNCTIONS:
        kind, desc = "TABLE", TABLE_FUNCTIONS[upper]
    else:
        raise SqlNotFoundError(f"Can't find any functions with the name '{upper}'")
    return {
        "name": upper,
        "description": desc,
        "author": "riverlog",
        "version": "",
        "path": "internal",
        "functions": [
            {"arguments": [], "returnType": "", "description": desc, "argumentTypes": []}
        ],
        "type": kind,
    }


def explain_entity(engine: Engine, stmt: ast.Explain) -> Entity:
    base: dict[str, Any] = {"statementText": stmt.text, "warnings": []}
    if stmt.query_id is not None:
        q = engine._query(stmt.query_id)
        return {**base, "@type": "queryDescription", "queryDescription": _query_description(q)}
    return {
        **base,
        "@type": "queryDescription",
        "queryDescription": _plan_description(engine, stmt),
    }


def _plan_description(engine: Engine, stmt: ast.Explain) -> dict[str, Any]:
    """EXPLAIN <statement>: the plan and topology the statement would run, nothing started."""
    from riverlog.sql.analyzer import analyze
    from riverlog.sql.build import Sink, TopologyPlanner
    from riverlog.sql.formats import ProcessingLog
    from riverlog.streams import StreamsBuilder

    inner = stmt.statement
    if isinstance(inner, ast.QueryStatement):
        query, sink_name = inner.query, None
    elif isinstance(inner, ast.CreateAsSelect):
        query, sink_name = inner.query, inner.name
    elif isinstance(inner, ast.InsertInto):
        query, sink_name = inner.query, inner.target
    else:
        raise SqlStatementError(
            "EXPLAIN takes a query, CREATE … AS SELECT, INSERT INTO … SELECT or a query id."
        )
    a = analyze(query, engine.metastore, sink_name, persistent=sink_name is not None)
    builder = StreamsBuilder()
    TopologyPlanner(builder, ProcessingLog()).build(a, Sink(None, callback=lambda k, v, t: None))
    return {
        "id": "",
        "statementText": inner.text,
        "windowType": a.window.kind if a.window else None,
        "fields": [{"name": p.name, "schema": schema_json(p.compiled.type)} for p in a.projection],
        "sources": [a.source.name] + ([a.join.right.name] if a.join else []),
        "sinks": [sink_name] if sink_name else [],
        "topology": str(builder.build().describe()),
        "executionPlan": "",
        "overriddenProperties": {},
        "ksqlHostQueryStatus": {},
        "queryType": "PERSISTENT" if sink_name else "PUSH",
        "queryErrors": [],
        "tasksMetadata": [],
        "state": None,
    }


def _query_description(q: PersistentQuery) -> dict[str, Any]:
    return {
        "id": q.id,
        "statementText": q.sql,
        "windowType": None,
        "fields": [
            {"name": c.name, "schema": schema_json(c.type)}
            for c in q.analysis.key_columns + q.analysis.value_columns
        ],
        "sources": q.sources,
        "sinks": [q.sink],
        "topology": str(q.topology.describe()),
        "executionPlan": "",
        "overriddenProperties": {},
        "ksqlHostQueryStatus": {},
        "queryType": "PERSISTENT",
        "queryErrors": []
        if q.error is None
        else [{"timestamp": q.error_time, "errorMessage": q.error, "type": "UNKNOWN"}],
        "tasksMetadata": [],
        "state": q.state,
    }
