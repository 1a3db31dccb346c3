"""KTable: a changelog stream as a table. Processors pass `Change(new, old)`; old values flow only
when a downstream operator (group_by, suppress) asks the upstream tables to send them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from riverlog.streams.join_options import TableJoined
from riverlog.streams.kstream import KStream, _name, _with_key
from riverlog.streams.options import Grouped, Materialized, Named
from riverlog.streams.processors.aggregate import AggregateSupplier
from riverlog.streams.processors.table import (
    KTableFilter,
    KTableMapValues,
    KTableRepartitionMap,
    KTableSuppress,
    KTableToStream,
    TableSupplier,
)
from riverlog.streams.serdes import Serde
from riverlog.streams.suppressed import Suppressed
from riverlog.streams.topology import ProcessorSpec, StoreSpec

if TYPE_CHECKING:
    from riverlog.streams.builder import StreamsBuilder
    from riverlog.streams.grouped import KGroupedTable


class KTable:
    def __init__(
        self,
        builder: StreamsBuilder,
        name: str,
        key_serde: Serde[Any] | None,
        value_serde: Serde[Any] | None,
        supplier: TableSupplier | AggregateSupplier | None,
        parent: KTable | None,
        store_name: str | None,
        window_grace_ms: int | None = None,
    ) -> None:
        self.builder = builder
        self.name = name
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.supplier = supplier
        self.parent = parent
        self.store_name = store_name  # queryable store, if materialized
        self.pending_store: StoreSpec | None = None  # a source table's store, added when needed
        self.window_grace_ms = window_grace_ms
        self.extra_parents: list[KTable] = []  # a join result's other side

    def queryable_store_name(self) -> str | None:
        return self.store_name

    def enable_sending_old_values(self) -> None:
        """Make this table (and the tables it derives from) forward old values too."""
        if self.pending_store is not None and isinstance(self.supplier, TableSupplier):
            self.builder.topology.add_state_store(self.pending_store, self.name)
            self.supplier.store_name = self.pending_store.name
            self.store_name = self.pending_store.name
            self.pending_store = None
        if self.supplier is not None:
            self.supplier.send_old_values = True
        if self.parent is not None:
            self.parent.enable_sending_old_values()
        for p in self.extra_parents:
            p.enable_sending_old_values()

    def _table_op(
        self,
        prefix: str,
        make: Callable[[TableSupplier], Any],
        named: Named | str | None,
        materialized: Materialized | None,
        value_serde: Serde[Any] | None,
    ) -> KTable:
        store: StoreSpec | None = None
        ks, vs = self.key_serde, value_serde
        if materialized is not None:
            if materialized.store_name is None:
                self.builder.new_store_name(prefix)
            ks = materialized.key_serde or ks
            vs = materialized.value_serde or vs
            if materialized.store_name is not None:
                store = self.builder.kv_store_spec(materialized.store_name, materialized, ks, vs)
        name = self.builder.name_or(_name(named), prefix)
        supplier = TableSupplier(make, None if store is None else store.name)
        self.builder.topology.add_processor(ProcessorSpec(name, supplier, [self.name]))
        if store is not None:
            self.builder.topology.add_state_store(store, name)
        return KTable(
            self.builder,
            name,
            ks,
            vs,
            supplier,
            self,
            None if store is None else store.name,
            self.window_grace_ms,
        )

    def filter(
        self,
        predicate: Callable[[Any, Any], bool],
        materialized: Materialized | None = None,
        named: Named | str | None = None,
    ) -> KTable:
        return self._table_op(
            "KTABLE-FILTER-",
            lambda s: KTableFilter(s, predicate, False),
            named,
            materialized,
            self.value_serde,
        )

    def filter_not(
        self,
        predicate: Callable[[Any, Any], bool],
        materialized: Materialized | None = None,
        named: Named | str | None = None,
    ) -> KTable:
        return self._table_op(
            "KTABLE-FILTER-",
            lambda s: KTableFilter(s, predicate, True),
            named,
            materialized,
            self.value_serde,
        )

    def map_values(
        self,
        mapper: Callable[..., Any],
        materialized: Materialized | None = None,
        named: Named | str | None = None,
    ) -> KTable:
        fn = _with_key(mapper)
        return self._table_op(
            "KTABLE-MAPVALUES-", lambda s: KTableMapValues(s, fn), named, materialized, None
        )

    # -- joins -------------------------------------------------------------------------------
    def join(
        self,
        other: KTable,
        joiner: Callable[..., Any],
        named: Any = None,
        materialized: Any = None,
        extra: Any = None,
    ) -> KTable:
        """Inner table-table join on the primary key: `join(other, joiner[, named][, materialized])`;
        or a foreign-key join: `join(other, fk_extractor, joiner[, TableJoined][, Materialized])`."""
        return self._join(other, joiner, named, materialized, extra, False)

    def left_join(
        self,
        other: KTable,
        joiner: Callable[..., Any],
        named: Any = None,
        materialized: Any = None,
        extra: Any = None,
    ) -> KTable:
        return self._join(other, joiner, named, materialized, extra, True)

    def _join(
        self, other: KTable, first: Any, second: Any, third: Any, fourth: Any, left: bool
    ) -> KTable:
        from riverlog.streams.joins import foreign_key_join, table_table_join

        if callable(second):  # (fk_extractor, joiner[, TableJoined][, Materialized])
            tj = third if isinstance(third, TableJoined) else None
            m = third if isinstance(third, Materialized) else fourth
            return foreign_key_join(self, other, first, second, tj, m, left)
        named, m = second, third
        if isinstance(second, Materialized):
            named, m = None, second
        return table_table_join(self, other, first, named, m, left, False)

    def outer_join(
        self,
        other: KTable,
        joiner: Callable[..., Any],
        named: Named | str | None = None,
        materialized: Materialized | None = None,
    ) -> KTable:
        from riverlog.streams.joins import table_table_join

        return table_table_join(self, other, joiner, named, materialized, True, True)

    def to_stream(
        self, mapper: Callable[[Any, Any], Any] | None = None, named: Named | str | None = None
    ) -> KStream:
        name = self.builder.name_or(_name(named), "KTABLE-TOSTREAM-")
        self.builder.topology.add_processor(ProcessorSpec(name, KTableToStream, [self.name]))
        stream = KStream(self.builder, name, self.key_serde, self.value_serde, False)
        if mapper is not None:
            return stream.select_key(mapper)
        return stream

    def group_by(
        self, selector: Callable[[Any, Any], Any], grouped: Grouped | None = None
    ) -> KGroupedTable:
        from riverlog.streams.grouped import KGroupedTable

        g = grouped or Grouped()
        name = self.builder.name_or(g.name, "KTABLE-SELECT-")
        self.builder.topology.add_processor(
            ProcessorSpec(name, lambda: KTableRepartitionMap(selector), [self.name])
        )
        self.enable_sending_old_values()
        return KGroupedTable(self.builder, name, g.key_serde, g.value_serde, g.name)

    def suppress(self, suppressed: Suppressed) -> KTable:
        """Hold back updates: until the window closes (final results) or a time limit passes."""
        name = suppressed.name
        if name is None:
            name = self.builder.new_processor_name("KTABLE-SUPPRESS-")
        if suppressed.name is not None:
            store = f"{suppressed.name}-store"
        else:
            store = self.builder.new_store_name("KTABLE-SUPPRESS-")
        if suppressed.final_results:
            if self.window_grace_ms is None:
                raise ValueError("suppress(until_window_closes) applies only to a windowed KTable")
            duration, window_end, drop_tombstones = self.window_grace_ms, True, True
        else:
            duration, window_end, drop_tombstones = suppressed.time_limit_ms, False, False
        buf = suppressed.buffer

        def make() -> KTableSuppress:
            return KTableSuppress(
                store,
                duration,
                window_end,
                drop_tombstones,
                buf.max_records,
                buf.max_bytes,
                buf.shut_down_when_full,
            )

        self.builder.topology.add_processor(ProcessorSpec(name, make, [self.name]))
        spec = StoreSpec(
            store,
            "buffer",
            self.key_serde,
            self.value_serde,
            False,
            logging=buf.logging_enabled,
            topic_config=dict(buf.log_config),
            caching=False,
        )
        self.builder.topology.add_state_store(spec, name)
        return KTable(
            self.builder,
            name,
            self.key_serde,
            self.value_serde,
            None,
            self,
            None,
            self.window_grace_ms,
        )
