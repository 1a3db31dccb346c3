"""Join nodes of a compiled query (stream-table, stream-stream, table-table), mixed into
`riverlog.sql.build.TopologyPlanner`. Stream-stream joins with a GRACE PERIOD run on
riverlog.streams' join operator; the others are processors over state stores added through the
topology's node API (ksqlDB's eager pre-KAFKA-10847 stream-stream semantics, its stream-table and
table-table lookups)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from riverlog.sql.analyzer import Analysis
from riverlog.sql.formats import ProcessingLog
from riverlog.sql.internal import InternalSerde, add_processor
from riverlog.sql.metastore import DataSource, WindowInfo
from riverlog.sql.scopes import source_scope
from riverlog.streams import KStream, Materialized, Repartitioned, StreamsBuilder
from riverlog.streams.join_options import JoinWindows, StreamJoined, TableJoined
from riverlog.streams.processors.base import Processor
from riverlog.streams.records import Record
from riverlog.streams.serdes import Serde
from riverlog.streams.topology import StoreSpec

if TYPE_CHECKING:
    from riverlog.sql.build import Sink


class JoinPlanner:
    builder: StreamsBuilder
    plog: ProcessingLog
    internal: InternalSerde

    # provided by TopologyPlanner
    def source_stream(self, source: DataSource) -> KStream:
        raise NotImplementedError

    def _projector(self, a: Analysis) -> Callable[[Any, Any], tuple[Any, Any]]:
        raise NotImplementedError

    def _write_stream(self, a: Analysis, out: KStream, sink: Sink) -> None:
        raise NotImplementedError

    def _stream_table_join(self, stream: KStream, j: Any, store: str, repartition: str) -> KStream:
        """Each stream row looks the table's store up by the join key (repartitioning the stream
        on that key first unless it already is the stream's key)."""
        right = j.right
        ks_right = key_serde_for(
            right.key_format, right.key_columns, right.props, right.window, self.plog
        )
        self.source_stream(right).to_table(
            Materialized.as_(store).with_key_serde(ks_right).with_value_serde(self.internal)
        )
        if not j.left_is_key:
            key_fn = j.left_key.fn
            stream = stream.select_key(lambda _k, row: (key_fn(row),)).repartition(
                Repartitioned.as_(repartition)
                .with_key_serde(ks_right)
                .with_value_serde(self.internal)
            )
        width, inner = j.right_width, j.kind == "INNER"
        empty = (None,) * width

        def join(proc: Processor, record: Record) -> None:
            if record.key is None or record.value is None:
                return  # a stream row without a join key matches nothing (ksqlDB drops it)
            found = proc.context.get_state_store(store).get_with_timestamp(record.key)
            right_row = None if found is None else found.value
            if right_row is None:
                if inner:
                    return
                right_row = empty
            row = (*record.value, *right_row)
            proc.context.forward(Record(record.key, row, record.timestamp, record.headers))

        return add_processor(stream, "", join, None, self.internal, stores=[store])

    def _stream_stream_join(self, j: Any, left_rows: KStream, lwidth: int, n: str) -> KStream:
        """A windowed stream-stream join, INNER, LEFT, RIGHT or FULL OUTER, as ksqlDB builds it
        (StreamStreamJoinBuilder): with `GRACE PERIOD` it is riverlog.streams' join with
        `JoinWindows(before, after, grace)`, whose outer results wait in a shared store until
        the window closes (KAFKA-10847: no spurious NULL rows); without it ksqlDB keeps the old
        semantics (`JoinWindows.of`, 24 hours grace) where an unmatched outer row is emitted
        with NULLs at once (`_eager_stream_stream_join`)."""
        assert j.within is not None and j.right_key is not None
        right_rows = self.source_stream(j.right)
        if not (j.left_is_key and j.right_is_key):
            lk, rk = j.left_key.fn, j.right_key.fn
            left_rows = left_rows.select_key(lambda _k, row: (lk(row),)).repartition(
                Repartitioned.as_(f"Join{n}-left")
                .with_key_serde(self.internal)
                .with_value_serde(self.internal)
            )
            right_rows = right_rows.select_key(lambda _k, row: (rk(row),)).repartition(
                Repartitioned.as_(f"Join{n}-right")
                .with_key_serde(self.internal)
                .with_value_serde(self.internal)
            )
        if j.grace_ms is None:
            return self._eager_stream_stream_join(j, left_rows, right_rows, lwidth, n)
        before, after = j.within
        rwidth = j.right_width
        lnull, rnull = (None,) * lwidth, (None,) * rwidth
        synthetic = j.synthetic_key

        def joiner(key: Any, lrow: Any, rrow: Any) -> Any:
            row = (*(lnull if lrow is None else lrow), *(rnull if rrow is None else rrow))
            return (*row, key[0]) if synthetic else row

        joined = (
            StreamJoined.with_(self.internal, self.internal, self.internal)
            .with_name(f"Join{n}")
            .with_store_name(f"Join{n}")
        )
        if j.kind == "RIGHT":  # the right side outer: left_join from the right, mirrored window
            windows = JoinWindows(after, before, j.grace_ms)
            return right_rows.left_join(
                left_rows, lambda k, r, le: joiner(k, le, r), windows, joined
            )
        windows = JoinWindows(before, after, j.grace_ms)
        if j.kind == "LEFT":
            return left_rows.left_join(right_rows, joiner, windows, joined)
        if j.kind == "FULL":
            return left_rows.outer_join(right_rows, joiner, windows, joined)
        return left_rows.join(right_rows, joiner, windows, joined)

    def _eager_stream_stream_join(
        self, j: Any, left_rows: KStream, right_rows: KStream, lwidth: int, n: str
    ) -> KStream:
        """Kafka Streams' join before KAFKA-10847 (what ksqlDB runs without GRACE PERIOD): each
        side keeps its rows in a window store (duplicates retained) for WITHIN + 24 hours and
        looks the other side up within the window; an outer side's row that matches nothing on
        arrival is emitted with NULLs for the other side."""
        assert j.within is not None
        before, after = j.within
        grace = 24 * 3_600_000
        this_store, other_store = f"KSTREAM-JOINTHIS{n}-store", f"KSTREAM-JOINOTHER{n}-store"
        for name in (this_store, other_store):
            self.builder.topology.add_state_store(
                StoreSpec(
                    name,
                    "window",
                    self.internal,
                    self.internal,
                    None,
                    caching=False,
                    retention_ms=before + after + grace + 1,
                    window_size_ms=before + after + 1,
                    retain_duplicates=True,
                )
            )
        rwidth = j.right_width
        lnull, rnull = (None,) * lwidth, (None,) * rwidth
        left_outer = j.kind in ("LEFT", "FULL")
        right_outer = j.kind in ("RIGHT", "FULL")
        synthetic = j.synthetic_key

        def row_of(key: Any, lrow: Any, rrow: Any) -> Any:
            row = (*lrow, *rrow)
            return (*row, key[0]) if synthetic else row

        def from_left(proc: Processor, record: Record) -> None:
            if record.key is None or record.value is None:
                return
            ts = record.timestamp
            proc.context.get_state_store(this_store).put(record.key, record.value, ts)
            other = proc.context.get_state_store(other_store)
            matched = False
            for rts, vt in other.fetch_range_with_timestamp(record.key, ts - before, ts + after):
                matched = True
                row = row_of(record.key, record.value, vt.value)
                proc.context.forward(Record(record.key, row, max(ts, rts), record.headers))
            if not matched and left_outer:
                row = row_of(record.key, record.value, rnull)
                proc.context.forward(Record(record.key, row, ts, record.headers))

        def from_right(proc: Processor, record: Record) -> None:
            if record.key is None or record.value is None:
                return
            ts = record.timestamp
            proc.context.get_state_store(other_store).put(record.key, record.value, ts)
            this = proc.context.get_state_store(this_store)
            matched = False
            for lts, vt in this.fetch_range_with_timestamp(record.key, ts - after, ts + before):
                matched = True
                row = row_of(record.key, vt.value, record.value)
                proc.context.forward(Record(record.key, row, max(ts, lts), record.headers))
            if not matched and right_outer:
                row = row_of(record.key, lnull, record.value)
                proc.context.forward(Record(record.key, row, ts, record.headers))

        stores = [this_store, other_store]
        joined_left = add_processor(left_rows, "", from_left, None, self.internal, stores=stores)
        joined_right = add_processor(right_rows, "", from_right, None, self.internal, stores=stores)
        return joined_left.merge(joined_right)

    def _table_table_join(self, a: Analysis, sink: Sink) -> None:
        """Table-table joins, N-way included: the first join on the primary keys (or a foreign
        key), each further one on the rows so far's key; then WHERE and the projection over the
        joined changelog (a retraction is a tombstone)."""
        j = a.join
        assert j is not None
        left = a.source
        ks_left = key_serde_for(left.key_format, left.key_columns, left.props, None, self.plog)
        width = len(source_scope(left, a.alias).slots)
        if j.foreign_key:
            rows = self._foreign_key_rows(a, ks_left)
        else:
            lrows = self.source_stream(left)
            rows = self._primary_key_join(lrows, ks_left, j, "KafkaTopic_Left-Reduce", "", width)
        width += j.right_width + int(j.synthetic_key)
        for i, extra in enumerate(a.more_joins, start=2):
            rows = self._primary_key_join(
                rows, ks_left, extra, f"Join{i}-Left-Reduce", str(i), width
            )
            width += extra.right_width + int(extra.synthetic_key)
        where = a.where
        project = self._projector(a)
        guard = None if where is None else _guard(where, False, self.plog)

        def emit(proc: Processor, record: Record) -> None:
            row = record.value
            if row is not None and guard is not None and not guard(None, row):
                row = None  # a row that stops matching WHERE is deleted from the result
            key, value = project(record.key, row)
            proc.context.forward(Record(key, value, record.timestamp, record.headers))

        out = add_processor(rows, "", emit, None, None, key_changing=True)
        self._write_stream(a, out, sink)

    def _primary_key_join(
        self, lrows: KStream, ks_left: Serde[Any], j: Any, lstore: str, n: str, lwidth: int
    ) -> KStream:
        """Primary-key table-table join of a changelog of rows (a source table's, or the rows
        joined so far) with `j.right`: each side's change looks the other side up; INNER, LEFT,
        RIGHT and FULL OUTER as ksqlDB (a side's delete becomes a tombstone or a half-NULL row).
        Returns the joined changelog (None values are deletes)."""
        right = j.right
        ks_right = key_serde_for(right.key_format, right.key_columns, right.props, None, self.plog)
        rstore = f"KafkaTopic_Right{n}-Reduce"
        rrows = self.source_stream(right)
        lrows.to_table(
            Materialized.as_(lstore).with_key_serde(ks_left).with_value_serde(self.internal)
        )
        rrows.to_table(
            Materialized.as_(rstore).with_key_serde(ks_right).with_value_serde(self.internal)
        )
        kind, synthetic = j.kind, j.synthetic_key
        lnull, rnull = (None,) * lwidth, (None,) * j.right_width

        def joined(key: Any, lrow: Any, rrow: Any) -> Any:
            if lrow is None and rrow is None:
                return None
            if kind == "INNER" and (lrow is None or rrow is None):
                return None
            if kind == "LEFT" and lrow is None:
                return None
            if kind == "RIGHT" and rrow is None:
                return None
            row = (*(lrow or lnull), *(rrow or rnull))
            return (*row, key[0]) if synthetic else row

        def on_left(proc: Processor, record: Record) -> None:
            other = proc.context.get_state_store(rstore).get(record.key)
            row = joined(record.key, record.value, other)
            if row is None and record.value is not None:
                return  # nothing joined before, nothing to retract
            proc.context.forward(Record(record.key, row, record.timestamp, record.headers))

        def on_right(proc: Processor, record: Record) -> None:
            other = proc.context.get_state_store(lstore).get(record.key)
            if other is None and kind not in ("FULL", "RIGHT"):
                return  # no left row: nothing to emit or retract
            row = joined(record.key, other, record.value)
            if row is None and record.value is not None:
                return
            proc.context.forward(Record(record.key, row, record.timestamp, record.headers))

        stores = [lstore, rstore]
        from_left = add_processor(lrows, "", on_left, None, self.internal, stores=stores)
        from_right = add_processor(rrows, "", on_right, None, self.internal, stores=stores)
        return from_left.merge(from_right)

    def _foreign_key_rows(self, a: Analysis, ks_left: Serde[Any]) -> KStream:
        """ksqlDB's foreign-key table-table join (INNER, LEFT) on riverlog.streams' FK join
        (`KTable.join(other, fk_extractor, joiner)`): the left row's join expression names a
        right primary key; the result is keyed by the left table's primary key; a change on
        either side updates every joined left row (a right delete turns them into tombstones or
        half-NULL rows). Returns the joined changelog."""
        j = a.join
        assert j is not None
        left, right = a.source, j.right
        ks_right = key_serde_for(right.key_format, right.key_columns, right.props, None, self.plog)
        ltable = self.source_stream(left).to_table(
            Materialized.as_("KafkaTopic_Left-Reduce")
            .with_key_serde(ks_left)
            .with_value_serde(self.internal)
        )
        rtable = self.source_stream(right).to_table(
            Materialized.as_("KafkaTopic_Right-Reduce")
            .with_key_serde(ks_right)
            .with_value_serde(self.internal)
        )
        fk_fn = j.left_key.fn
        rnull = (None,) * j.right_width

        def extract(row: Any) -> Any:
            fk = fk_fn(row)
            return None if fk is None else (fk,)

        def joiner(lrow: Any, rrow: Any) -> Any:
            return (*lrow, *(rnull if rrow is None else rrow))

        named = TableJoined.as_("Join")
        if j.kind == "LEFT":
            joined = ltable.left_join(rtable, extract, joiner, named)
        else:
            joined = ltable.join(rtable, extract, joiner, named)
        return joined.to_stream()


def key_serde_for(
    fmt: str,
    columns: list[Any],
    props: dict[str, object],
    window: WindowInfo | None,
    plog: ProcessingLog,
) -> Serde[Any]:
    from riverlog.sql.build import key_serde_for as build_key_serde

    return build_key_serde(fmt, columns, props, window, plog)


def _guard(
    pred: Callable[[Any], bool], post: bool, plog: ProcessingLog
) -> Callable[[Any, Any], bool]:
    from riverlog.sql.build import _guard as build_guard

    return build_guard(pred, post, plog)
