"""Pull queries: a SELECT without EMIT, answered once from what the topics hold now.

A table's current state is its topic read up to the end offsets, keeping the latest value per key
(a tombstone deletes the key); a stream's is every record so far. The query's WHERE, projection
and LIMIT then run over those rows with the same compiled expressions as push queries. (ksqlDB reads
tables from the query's state store; riverlog.streams has no interactive queries yet, so this scans
the topic — correct, but its latency grows with the topic.)
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from riverlog.sql.analyzer import Analysis
from riverlog.sql.build import key_serde_for, value_serde_for
from riverlog.sql.errors import SqlStatementError
from riverlog.sql.formats import BAD_RECORD, ProcessingLog
from riverlog.streams.records import Windowed


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
