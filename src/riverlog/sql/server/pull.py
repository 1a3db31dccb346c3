"""Pull queries: a SELECT without EMIT, answered once from what the topics hold now.

A table's current state is its topic read up to the end offsets, keeping the latest value per key
(a tombstone deletes the key); a stream's is every record so far. The query's WHERE, projection
and LIMIT then run over those rows with the same compiled expressions as push queries.

A table a running query materializes is read from that query's store instead, through
riverlog.streams' interactive queries, as ksqlDB reads its materialized tables: an aggregation's
`Aggregate-Aggregate-Materialize` store, or — for a CTAS over one table — its source table's
`KsqlTopic-Reduce` store with the CTAS's WHERE and projection applied; a key lookup when the
pull query's WHERE names the key, a store scan otherwise.

Invariant: the per-query readers cached here are keyed by query id and bound to the runtime handle
they were built for; a restarted query (new handle) gets a new reader.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from riverlog.sql import ast
from riverlog.sql.analyzer import Analysis
from riverlog.sql.build import key_serde_for, value_serde_for
from riverlog.sql.errors import SqlStatementError
from riverlog.sql.formats import BAD_RECORD, ProcessingLog
from riverlog.streams import QueryableStoreTypes, StoreQueryParameters
from riverlog.streams.errors import InvalidStateStoreException
from riverlog.streams.interactive import QueryableStoreType
from riverlog.streams.records import Windowed
from riverlog.streams.serdes import MAX_LONG


def scan(bootstrap: str, a: Analysis, table_scan_enabled: bool) -> list[list[Any]]:
    """The rows of a pull query over `a.source`."""
    source = a.source
    if a.group_by is not None:
        raise SqlStatementError("Pull queries don't support GROUP BY clauses.")
    if a.partition_by is not None:
        raise SqlStatementError("Pull queries don't support PARTITION BY clauses.")
    if source.kind == "TABLE" and a.query.where is None and not table_scan_enabled:
        raise SqlStatementError(
            "Missing WHERE clause. A pull query on a table without a WHERE clause needs "
            "'ksql.query.pull.table.scan.enabled' set to true."
        )
    plog = ProcessingLog()
    ks = key_serde_for(source.key_format, source.key_columns, source.props, source.window, plog)
    vs = value_serde_for(source, plog)
    records = _read(bootstrap, source.topic)
    if source.kind == "STREAM":
        records.sort(key=lambda r: (r[2], r[0], r[1]))  # event time across partitions
    latest: dict[Any, Any] = {}
    rows: list[Any] = []
    n_headers = len(source.header_columns)
    for partition, offset, ts, kb, vb in records:
        key = ks.deserialize(source.topic, kb)
        if key is BAD_RECORD:
            continue
        value = vs.deserialize(source.topic, vb) if vb is not None else None
        if value is BAD_RECORD:
            continue
        inner = key.key if isinstance(key, Windowed) else key
        keys = tuple(inner) if inner is not None else (None,) * len(source.key_columns)
        row = None
        if value is not None:
            row = (*keys, *value, *([None] * n_headers), ts, partition, offset)
            if source.window is not None:
                w = key.window if isinstance(key, Windowed) else None
                row = (*row, None if w is None else w.start, None if w is None else w.end)
        if source.kind == "TABLE":
            if row is None:
                latest.pop(key, None)
            else:
                latest[key] = row
        elif row is not None:
            rows.append(row)
    if source.kind == "TABLE":
        rows = list(latest.values())
    out: list[list[Any]] = []
    for row in rows:
        if a.where is not None and not a.where(row):
            continue
        out.append([p.compiled.fn(row) for p in a.projection])
        if a.query.limit is not None and len(out) >= a.query.limit:
            break
    return out


def _read(bootstrap: str, topic: str) -> list[tuple[int, int, int, bytes | None, bytes | None]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "_riverlog-sql-pull",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        md = consumer.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            raise SqlStatementError(f"Topic '{topic}' does not exist.")
        ends: dict[int, int] = {}
        assign = []
        for p in t.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
                assign.append(TopicPartition(topic, p, low))
        out: list[tuple[int, int, int, bytes | None, bytes | None]] = []
        if not assign:
            return out
        consumer.assign(assign)
        remaining = set(ends)
        while remaining:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            p, offset, err = msg.partition() or 0, msg.offset() or 0, msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF and offset >= ends.get(p, 0):
                    remaining.discard(p)
                continue
            if offset < ends[p]:
                out.append((p, offset, msg.timestamp()[1], msg.key(), msg.value()))
            if offset + 1 >= ends[p]:
                remaining.discard(p)
        return out
    finally:
        consumer.close()


AGGREGATE_STORE = "Aggregate-Aggregate-Materialize"
SOURCE_TABLE_STORE = "KsqlTopic-Reduce"


@dataclass
class _Reader:
    """What answering pull queries from one persistent query's store needs, built once per
    query (planning the post-aggregation and projection functions costs more than a lookup)."""

    query_id: str
    handle: Any
    post: Callable[[Any, Any], Any]  # (store key, stored value) → the query's row
    project: Callable[[Any, Any], tuple[Any, Any]]
    having: Callable[[Any], bool] | None  # HAVING, or the WHERE of a CTAS over a table
    store_type: QueryableStoreType
    store: str


_readers: dict[str, _Reader] = {}
_readers_lock = threading.Lock()


def _reader(q: Any) -> _Reader:
    """The cached reader of persistent query `q` (rebuilt when its runtime was restarted)."""
    with _readers_lock:
        r = _readers.get(q.id)
        if r is not None and r.handle is q.handle:
            return r
    from riverlog.sql.build import TopologyPlanner
    from riverlog.streams import StreamsBuilder

    qa = q.analysis
    planner = TopologyPlanner(StreamsBuilder(), ProcessingLog())
    window = qa.window if qa.group_by is not None else None
    if window is None:
        store_type = QueryableStoreTypes.key_value_store()
    elif window.kind == "SESSION":
        store_type = QueryableStoreTypes.session_store()
    else:
        store_type = QueryableStoreTypes.window_store()
    if qa.group_by is not None:
        post, having, store = planner._post_row(qa), qa.having, AGGREGATE_STORE
    else:  # a CTAS over one table: its materialized source rows, then its WHERE
        post, having, store = (lambda _k, row: row), qa.where, SOURCE_TABLE_STORE
    r = _Reader(q.id, q.handle, post, planner._projector(qa), having, store_type, store)
    with _readers_lock:
        _readers[q.id] = r
    return r


def from_store(queries: list[Any], a: Analysis) -> list[list[Any]] | None:
    """A pull query on a CTAS table answered from the running query's store, read
    through riverlog.streams' interactive queries (`KafkaStreams.store`, as ksqlDB reads its
    materialized tables). None when no such query runs here or its store cannot be read now
    (restoring, rebalancing): the caller scans the topic instead."""
    source = a.source
    if source.kind != "TABLE" or a.group_by is not None or a.partition_by is not None:
        return None
    q = next(
        (
            q
            for q in queries
            if q.sink == source.name
            and _materializes(q.analysis)
            and q.handle is not None
            and q.state == "RUNNING"
        ),
        None,
    )
    if q is None:
        return None
    r = _reader(q)
    key = _key_literal(a)
    kind = r.store_type.kind
    if kind == "session" and key is None:
        return None  # a session store is read by key; a full scan reads the topic
    try:
        store = q.handle.store(StoreQueryParameters.from_name_and_type(r.store, r.store_type))
        entries: list[tuple[Any, Any]]
        if kind == "kv" and key is not None:
            found = store.get(key)
            entries = [] if found is None else [(key, found)]
        elif kind == "kv":
            entries = [(kv.key, kv.value) for kv in store.all()]
        elif kind == "window" and key is not None:
            entries = [(kv.key, kv.value) for kv in store.fetch(key, key, 0, MAX_LONG)]
        elif kind == "window":
            entries = [(kv.key, kv.value) for kv in store.all()]
        else:
            entries = [(kv.key, kv.value) for kv in store.fetch(key)]
    except InvalidStateStoreException:
        return None
    return _rows(a, r, entries)


def _materializes(qa: Analysis) -> bool:
    """A persistent query whose result a store holds: an aggregation, or a CTAS over one table
    without joins or table functions (its source table's store, filtered and projected)."""
    if qa.group_by is not None:
        return True
    return (
        qa.source.kind == "TABLE"
        and qa.source.window is None
        and qa.join is None
        and not qa.table_functions
        and qa.partition_by is None
    )


def _rows(a: Analysis, r: _Reader, entries: list[tuple[Any, Any]]) -> list[list[Any]]:
    """The pull query's rows from (store key, aggregate) entries: the persistent query's
    post-aggregation step, HAVING and projection, then the pull query's WHERE, projection and
    LIMIT."""
    source = a.source
    windowed = source.window is not None
    n_headers = len(source.header_columns)
    out: list[list[Any]] = []
    for k, agg in entries:
        if agg is None:
            continue
        post_row = r.post(k, agg)
        if r.having is not None and not r.having(post_row):
            continue
        new_key, value = r.project(k, post_row)
        inner = new_key.key if isinstance(new_key, Windowed) else new_key
        row = (*(inner or ()), *value, *([None] * n_headers), None, None, None)
        if windowed:
            w = k.window if isinstance(k, Windowed) else None
            row = (*row, None if w is None else w.start, None if w is None else w.end)
        if a.where is not None and not a.where(row):
            continue
        out.append([p.compiled.fn(row) for p in a.projection])
        if a.query.limit is not None and len(out) >= a.query.limit:
            break
    return out


def _key_literal(a: Analysis) -> tuple[Any, ...] | None:
    """`WHERE <key column> = <literal>` on a single-key table: the key to look up."""
    w = a.query.where
    keys = a.source.key_columns
    if len(keys) != 1 or not isinstance(w, ast.Binary) or w.op != "=":
        return None
    for col, lit in ((w.left, w.right), (w.right, w.left)):
        if (
            isinstance(col, ast.Column)
            and col.name == keys[0].name
            and isinstance(lit, ast.Literal)
        ):
            if lit.value is None:
                return None
            value = lit.value
            if keys[0].type.base == "DOUBLE":
                value = float(value)  # type: ignore[arg-type]
            return (value,)
    return None
