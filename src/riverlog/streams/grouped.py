"""Grouped streams and tables: `KGroupedStream`, `TimeWindowedKStream` (time and sliding windows),
`SessionWindowedKStream`, `KGroupedTable`. Aggregations name their store first, then their processor,
and insert a repartition topic (`<grouped name or store name>-repartition`) when the key changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from riverlog.streams.kstream import _name
from riverlog.streams.options import Materialized, Named
from riverlog.streams.processors.aggregate import (
    AggregateSupplier,
    KStreamAggregate,
    KStreamSessionWindowAggregate,
    KStreamSlidingWindowAggregate,
    KStreamWindowAggregate,
)
from riverlog.streams.processors.table import KTableAggregate, TableSupplier
from riverlog.streams.serdes import (
    ChangedSerde,
    LongSerde,
    Serde,
    SessionWindowedSerde,
    TimeWindowedSerde,
)
from riverlog.streams.topology import ProcessorSpec, StoreSpec
from riverlog.streams.windows import SessionWindows, SlidingWindows, TimeWindows

if TYPE_CHECKING:
    from riverlog.streams.builder import StreamsBuilder
    from riverlog.streams.ktable import KTable

AGGREGATE = "KSTREAM-AGGREGATE-"
REDUCE = "KSTREAM-REDUCE-"


def _count_init() -> int:
    return 0


def _count_agg(_k: Any, _v: Any, agg: int) -> int:
    return agg + 1


def _reduce_agg(reducer: Callable[[Any, Any], Any]) -> Callable[[Any, Any, Any], Any]:
    return lambda _k, v, agg: v if agg is None else reducer(agg, v)


class _GroupedBase:
    def __init__(
        self,
        builder: StreamsBuilder,
        name: str,
        key_serde: Serde[Any] | None,
        value_serde: Serde[Any] | None,
        repartition_required: bool,
        grouped_name: str | None,
    ) -> None:
        self.builder = builder
        self.name = name
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.repartition_required = repartition_required
        self.grouped_name = grouped_name
        self._repartition_source: str | None = None

    def _store_name(self, m: Materialized, prefix: str, burn: bool = False) -> str:
        if m.store_name is None and burn:
            self.builder.new_store_name(prefix)  # Kafka burns a name here for compatibility
        return m.store_name if m.store_name is not None else self.builder.new_store_name(prefix)

    def _parent(self, store_name: str) -> str:
        if not self.repartition_required:
            return self.name
        if self._repartition_source is not None and self.grouped_name is not None:
            return self._repartition_source
        prefix = self.grouped_name if self.grouped_name is not None else store_name
        self._repartition_source = self.builder.repartition(
            self.name, prefix, self.key_serde, self.value_serde
        )
        return self._repartition_source

    def _aggregate(
        self,
        store: StoreSpec,
        func_name: str,
        make: Callable[[AggregateSupplier], Any],
        key_serde: Serde[Any] | None,
        value_serde: Serde[Any] | None,
        queryable: bool,
        grace: int | None = None,
    ) -> KTable:
        from riverlog.streams.ktable import KTable

        parent = self._parent(store.name)
        supplier = AggregateSupplier(store.name, make)
        self.builder.topology.add_processor(ProcessorSpec(func_name, supplier, [parent]))
        self.builder.topology.add_state_store(store, func_name)
        return KTable(
            self.builder,
            func_name,
            key_serde,
            value_serde,
            supplier,
            None,
            store.name if queryable else None,
            grace,
        )


class KGroupedStream(_GroupedBase):
    def _kv(
        self,
        m: Materialized,
        prefix: str,
        value_serde: Serde[Any] | None,
        named: Named | str | None,
        make: Callable[[AggregateSupplier], Any],
        burn: bool = False,
    ) -> KTable:
        store_name = self._store_name(m, prefix, burn)
        func = self.builder.name_or(_name(named), prefix)
        ks = m.key_serde or self.key_serde
        vs = m.value_serde or value_serde
        store = self.builder.kv_store_spec(store_name, m, ks, vs)
        return self._aggregate(store, func, make, ks, vs, m.store_name is not None)

    def count(
        self, materialized: Materialized | None = None, named: Named | str | None = None
    ) -> KTable:
        m = materialized or Materialized.with_(self.key_serde, LongSerde())
        if m.value_serde is None:
            m.value_serde = LongSerde()
        return self._kv(
            m,
            AGGREGATE,
            LongSerde(),
            named,
            lambda s: KStreamAggregate(s, _count_init, _count_agg),
            burn=materialized is not None,
        )

    def reduce(
        self,
        reducer: Callable[[Any, Any], Any],
        materialized: Materialized | None = None,
        named: Named | str | None = None,
    ) -> KTable:
        m = materialized or Materialized()
        return self._kv(
            m, REDUCE, self.value_serde, named, lambda s: KStreamAggregate(s, None, None, reducer)
        )

    def aggregate(
        self,
        initializer: Callable[[], Any],
        aggregator: Callable[[Any, Any, Any], Any],
        materialized: Materialized | None = None,
        named: Named | str | None = None,
    ) -> KTable:
        m = materialized or Materialized()
        return self._kv(
            m, AGGREGATE, None, named, lambda s: KStreamAggregate(s, initializer, aggregator)
        )

    def windowed_by(self, windows: TimeWindows | SlidingWindows | SessionWindows) -> Any:
        if isinstance(windows, SessionWindows):
            return SessionWindowedKStream(self, windows)
        return TimeWindowedKStream(self, windows)


class TimeWindowedKStream:
    """Time (tumbling/hopping) or sliding windowed aggregations."""

    def __init__(self, grouped: KGroupedStream, windows: TimeWindows | SlidingWindows) -> None:
        self.g = grouped
        self.windows = windows

    def _do(
        self,
        m: Materialized,
        prefix: str,
        value_serde: Serde[Any] | None,
        named: Named | str | None,
        init: Callable[[], Any],
        agg: Callable[[Any, Any, Any], Any],
        burn: bool = False,
    ) -> KTable:
        g, w = self.g, self.windows
        store_name = g._store_name(m, prefix, burn and isinstance(w, TimeWindows))
        func = g.builder.name_or(_name(named), prefix)
        ks = m.key_serde or g.key_serde
        vs = m.value_serde or value_serde
        retention = max(w.retention_ms(), _retention(m))
        size = w.size_ms if isinstance(w, TimeWindows) else w.time_difference_ms
        store = StoreSpec(
            store_name,
            "window",
            ks,
            vs,
            _persistent(m),
            m.logging_enabled,
            dict(m.topic_config),
            m.caching_enabled,
            retention,
            size,
        )

        def make(s: AggregateSupplier) -> Any:
            if isinstance(w, TimeWindows):
                return KStreamWindowAggregate(s, w, init, agg)
            return KStreamSlidingWindowAggregate(s, w, init, agg)

        table = g._aggregate(
            store,
            func,
            make,
            TimeWindowedSerde(ks, size),  # type: ignore[arg-type]
            vs,
            m.store_name is not None,
            w.grace_ms,
        )
        return table

    def count(
        self, materialized: Materialized | None = None, named: Named | str | None = None
    ) -> KTable:
        m = materialized or Materialized.with_(self.g.key_serde, LongSerde())
        if m.value_serde is None:
            m.value_serde = LongSerde()
        return self._do(
            m, AGGREGATE, LongSerde(), named, _count_init, _count_agg, burn=materialized is not None
        )

    def reduce(
        self,
        reducer: Callable[[Any, Any], Any],
        materialized: Materialized | None = None,
        named: Named | str | None = None,
    ) -> KTable:
        m = materialized or Materialized()
        return self._do(m, REDUCE, self.g.value_serde, named, lambda: None, _reduce_agg(reducer))

    def aggregate(
        self,
        initializer: Callable[[], Any],
        aggregator: Callable[[Any, Any, Any], Any],
        materialized: Materialized | None = None,
        named: Named | str | None = None,
    ) -> KTable:
        return self._do(
            materialized or Materialized(), AGGREGATE, None, named, initializer, aggregator
        )


class SessionWindowedKStream:
    def __init__(self, grouped: KGroupedStream, windows: SessionWindows) -> None:
        self.g = grouped
        self.windows = windows

    def _do(
        self,
        m: Materialized,
        prefix: str,
        value_serde: Serde[Any] | None,
        named: Named | str | None,
        init: Callable[[], Any],
        agg: Callable[[Any, Any, Any], Any],
        merger: Callable[[Any, Any, Any], Any],
        burn: bool = False,
    ) -> KTable:
        g, w = self.g, self.windows
        store_name = g._store_name(m, prefix, burn)
        func = g.builder.name_or(_name(named), prefix)
        ks = m.key_serde or g.key_serde
        vs = m.value_serde or value_serde
        retention = max(w.retention_ms(), _retention(m))
        store = StoreSpec(
            store_name,
            "session",
            ks,
            vs,
            _persistent(m),
            m.logging_enabled,
            dict(m.topic_config),
            m.caching_enabled,
            retention,
        )
        return g._aggregate(
            store,
            func,
            lambda s: KStreamSessionWindowAggregate(s, w, init, agg, merger),
            SessionWindowedSerde(ks),  # type: ignore[arg-type]
            vs,
            m.store_name is not None,
            w.grace_ms + w.gap_ms,
        )

    def count(
        self, materialized: Materialized | None = None, named: Named | str | None = None
    ) -> KTable:
        m = materialized or Materialized.with_(self.g.key_serde, LongSerde())
        if m.value_serde is None:
            m.value_serde = LongSerde()
        return self._do(
            m,
            AGGREGATE,
            LongSerde(),
            named,
            _count_init,
            _count_agg,
            lambda _k, a, b: a + b,
            burn=materialized is not None,
        )

    def reduce(
        self,
        reducer: Callable[[Any, Any], Any],
        materialized: Materialized | None = None,
        named: Named | str | None = None,
    ) -> KTable:
        agg = _reduce_agg(reducer)
        return self._do(
            materialized or Materialized(),
            REDUCE,
            self.g.value_serde,
            named,
            lambda: None,
            agg,
            lambda k, a, b: agg(k, b, a),
        )

    def aggregate(
        self,
        initializer: Callable[[], Any],
        aggregator: Callable[[Any, Any, Any], Any],
        session_merger: Callable[[Any, Any, Any], Any],
        materialized: Materialized | None = None,
        named: Named | str | None = None,
    ) -> KTable:
        return self._do(
            materialized or Materialized(),
            AGGREGATE,
            None,
            named,
            initializer,
            aggregator,
            session_merger,
        )


class KGroupedTable:
    """A re-keyed table: aggregations subtract the old value and add the new one."""

    def __init__(
        self,
        builder: StreamsBuilder,
        name: str,
        key_serde: Serde[Any] | None,
        value_serde: Serde[Any] | None,
        grouped_name: str | None,
    ) -> None:
        self.builder = builder
        self.name = name
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.grouped_name = grouped_name

    def _do(
        self,
        m: Materialized,
        prefix: str,
        named: Named | str | None,
        value_serde: Serde[Any] | None,
        make: Callable[[TableSupplier], Any],
    ) -> KTable:
        from riverlog.streams.ktable import KTable

        store_name = (
            m.store_name if m.store_name is not None else self.builder.new_store_name(prefix)
        )
        given = _name(named)
        sink = f"{given}-sink" if given else self.builder.new_processor_name("KSTREAM-SINK-")
        source = f"{given}-source" if given else self.builder.new_processor_name("KSTREAM-SOURCE-")
        func = self.builder.name_or(given, prefix)
        topic = (
            self.grouped_name if self.grouped_name is not None else store_name
        ) + "-repartition"
        from riverlog.streams.topology import SinkSpec, SourceSpec

        topo = self.builder.topology
        vs_in = self.value_serde
        changed = None if vs_in is None else ChangedSerde(vs_in)
        if changed is None:
            changed = _DefaultChanged()
        topo.add_sink(SinkSpec(sink, topic, None, self.key_serde, changed, None, [self.name]))
        topo.add_source(SourceSpec(source, [topic], self.key_serde, changed))
        topo.add_repartition_topic(topic, None)
        ks = m.key_serde or self.key_serde
        vs = m.value_serde or value_serde
        supplier = TableSupplier(make, store_name)
        topo.add_processor(ProcessorSpec(func, supplier, [source]))
        topo.add_state_store(self.builder.kv_store_spec(store_name, m, ks, vs), func)
        return KTable(
            self.builder, func, ks, vs, supplier, None, store_name if m.store_name else None
        )

    def count(
        self, materialized: Materialized | None = None, named: Named | str | None = None
    ) -> KTable:
        m = materialized or Materialized()
        if m.value_serde is None:
            m.value_serde = LongSerde()
        return self._do(
            m,
            "KTABLE-AGGREGATE-",
            named,
            LongSerde(),
            lambda s: KTableAggregate(
                s, _count_init, lambda k, v, a: a + 1, lambda k, v, a: a - 1, False
            ),
        )

    def reduce(
        self,
        adder: Callable[[Any, Any], Any],
        subtractor: Callable[[Any, Any], Any],
        materialized: Materialized | None = None,
        named: Named | str | None = None,
    ) -> KTable:
        return self._do(
            materialized or Materialized(),
            "KTABLE-REDUCE-",
            named,
            self.value_serde,
            lambda s: KTableAggregate(s, None, adder, subtractor, True),
        )

    def aggregate(
        self,
        initializer: Callable[[], Any],
        adder: Callable[[Any, Any, Any], Any],
        subtractor: Callable[[Any, Any, Any], Any],
        materialized: Materialized | None = None,
        named: Named | str | None = None,
    ) -> KTable:
        return self._do(
            materialized or Materialized(),
            "KTABLE-AGGREGATE-",
            named,
            None,
            lambda s: KTableAggregate(s, initializer, adder, subtractor, False),
        )


class _DefaultChanged(ChangedSerde):
    """A Change serde whose inner serde is the configured default (resolved by the task)."""

    def __init__(self) -> None:
        super().__init__(None)  # type: ignore[arg-type]


def _persistent(m: Materialized) -> bool | None:
    if m.store_type is None:
        return None
    return m.store_type == Materialized.ROCKS_DB


def _retention(m: Materialized) -> int:
    """A retention asked for through `with_retention` or a store supplier (0 = the default)."""
    if m.retention_ms is not None:
        return m.retention_ms
    if m.supplier is not None and m.supplier.retention_ms is not None:
        return m.supplier.retention_ms
    return 0
