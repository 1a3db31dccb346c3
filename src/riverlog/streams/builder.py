"""StreamsBuilder: the DSL entry point; writes nodes into a `Topology` as operators are called, with
Kafka Streams' generated names (one shared index for processors and stores)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from riverlog.streams.errors import TopologyException
from riverlog.streams.options import Consumed, Materialized, StoreBuilder, _check_name
from riverlog.streams.processors.stateless import RepartitionFilter
from riverlog.streams.processors.table import KTableSource, TableSupplier
from riverlog.streams.serdes import Serde
from riverlog.streams.state.global_store import GlobalStoreSpec
from riverlog.streams.topology import ProcessorSpec, SinkSpec, SourceSpec, StoreSpec, Topology

if TYPE_CHECKING:
    from riverlog.streams.kstream import KStream
    from riverlog.streams.ktable import KTable

_GENERATED = re.compile(r"KSTREAM.*-[0-9]{10}")
REPARTITION_SUFFIX = "-repartition"


class GlobalKTable:
    """`builder.global_table(topic)`: joinable from any stream through a key selector."""

    def __init__(
        self,
        store_name: str,
        topic: str,
        key_serde: Serde[Any] | None,
        value_serde: Serde[Any] | None,
    ) -> None:
        self.store_name = store_name
        self.topic = topic
        self.key_serde = key_serde
        self.value_serde = value_serde

    def queryable_store_name(self) -> str:
        return self.store_name


class StreamsBuilder:
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.topology = Topology()
        extra = (config or {}).get("windowstore.changelog.additional.retention.ms")
        if extra is not None:
            self.topology.additional_retention_ms = int(extra)
        self._index = 0
        self.config = dict(config or {})

    # -- names -------------------------------------------------------------------------------
    def new_processor_name(self, prefix: str) -> str:
        name = f"{prefix}{self._index:010d}"
        self._index += 1
        return name

    def new_store_name(self, prefix: str) -> str:
        name = f"{prefix}STATE-STORE-{self._index:010d}"
        self._index += 1
        return name

    def name_or(self, given: str | None, prefix: str) -> str:
        if given is not None:
            _check_name(given)
            return given
        return self.new_processor_name(prefix)

    # -- sources -----------------------------------------------------------------------------
    def stream(self, topics: str | list[str], consumed: Consumed | None = None) -> KStream:
        from riverlog.streams.kstream import KStream

        consumed = consumed or Consumed()
        topic_list = [topics] if isinstance(topics, str) else list(topics)
        name = self.name_or(consumed.name, "KSTREAM-SOURCE-")
        self.topology.add_source(
            SourceSpec(
                name,
                topic_list,
                consumed.key_serde,
                consumed.value_serde,
                consumed.timestamp_extractor,
                consumed.offset_reset,
            )
        )
        return KStream(self, name, consumed.key_serde, consumed.value_serde, False)

    def table(
        self, topic: str, consumed: Consumed | None = None, materialized: Materialized | None = None
    ) -> KTable:
        from riverlog.streams.ktable import KTable

        consumed = consumed or Consumed()
        m = materialized or Materialized()
        key_serde = m.key_serde or consumed.key_serde
        value_serde = m.value_serde or consumed.value_serde
        queryable = m.store_name is not None
        store_name = m.store_name if m.store_name is not None else self.new_store_name(f"{topic}-")
        source_name = (
            f"{consumed.name}-source"
            if consumed.name
            else self.new_processor_name("KSTREAM-SOURCE-")
        )
        table_name = self.name_or(consumed.name, "KTABLE-SOURCE-")
        self.topology.add_source(
            SourceSpec(
                source_name,
                [topic],
                consumed.key_serde,
                consumed.value_serde,
                consumed.timestamp_extractor,
                consumed.offset_reset,
            )
        )
        supplier = TableSupplier(KTableSource, store_name if queryable else None)
        self.topology.add_processor(ProcessorSpec(table_name, supplier, [source_name]))
        store = self.kv_store_spec(store_name, m, key_serde, value_serde)
        table = KTable(
            self,
            table_name,
            key_serde,
            value_serde,
            supplier,
            None,
            store_name if queryable else None,
        )
        table.pending_store = None if queryable else store
        if queryable:
            self.topology.add_state_store(store, table_name)
        return table

    def global_table(
        self, topic: str, consumed: Consumed | None = None, materialized: Materialized | None = None
    ) -> GlobalKTable:
        """A table of every partition of `topic`, loaded fully into each instance before any
        processing starts; joins against it need no co-partitioning."""
        consumed = consumed or Consumed()
        m = materialized or Materialized()
        name = m.store_name if m.store_name is not None else self.new_store_name(f"{topic}-")
        if topic in self.topology.global_sources() or self.topology.source_for_topic(topic):
            raise TopologyException(f"Topic {topic} has already been registered by another source.")
        spec = GlobalStoreSpec(
            name,
            topic,
            m.key_serde or consumed.key_serde,
            m.value_serde or consumed.value_serde,
            _persistent(m),
        )
        self.topology.global_store_specs[name] = spec
        self.new_processor_name("KSTREAM-SOURCE-")  # Kafka's source and processor names
        self.new_processor_name("KTABLE-SOURCE-")
        return GlobalKTable(name, topic, spec.key_serde, spec.value_serde)

    def kv_store_spec(
        self,
        name: str,
        m: Materialized,
        key_serde: Serde[Any] | None,
        value_serde: Serde[Any] | None,
    ) -> StoreSpec:
        return StoreSpec(
            name,
            "kv",
            key_serde,
            value_serde,
            _persistent(m),
            m.logging_enabled,
            dict(m.topic_config),
            m.caching_enabled,
        )

    def add_state_store(self, store_builder: StoreBuilder) -> StreamsBuilder:
        """Add a Processor API store (`Stores.key_value_store_builder(...)` etc.)."""
        self.topology.add_state_store(store_builder)
        return self

    # -- repartitioning ----------------------------------------------------------------------
    def repartition(
        self,
        parent: str,
        prefix: str,
        key_serde: Serde[Any] | None,
        value_serde: Serde[Any] | None,
        partitions: int | None = None,
        partitioner: Any = None,
    ) -> str:
        """Filter -> sink -> topic -> source, as Kafka's `createRepartitionedSource`; the source name."""
        topic = prefix if prefix.endswith(REPARTITION_SUFFIX) else prefix + REPARTITION_SUFFIX
        gen_sink = self.new_processor_name("KSTREAM-SINK-")
        gen_filter = self.new_processor_name("KSTREAM-FILTER-")
        gen_source = self.new_processor_name("KSTREAM-SOURCE-")
        if _GENERATED.fullmatch(prefix):
            sink, filt, source = gen_sink, gen_filter, gen_source
        else:
            sink, filt, source = f"{topic}-sink", f"{topic}-filter", f"{topic}-source"
        self.topology.add_processor(ProcessorSpec(filt, RepartitionFilter, [parent]))
        self.topology.add_sink(
            SinkSpec(sink, topic, None, key_serde, value_serde, partitioner, [filt])
        )
        self.topology.add_source(SourceSpec(source, [topic], key_serde, value_serde))
        self.topology.add_repartition_topic(topic, partitions)
        return source

    def build(self) -> Topology:
        return self.topology


def _persistent(m: Materialized) -> bool | None:
    if m.store_type is None:
        return None
    return m.store_type == Materialized.ROCKS_DB
