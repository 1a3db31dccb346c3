"""KStream: a record stream. Every operator adds a node with Kafka Streams' generated name
(`KSTREAM-<OP>-<index>`) or the user's `Named`; key-changing operators mark the stream so a later
stateful operator inserts a repartition topic."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from riverlog.streams.options import (
    Branched,
    Grouped,
    Materialized,
    Named,
    Printed,
    Produced,
    Repartitioned,
)
from riverlog.streams.processors import stateless as sl
from riverlog.streams.processors.table import KTableSource, TableSupplier
from riverlog.streams.serdes import Serde
from riverlog.streams.topology import ProcessorSpec, SinkSpec

if TYPE_CHECKING:
    from riverlog.streams.builder import GlobalKTable, StreamsBuilder
    from riverlog.streams.grouped import KGroupedStream
    from riverlog.streams.join_options import JoinWindows, StreamJoined
    from riverlog.streams.ktable import KTable


def _name(named: Named | str | None) -> str | None:
    if isinstance(named, Named):
        return named.name
    return named


class KStream:
    def __init__(
        self,
        builder: StreamsBuilder,
        name: str,
        key_serde: Serde[Any] | None,
        value_serde: Serde[Any] | None,
        repartition_required: bool,
    ) -> None:
        self.builder = builder
        self.name = name
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.repartition_required = repartition_required

    def _add(
        self,
        prefix: str,
        supplier: Callable[[], Any],
        named: Named | str | None,
        key_serde: Serde[Any] | None,
        value_serde: Serde[Any] | None,
        repartition: bool,
    ) -> KStream:
        name = self.builder.name_or(_name(named), prefix)
        self.builder.topology.add_processor(ProcessorSpec(name, supplier, [self.name]))
        return KStream(self.builder, name, key_serde, value_serde, repartition)

    # -- stateless ---------------------------------------------------------------------------
    def filter(
        self, predicate: Callable[[Any, Any], bool], named: Named | str | None = None
    ) -> KStream:
        return self._add(
            "KSTREAM-FILTER-",
            lambda: sl.Filter(predicate, False),
            named,
            self.key_serde,
            self.value_serde,
            self.repartition_required,
        )

    def filter_not(
        self, predicate: Callable[[Any, Any], bool], named: Named | str | None = None
    ) -> KStream:
        return self._add(
            "KSTREAM-FILTER-",
            lambda: sl.Filter(predicate, True),
            named,
            self.key_serde,
            self.value_serde,
            self.repartition_required,
        )

    def select_key(
        self, selector: Callable[[Any, Any], Any], named: Named | str | None = None
    ) -> KStream:
        return self._add(
            "KSTREAM-KEY-SELECT-",
            lambda: sl.SelectKey(selector),
            named,
            None,
            self.value_serde,
            True,
        )

    def map(self, mapper: Callable[[Any, Any], Any], named: Named | str | None = None) -> KStream:
        return self._add("KSTREAM-MAP-", lambda: sl.Map(mapper), named, None, None, True)

    def map_values(self, mapper: Callable[..., Any], named: Named | str | None = None) -> KStream:
        fn = _with_key(mapper)
        return self._add(
            "KSTREAM-MAPVALUES-",
            lambda: sl.MapValues(fn),
            named,
            self.key_serde,
            None,
            self.repartition_required,
        )

    def flat_map(
        self, mapper: Callable[[Any, Any], Iterable[Any]], named: Named | str | None = None
    ) -> KStream:
        return self._add("KSTREAM-FLATMAP-", lambda: sl.FlatMap(mapper), named, None, None, True)

    def flat_map_values(
        self, mapper: Callable[..., Iterable[Any]], named: Named | str | None = None
    ) -> KStream:
        fn = _with_key(mapper)
        return self._add(
            "KSTREAM-FLATMAPVALUES-",
            lambda: sl.FlatMapValues(fn),
            named,
            self.key_serde,
            None,
            self.repartition_required,
        )

    def peek(self, action: Callable[[Any, Any], None], named: Named | str | None = None) -> KStream:
        return self._add(
            "KSTREAM-PEEK-",
            lambda: sl.Peek(action),
            named,
            self.key_serde,
            self.value_serde,
            self.repartition_required,
        )

    def foreach(self, action: Callable[[Any, Any], None], named: Named | str | None = None) -> None:
        self._add("KSTREAM-FOREACH-", lambda: sl.Foreach(action), named, None, None, False)

    def print(self, printed: Printed) -> None:
        label = printed.label or self.name
        self._add(
            "KSTREAM-PRINTER-",
            lambda: sl.Print(printed.out, printed.path, label, printed.mapper),
            printed.name,
            None,
            None,
            False,
        )

    def merge(self, other: KStream, named: Named | str | None = None) -> KStream:
        name = self.builder.name_or(_name(named), "KSTREAM-MERGE-")
        self.builder.topology.add_processor(
            ProcessorSpec(name, sl.PassThrough, [self.name, other.name])
        )
        return KStream(
            self.builder, name, None, None, self.repartition_required or other.repartition_required
        )

    def split(self, named: Named | str | None = None) -> BranchedKStream:
        return BranchedKStream(self, _name(named))

    # -- sinks -------------------------------------------------------------------------------
    def to(
        self, topic: str | Callable[[Any, Any, Any], str], produced: Produced | None = None
    ) -> None:
        p = produced or Produced()
        name = self.builder.name_or(p.name, "KSTREAM-SINK-")
        static = topic if isinstance(topic, str) else None
        extractor = None if isinstance(topic, str) else topic
        self.builder.topology.add_sink(
            SinkSpec(
                name,
                static,
                extractor,
                p.key_serde or self.key_serde,
                p.value_serde or self.value_serde,
                p.partitioner,
                [self.name],
            )
        )

    def repartition(self, repartitioned: Repartitioned | None = None) -> KStream:
        r = repartitioned or Repartitioned()
        name = (
            r.name
            if r.name is not None
            else self.builder.new_processor_name("KSTREAM-REPARTITION-")
        )
        ks = r.key_serde or self.key_serde
        vs = r.value_serde or self.value_serde
        source = self.builder.repartition(
            self.name, name, r.key_serde or self.key_serde, vs, r.num_partitions, r.partitioner
        )
        return KStream(self.builder, source, ks, vs, False)

    # -- Processor API -----------------------------------------------------------------------
    def process(
        self, processor_supplier: Any, *store_names: str, named: Named | str | None = None
    ) -> KStream:
        """Run a `Processor` (from `processor_supplier()`, or its `get()`) on every record, with
        access to the named stores (added with `builder.add_state_store`); returns its output."""
        name = self.builder.name_or(_name(named), "KSTREAM-PROCESSOR-")
        make = processor_supplier.get if hasattr(processor_supplier, "get") else processor_supplier
        t = self.builder.topology
        t.add_processor(ProcessorSpec(name, make, [self.name]))
        for store in getattr(processor_supplier, "stores", lambda: [])() or []:
            if store.name not in t.stores:
                t.add_state_store(store)
            t.connect_processor_and_state_stores(name, store.name)
        if store_names:
            t.connect_processor_and_state_stores(name, *store_names)
        return KStream(self.builder, name, None, None, True)

    def process_values(
        self, processor_supplier: Any, *store_names: str, named: Named | str | None = None
    ) -> KStream:
        """Kafka's `processValues` (KIP-820): as `process`, but the processor keeps each record's key,
        so the result needs no repartitioning before a join or aggregation. The processor must
        forward records with the key it was given."""
        out = self.process(processor_supplier, *store_names, named=named)
        return KStream(self.builder, out.name, self.key_serde, None, self.repartition_required)

    # -- joins -------------------------------------------------------------------------------
    def join(
        self,
        other: KStream | KTable | GlobalKTable,
        joiner: Callable[..., Any],
        windows: Any = None,
        joined: Any = None,
    ) -> KStream:
        """`join(stream, joiner, JoinWindows[, StreamJoined])`, `join(table, joiner[, Joined])` or
        `join(global_table, key_selector, joiner[, Named])`."""
        return self._join(other, joiner, windows, joined, False, False)

    def left_join(
        self,
        other: KStream | KTable | GlobalKTable,
        joiner: Callable[..., Any],
        windows: Any = None,
        joined: Any = None,
    ) -> KStream:
        return self._join(other, joiner, windows, joined, True, False)

    def outer_join(
        self,
        other: KStream,
        joiner: Callable[..., Any],
        windows: JoinWindows,
        joined: StreamJoined | None = None,
    ) -> KStream:
        return self._join(other, joiner, windows, joined, True, True)

    def _join(
        self,
        other: KStream | KTable | GlobalKTable,
        joiner: Callable[..., Any],
        windows: Any,
        joined: Any,
        left_outer: bool,
        right_outer: bool,
    ) -> KStream:
        from riverlog.streams import joins
        from riverlog.streams.builder import GlobalKTable
        from riverlog.streams.join_options import Joined, JoinWindows

        if isinstance(other, GlobalKTable):  # join(global_table, key_selector, joiner[, named])
            if right_outer:
                raise TypeError("outer_join is defined for two streams or two tables")
            named = joined if isinstance(joined, str) else _name(joined)
            return joins.stream_global_join(self, other, joiner, windows, named, left_outer)
        if isinstance(other, KStream):
            if not isinstance(windows, JoinWindows):
                raise TypeError("a stream-stream join needs JoinWindows")
            return joins.stream_stream_join(
                self, other, joiner, windows, joined, left_outer, right_outer
            )
        if right_outer:
            raise TypeError("outer_join is defined for two streams or two tables")
        j = windows if isinstance(windows, Joined) else joined
        return joins.stream_table_join(self, other, joiner, j, left_outer)

    # -- grouping and tables -----------------------------------------------------------------
    def group_by_key(self, grouped: Grouped | None = None) -> KGroupedStream:
        from riverlog.streams.grouped import KGroupedStream

        g = grouped or Grouped()
        return KGroupedStream(
            self.builder,
            self.name,
            g.key_serde or self.key_serde,
            g.value_serde or self.value_serde,
            self.repartition_required,
            g.name,
        )

    def group_by(
        self, selector: Callable[[Any, Any], Any], grouped: Grouped | None = None
    ) -> KGroupedStream:
        from riverlog.streams.grouped import KGroupedStream

        g = grouped or Grouped()
        name = self.builder.name_or(g.name, "KSTREAM-KEY-SELECT-")
        self.builder.topology.add_processor(
            ProcessorSpec(name, lambda: sl.SelectKey(selector), [self.name])
        )
        return KGroupedStream(
            self.builder, name, g.key_serde, g.value_serde or self.value_serde, True, g.name
        )

    def to_table(
        self, materialized: Materialized | None = None, named: Named | str | None = None
    ) -> KTable:
        from riverlog.streams.ktable import KTable

        m = materialized or Materialized()
        name = self.builder.name_or(_name(named), "KSTREAM-TOTABLE-")
        queryable = m.store_name is not None
        store_name = (
            m.store_name
            if m.store_name is not None
            else self.builder.new_store_name("KSTREAM-TOTABLE-")
        )
        ks = m.key_serde or self.key_serde
        vs = m.value_serde or self.value_serde
        parent = self.name
        if self.repartition_required:
            parent = self.builder.repartition(self.name, name, ks, vs)
        supplier = TableSupplier(KTableSource, store_name if queryable else None)
        self.builder.topology.add_processor(ProcessorSpec(name, supplier, [parent]))
        store = self.builder.kv_store_spec(store_name, m, ks, vs)
        table = KTable(
            self.builder, name, ks, vs, supplier, None, store_name if queryable else None
        )
        table.pending_store = None if queryable else store
        if queryable:
            self.builder.topology.add_state_store(store, name)
        return table


class BranchedKStream:
    """`split()`: branches are pass-through children of one branch node, named prefix + name/index."""

    def __init__(self, source: KStream, prefix: str | None) -> None:
        self.source = source
        self.splitter = source.builder.name_or(prefix, "KSTREAM-BRANCH-")
        self.predicates: list[Callable[[Any, Any], bool]] = []
        self.children: list[str] = []
        self.outputs: dict[str, KStream] = {}
        preds, children = self.predicates, self.children
        source.builder.topology.add_processor(
            ProcessorSpec(self.splitter, lambda: sl.Branch(preds, children), [source.name])
        )

    def branch(
        self, predicate: Callable[[Any, Any], bool], branched: Branched | None = None
    ) -> BranchedKStream:
        self.predicates.append(predicate)
        self._create(branched or Branched(), len(self.predicates))
        return self

    def default_branch(self, branched: Branched | None = None) -> dict[str, KStream]:
        self._create(branched or Branched(), 0)
        return self.outputs

    def no_default_branch(self) -> dict[str, KStream]:
        return self.outputs

    def _create(self, branched: Branched, index: int) -> None:
        name = self.splitter + (branched.name if branched.name is not None else str(index))
        self.children.append(name)
        self.source.builder.new_processor_name(name)  # Kafka burns an index per branch
        self.source.builder.topology.add_processor(
            ProcessorSpec(name, sl.PassThrough, [self.splitter])
        )
        s = self.source
        stream = KStream(s.builder, name, s.key_serde, s.value_serde, s.repartition_required)
        if branched.function is not None:
            out = branched.function(stream)
            if out is not None:
                self.outputs[name] = out
        elif branched.consumer is not None:
            branched.consumer(stream)
        else:
            self.outputs[name] = stream


def _with_key(fn: Callable[..., Any]) -> Callable[[Any, Any], Any]:
    """Accept `ValueMapper` (value) and `ValueMapperWithKey` (key, value) callables."""
    import inspect

    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        n = len(params)
    except (TypeError, ValueError):
        n = 1
    if n >= 2:
        return fn
    return lambda _k, v: fn(v)
