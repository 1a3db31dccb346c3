"""Building a riverlog.streams topology from an `Analysis`.

Names follow ksqlDB's so internal topics match: the application id is
`_confluent-ksql-<service id>query_<query id>`, a re-keying aggregation repartitions through
`Aggregate-GroupBy-repartition`, the aggregation store is `Aggregate-Aggregate-Materialize`, a
materialized source table `KsqlTopic-Reduce`. Values inside the topology are row tuples
(see `riverlog.sql.internal`); the sink writes the key and value formats of the result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from riverlog.sql.analyzer import Analysis
from riverlog.sql.build_joins import JoinPlanner
from riverlog.sql.formats import BAD_RECORD, Column, ProcessingLog, RowSerde
from riverlog.sql.internal import InternalSerde, RowSource, add_processor
from riverlog.sql.metastore import DataSource, WindowInfo
from riverlog.sql.scopes import source_scope
from riverlog.streams import (
    Consumed,
    Grouped,
    KeyValue,
    KStream,
    KTable,
    Materialized,
    Produced,
    SessionWindows,
    StreamsBuilder,
    Suppressed,
    TimeWindows,
)
from riverlog.streams.processors.base import Processor
from riverlog.streams.records import Record, Windowed
from riverlog.streams.serdes import Serde, WindowedSerdes

log = logging.getLogger("riverlog.sql")

DEFAULT_GRACE_MS = 24 * 3_600_000  # ksqlDB's grace period when none is given


@dataclass
class Sink:
    """Where a query writes: a topic with formats, or a callback (transient queries)."""

    topic: str | None
    key_format: str = "KAFKA"
    value_format: str = "JSON"
    props: dict[str, object] | None = None
    timestamp_column: str | None = None
    callback: Callable[[Any, Any, int], None] | None = None


def key_serde_for(
    fmt: str,
    columns: list[Column],
    props: dict[str, object],
    window: WindowInfo | None,
    plog: ProcessingLog,
) -> Serde[Any]:
    inner: Serde[Any] = RowSerde(fmt, columns, True, props, plog)
    if window is None:
        return inner
    if window.kind == "SESSION":
        return WindowedSerdes.session_windowed_serde_from(inner)
    return WindowedSerdes.time_windowed_serde_from(inner, window.size_ms or 0)


def value_serde_for(source: DataSource, plog: ProcessingLog) -> Serde[Any]:
    return RowSerde(source.value_format, source.value_columns, False, source.props, plog)


class TopologyPlanner(JoinPlanner):
    """One query → nodes on `builder`."""

    def __init__(self, builder: StreamsBuilder, plog: ProcessingLog) -> None:
        self.builder = builder
        self.plog = plog
        self.internal = InternalSerde()

    # -- sources ---------------------------------------------------------------------------
    def source_stream(self, source: DataSource) -> KStream:
        stream, row = self.raw_source(source)
        return add_processor(stream, "", row, stream.key_serde, self.internal)

    def raw_source(self, source: DataSource) -> tuple[KStream, RowSource]:
        """The source node (deserialized key and value) and the row builder for its records."""
        ks = key_serde_for(
            source.key_format, source.key_columns, source.props, source.window, self.plog
        )
        vs = value_serde_for(source, self.plog)
        consumed = Consumed.with_(ks, vs)
        if source.timestamp_column is not None:
            consumed = consumed.with_timestamp_extractor(self._timestamp_extractor(source, vs))
        stream = self.builder.stream(source.topic, consumed)
        row = RowSource(
            len(source.key_columns),
            len(source.value_columns),
            [
                None if c.namespace == "HEADERS" else c.namespace.split(":", 1)[1]
                for c in source.header_columns
            ],
            source.window is not None,
            source.kind == "TABLE",
            self.plog,
        )
        return stream, row

    def _timestamp_extractor(self, source: DataSource, vs: Serde[Any]) -> Any:
        """TIMESTAMP='col': the record time from a value column (the runtime hands deserialized
        records to extractors); a NULL or unparsable time makes the task skip the record."""
        names = [c.name for c in source.value_columns]
        col = source.timestamp_column
        idx = names.index(col) if col in names else None
        fmt = source.timestamp_format
        del vs

        def extract(record: Any, partition_time: int) -> int:
            row = record.value
            if idx is None or row is None or row is BAD_RECORD:
                return int(record.timestamp)
            v = row[idx]
            if v is None:
                return -1
            if fmt is not None and isinstance(v, str):
                from riverlog.sql.javatime import parse_ms

                try:
                    return parse_ms(v, fmt)
                except ValueError:
                    return -1
            return int(v)

        return extract

    def source_table(self, source: DataSource) -> KTable:
        ks = key_serde_for(
            source.key_format, source.key_columns, source.props, source.window, self.plog
        )
        return self.source_stream(source).to_table(
            Materialized.as_("KsqlTopic-Reduce").with_key_serde(ks).with_value_serde(self.internal)
        )

    def input_stream(self, a: Analysis) -> KStream:
        """The query's input rows: the source stream's, or stream ⋈ table rows (left + right)."""
        stream = self.source_stream(a.source)
        if a.join is None:
            return stream
        width = len(source_scope(a.source, a.alias).slots)
        for i, j in enumerate([a.join, *a.more_joins], start=1):
            n = "" if i == 1 else str(i)
            if j.within is not None:
                stream = self._stream_stream_join(j, stream, width, n)
            else:
                stream = self._stream_table_join(
                    stream, j, f"KafkaTopic_Right{n}-Reduce", f"Join-left{n}"
                )
            width += j.right_width + int(j.synthetic_key)
        return stream

    # -- queries ---------------------------------------------------------------------------
    def build(self, a: Analysis, sink: Sink) -> None:
        if a.group_by is not None:
            self._aggregation(a, sink)
        elif a.join is not None and a.source.kind == "TABLE":
            self._table_table_join(a, sink)
        elif a.source.kind == "TABLE":
            table = self.source_table(a.source)
            if a.where is not None:
                table = table.filter(_guard(a.where, False, self.plog))
            project = self._projector(a)
            out = table.map_values(lambda k, row: project(k, row)[1])
            self._write_table(a, out, sink, rekey=self._rekey(a))
        elif a.join is None and not a.table_functions:
            self._fused_stream_query(a, sink)
        else:
            stream = self.input_stream(a)
            if a.where is not None:
                stream = stream.filter(_guard_kv(a.where, self.plog))
            if a.table_functions:
                stream = stream.flat_map_values(_explode(a.table_functions))
            project = self._projector(a)

            def emit(proc: Processor, record: Record) -> None:
                key, value = project(record.key, record.value)
                proc.context.forward(Record(key, value, record.timestamp, record.headers))

            projected = add_processor(stream, "", emit, None, None, key_changing=True)
            self._write_stream(a, projected, sink)

    def _fused_stream_query(self, a: Analysis, sink: Sink) -> None:
        """A stream query without joins or table functions as one processor: build the row,
        filter, project (ksqlDB's source → filter → select steps, without the hops between)."""
        raw, rows = self.raw_source(a.source)
        where = _guard(a.where, False, self.plog) if a.where is not None else None
        project = self._projector(a)
        row_of = rows.row_of
        # ksqlDB passes a stream record without a value through an unfiltered projection (a
        # NULL row selects to NULL) when the key stays the source's key
        keys = [a.projection[i].expr for i in a.key_index]
        same_key = [getattr(k, "name", None) for k in keys] == [
            c.name for c in a.source.key_columns
        ]
        pass_nulls = where is None and a.partition_by is None and sink.callback is None and same_key

        def run(proc: Processor, record: Record) -> None:
            row = row_of(proc, record)
            if row is None:
                if pass_nulls and record.value is None and record.key is not BAD_RECORD:
                    proc.context.forward(Record(record.key, None, record.timestamp, record.headers))
                return
            if where is not None and not where(None, row):
                return
            key, value = project(record.key, row)
            proc.context.forward(Record(key, value, record.timestamp, record.headers))

        self._write_stream(a, add_processor(raw, "", run, None, None, key_changing=True), sink)

    def _projector(self, a: Analysis) -> Callable[[Any, Any], tuple[Any, Any]]:
        raw = [p.compiled.fn for p in a.projection]
        safe = [_safe(p.compiled.fn, p.name, self.plog) for p in a.projection]
        key_idx, value_idx = a.key_index, a.value_index
        partition = [p.fn for p in a.partition_by] if a.partition_by is not None else None
        identity_value = value_idx == list(range(len(value_idx)))
        no_key = not key_idx
        # a join's output key is the join key (also when an outer join's side is NULL)
        join_key = a.join is not None and a.group_by is None and bool(key_idx)

        if partition is None and not join_key and a.source.window is None and a.window is None:
            return _plain_projector(raw, safe, key_idx, value_idx)

        def project(key: Any, row: Any) -> tuple[Any, Any]:
            if row is None:
                return key, None
            try:
                values = [f(row) for f in raw]
            except Exception:
                values = [f(row) for f in safe]
            if partition is not None:
                new_key: Any = tuple(f(row) for f in partition) if partition else None
            elif isinstance(key, Windowed):
                new_key = Windowed(tuple(values[i] for i in key_idx), key.window)
            elif join_key:
                new_key = key
            else:
                new_key = None if no_key else tuple(values[i] for i in key_idx)
            if no_key and identity_value:
                return new_key, tuple(values)
            return new_key, tuple(values[i] for i in value_idx)

        return project

    def _rekey(self, a: Analysis) -> Callable[[Any, Any], Any] | None:
        return None

    def _sink_serdes(self, a: Analysis, sink: Sink) -> tuple[Serde[Any], Serde[Any]]:
        props = sink.props or {}
        ks = key_serde_for(sink.key_format, a.key_columns, props, a.output_window, self.plog)
        vs = RowSerde(sink.value_format, a.value_columns, False, props, self.plog)
        return ks, vs

    def _write_stream(self, a: Analysis, out: KStream, sink: Sink) -> None:
        if sink.callback is not None:
            cb = sink.callback
            add_processor(out, "", lambda p, r: cb(r.key, r.value, r.timestamp))
            return
        ks, vs = self._sink_serdes(a, sink)
        out = self._maybe_set_timestamp(a, out, sink)
        assert sink.topic is not None
        out.to(sink.topic, Produced.with_(ks, vs))

    def _maybe_set_timestamp(self, a: Analysis, out: KStream, sink: Sink) -> KStream:
        if sink.timestamp_column is None:
            return out
        names = [c.name for c in a.value_columns]
        if sink.timestamp_column not in names:
            return out
        idx = names.index(sink.timestamp_column)

        def set_ts(proc: Processor, record: Record) -> None:
            ts = record.timestamp
            if record.value is not None and record.value[idx] is not None:
                ts = int(record.value[idx])
            proc.context.forward(Record(record.key, record.value, ts, record.headers))

        return add_processor(out, "", set_ts)

    def _write_table(
        self, a: Analysis, table: KTable, sink: Sink, rekey: Callable[[Any, Any], Any] | None
    ) -> None:
        del rekey
        stream = table.to_stream()
        self._write_stream(a, stream, sink)

    # -- aggregation -----------------------------------------------------------------------
    def _aggregation(self, a: Analysis, sink: Sink) -> None:
        assert a.group_by is not None
        group_fns = [g.fn for g in a.group_by]
        aggs = a.aggregates
        ks_agg: Serde[Any] = self.internal
        if len(a.group_by) == 1 and a.group_by[0].type.base in _KAFKA_KEY_TYPES:
            # ksqlDB's repartition and store keys are in the KAFKA key format: one grouping
            # column of a primitive type is its Kafka serializer's bytes (and no JSON round trip)
            ks_agg = RowSerde("KAFKA", [Column("KEY", a.group_by[0].type, "KEY")], True)
        materialized = (
            Materialized.as_("Aggregate-Aggregate-Materialize")
            .with_key_serde(ks_agg)
            .with_value_serde(self.internal)
        )

        def init() -> list[Any]:
            return [ac.udaf.init() for ac in aggs]

        def add(_k: Any, row: Any, agg: list[Any]) -> list[Any]:
            return [
                ac.udaf.add(s, *[f(row) for f in ac.args]) for ac, s in zip(aggs, agg, strict=True)
            ]

        def undo(_k: Any, row: Any, agg: list[Any]) -> list[Any]:
            return [
                ac.udaf.undo(s, *[f(row) for f in ac.args]) for ac, s in zip(aggs, agg, strict=True)
            ]

        def merge(_k: Any, x: list[Any], y: list[Any]) -> list[Any]:
            return [ac.udaf.merge(s, t) for ac, s, t in zip(aggs, x, y, strict=True)]

        def group_key(row: Any) -> Any:
            key = tuple(f(row) for f in group_fns)
            return None if any(v is None for v in key) else key

        if a.source.kind == "TABLE":
            table = self.source_table(a.source)
            if a.where is not None:
                table = table.filter(_guard(a.where, False, self.plog))
            grouped_t = table.group_by(
                lambda k, row: KeyValue(group_key(row), row),
                Grouped.as_("Aggregate-GroupBy")
                .with_key_serde(ks_agg)
                .with_value_serde(self.internal),
            )
            agg_table = grouped_t.aggregate(init, add, undo, materialized)
        else:
            stream = self.input_stream(a)
            if a.where is not None:
                stream = stream.filter(_guard_kv(a.where, self.plog))
            # ksqlDB's "Aggregate-Prepare": only the aggregate arguments travel on (through the
            # repartition topic and into the aggregator), already evaluated
            arg_fns = [f for ac in aggs for f in ac.args]
            widths = [len(ac.args) for ac in aggs]
            rekey = not (a.group_is_source_key and a.join is None)

            plog = self.plog

            def prepare(proc: Processor, record: Record) -> None:
                row = record.value
                try:
                    key = group_key(row) if rekey else record.key
                    if key is None:
                        return  # a NULL grouping value: ksqlDB drops the row
                    args = tuple(f(row) for f in arg_fns)
                except Exception as e:
                    plog.record_processing_error(
                        f"Error computing the grouping or aggregate arguments: {e}", row
                    )
                    return
                proc.context.forward(Record(key, args, record.timestamp, record.headers))

            # COUNT(*)-only aggregations carry no arguments: nothing to encode per record
            args_serde: Serde[Any] = self.internal if arg_fns else _NO_ARGS
            prepared = add_processor(stream, "", prepare, None, args_serde, key_changing=rekey)
            add_prepared = _prepared_adder(aggs, widths)
            if not rekey:
                grouped = prepared.group_by_key(Grouped.with_(None, self.internal))
                materialized = materialized.with_key_serde(stream.key_serde)  # type: ignore[arg-type]
            else:
                grouped = prepared.group_by_key(
                    Grouped.as_("Aggregate-GroupBy")
                    .with_key_serde(ks_agg)
                    .with_value_serde(args_serde),
                )
            w = a.window
            if w is None:
                agg_table = grouped.aggregate(init, add_prepared, materialized)
            else:
                grace = DEFAULT_GRACE_MS if w.grace_ms is None else w.grace_ms
                if w.retention_ms is not None:
                    materialized = materialized.with_retention(w.retention_ms)
                if w.kind == "SESSION":
                    windowed = grouped.windowed_by(
                        SessionWindows.of_inactivity_gap_and_grace(w.size_ms, grace)
                    )
                    agg_table = windowed.aggregate(init, add_prepared, merge, materialized)
                else:
                    tw = TimeWindows.of_size_and_grace(w.size_ms, grace)
                    if w.advance_ms is not None:
                        tw = tw.advance_by(w.advance_ms)
                    agg_table = grouped.windowed_by(tw).aggregate(init, add_prepared, materialized)
        if a.query.emit == "FINAL":
            agg_table = agg_table.suppress(
                Suppressed.until_window_closes(Suppressed.BufferConfig.unbounded()).with_name(
                    "Suppress"
                )
            )
        post = self._post_row(a)
        project = self._projector(a)
        if a.having is not None:
            table = agg_table.map_values(lambda k, agg: post(k, agg))
            table = table.filter(_guard(a.having, True, self.plog))
            out = table.map_values(lambda k, row: project(k, row)[1])
        else:
            out = agg_table.map_values(lambda k, agg: project(k, post(k, agg))[1])
        self._write_stream(a, out.to_stream(), sink)

    def _post_row(self, a: Analysis) -> Callable[[Any, Any], Any]:
        aggs = a.aggregates

        def post(key: Any, agg: Any) -> Any:
            if agg is None:
                return None
            if isinstance(key, Windowed):
                inner, start, end = key.key, key.window.start, key.window.end
            else:
                inner, start, end = key, None, None
            results = [ac.udaf.result(s) for ac, s in zip(aggs, agg, strict=True)]
            return (*inner, *results, start, end)

        return post


def _prepared_adder(aggs: list[Any], widths: list[int]) -> Callable[[Any, Any, Any], list[Any]]:
    """The aggregator over prepared rows: each aggregate's arguments, laid out in order."""
    plan = []
    pos = 0
    for ac, w in zip(aggs, widths, strict=True):
        plan.append((ac.udaf.add, pos, pos + w))
        pos += w

    def add(_k: Any, args: Any, agg: Any) -> list[Any]:
        return [fn(s, *args[lo:hi]) for (fn, lo, hi), s in zip(plan, agg, strict=True)]

    return add


def _explode(funcs: list[tuple[str, Callable[[Any], Any]]]) -> Callable[[Any], list[Any]]:
    """One row per element (EXPLODE) or per combination (CUBE_EXPLODE); several zip."""

    def cube(values: list[Any]) -> list[list[Any]]:
        # ksqlDB's order: [null, null], [null, B], [A, null], [A, B]
        n = len(values)
        return [
            [values[i] if mask & (1 << (n - 1 - i)) else None for i in range(n)]
            for mask in range(2**n)
        ]

    def rows(row: Any) -> list[Any]:
        lists = []
        for name, f in funcs:
            v = f(row)
            lists.append([] if v is None else (cube(v) if name == "CUBE_EXPLODE" else list(v)))
        n = max((len(x) for x in lists), default=0)
        return [(*row, *[x[i] if i < len(x) else None for x in lists]) for i in range(n)]

    return rows


def _safe(fn: Callable[[Any], Any], name: str, plog: ProcessingLog) -> Callable[[Any], Any]:
    """A projection whose evaluation fails yields NULL and a processing-log entry (ksqlDB)."""

    def run(row: Any) -> Any:
        try:
            return fn(row)
        except Exception as e:
            plog.record_processing_error(f"Error computing expression {name}: {e}", row)
            return None

    return run


_KAFKA_KEY_TYPES = ("STRING", "INTEGER", "BIGINT", "DOUBLE")


class _NoArgsSerde(Serde[Any]):
    """The empty argument tuple of aggregations without arguments (COUNT(*)): zero bytes, not
    a tombstone."""

    def serialize(self, topic: str, data: Any) -> bytes | None:
        return None if data is None else b""

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        return None if data is None else ()


_NO_ARGS = _NoArgsSerde()


def _plain_projector(
    raw: list[Any], safe: list[Any], key_idx: list[int], value_idx: list[int]
) -> Callable[[Any, Any], tuple[Any, Any]]:
    """The projection of an unwindowed, unjoined, unpartitioned query: key and value tuples
    straight from the compiled expressions (the safe, logging ones only after a failure)."""
    key_fns, value_fns = [raw[i] for i in key_idx], [raw[i] for i in value_idx]
    safe_keys, safe_values = [safe[i] for i in key_idx], [safe[i] for i in value_idx]

    def project(key: Any, row: Any) -> tuple[Any, Any]:
        if row is None:
            return key, None
        try:
            values = tuple([f(row) for f in value_fns])
            if not key_fns:
                return None, values
            return tuple([f(row) for f in key_fns]), values
        except Exception:
            values = tuple([f(row) for f in safe_values])
            if not safe_keys:
                return None, values
            return tuple([f(row) for f in safe_keys]), values

    return project


def _guard(
    pred: Callable[[Any], bool], post: bool, plog: ProcessingLog
) -> Callable[[Any, Any], bool]:
    def test(_k: Any, row: Any) -> bool:
        if row is None:
            return False
        try:
            return pred(row)
        except Exception as e:
            plog.record_processing_error(f"Error evaluating predicate: {e}", row)
            return False

    del post
    return test


def _guard_kv(pred: Callable[[Any], bool], plog: ProcessingLog) -> Callable[[Any, Any], bool]:
    return _guard(pred, False, plog)
