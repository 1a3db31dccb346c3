"""The topology: source, processor and sink nodes, state stores and internal topics, grouped into
sub-topologies as Kafka Streams groups them (nodes connected by edges or by a shared store), with
`describe()` printing Kafka Streams' text.

Invariants: node names are unique; a node's parents exist before it; sub-topology ids follow the order
nodes were added (Kafka's `makeNodeGroups`); internal topics are keyed by their suffix (the runtime
prefixes `<application.id>-`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from riverlog.streams.errors import TopologyException
from riverlog.streams.options import StoreBuilder
from riverlog.streams.processors.base import ProcessorSupplier
from riverlog.streams.serdes import Serde
from riverlog.streams.state.global_store import GlobalStoreSpec

REPARTITION_CONFIGS = {
    "cleanup.policy": "delete",
    "segment.bytes": "52428800",
    "retention.ms": "-1",
    "message.timestamp.type": "CreateTime",
}
WINDOW_CHANGELOG_ADDITIONAL_RETENTION_MS = 86_400_000

Partitioner = Callable[[str, Any, Any, int], int | None]
TopicExtractor = Callable[[Any, Any, Any], str]


@dataclass
class SourceSpec:
    name: str
    topics: list[str]
    key_serde: Serde[Any] | None
    value_serde: Serde[Any] | None
    timestamp_extractor: Callable[[Any, int], int] | None = None
    offset_reset: str | None = None


@dataclass
class ProcessorSpec:
    name: str
    supplier: ProcessorSupplier
    parents: list[str]
    stores: list[str] = field(default_factory=list)


@dataclass
class SinkSpec:
    name: str
    topic: str | None
    extractor: TopicExtractor | None
    key_serde: Serde[Any] | None
    value_serde: Serde[Any] | None
    partitioner: Partitioner | None
    parents: list[str]


@dataclass
class StoreSpec:
    """A state store: `kind` is kv | window | session; `persistent=None` means the default type."""

    name: str
    kind: str
    key_serde: Serde[Any] | None
    value_serde: Serde[Any] | None
    persistent: bool | None = None
    logging: bool = True
    topic_config: dict[str, str] = field(default_factory=dict)
    caching: bool = True
    retention_ms: int = 0
    window_size_ms: int = 0
    retain_duplicates: bool = False


def store_spec_of(b: StoreBuilder) -> StoreSpec:
    """The store a Processor API `StoreBuilder` describes."""
    sup = b.supplier
    return StoreSpec(
        sup.name,
        sup.kind,
        b.key_serde,
        b.value_serde,
        sup.persistent,
        b.logging,
        dict(b.log_config),
        b.caching,
        sup.retention_ms or 0,
        sup.window_size_ms or 0,
        sup.retain_duplicates,
    )


@dataclass(frozen=True)
class InternalTopicSpec:
    kind: str  # "changelog" | "repartition"
    subtopology: int
    partitions: int | None
    configs: dict[str, str]


@dataclass(frozen=True)
class SubtopologyInfo:
    id: int
    nodes: tuple[str, ...]
    source_topics: frozenset[str]
    sink_topics: frozenset[str]
    stores: tuple[str, ...]


Node = SourceSpec | ProcessorSpec | SinkSpec


class Topology:
    """A processing topology (from `StreamsBuilder.build()` or built node by node)."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.stores: dict[str, StoreSpec] = {}
        self.store_users: dict[str, list[str]] = {}
        self.repartition_topics: dict[str, int | None] = {}  # suffix -> partitions
        self._topic_to_source: dict[str, str] = {}
        self._subtopologies: dict[int, SubtopologyInfo] | None = None
        # `windowstore.changelog.additional.retention.ms`, added to windowed changelogs' retention
        self.additional_retention_ms = WINDOW_CHANGELOG_ADDITIONAL_RETENTION_MS
        # source topics (internal ones by suffix) that joins need co-partitioned
        self.copartition_groups: list[frozenset[str]] = []
        # global tables: store name -> spec; the stores themselves, once an instance (or the test
        # driver) has built them, are shared by every task of that instance
        self.global_store_specs: dict[str, GlobalStoreSpec] = {}
        self.global_state: dict[str, Any] = {}

    # -- building ----------------------------------------------------------------------------
    def _add(self, node: Node) -> None:
        if node.name in self.nodes:
            raise TopologyException(f"Processor {node.name} is already added.")
        for p in getattr(node, "parents", []):
            if p not in self.nodes:
                raise TopologyException(f"Parent processor {p} is not added yet for {node.name}")
            if isinstance(self.nodes[p], SinkSpec):
                raise TopologyException(f"Sink {p} cannot be used as a parent.")
        self.nodes[node.name] = node
        self._subtopologies = None

    def add_source(
        self,
        spec: SourceSpec | str,
        *topics: str,
        key_serde: Serde[Any] | None = None,
        value_serde: Serde[Any] | None = None,
        timestamp_extractor: Callable[[Any, int], int] | None = None,
        offset_reset: str | None = None,
    ) -> Topology:
        """`add_source(SourceSpec)` or Kafka's `addSource(name, *topics, ...)`."""
        if isinstance(spec, str):
            if not topics:
                raise TopologyException("At least one topic must be provided.")
            spec = SourceSpec(
                spec, list(topics), key_serde, value_serde, timestamp_extractor, offset_reset
            )
        for t in spec.topics:
            if t in self._topic_to_source:
                raise TopologyException(f"Topic {t} has already been registered by another source.")
        self._add(spec)
        for t in spec.topics:
            self._topic_to_source[t] = spec.name
        return self

    def add_processor(
        self, spec: ProcessorSpec | str, supplier: Any = None, *parent_names: str
    ) -> Topology:
        """`add_processor(ProcessorSpec)` or Kafka's `addProcessor(name, supplier, *parents)`;
        the supplier is a callable returning a new `Processor` (or an object with `get()`)."""
        if isinstance(spec, str):
            if supplier is None:
                raise TopologyException(f"Processor {spec}: a processor supplier is required.")
            if not parent_names:
                raise TopologyException(f"Processor {spec} must have at least one parent")
            make = supplier.get if hasattr(supplier, "get") else supplier
            connect = list(getattr(supplier, "stores", lambda: [])() or [])
            spec = ProcessorSpec(spec, make, list(parent_names))
            self._add(spec)
            for store in connect:  # a supplier's own stores (Kafka's `ConnectedStoreProvider`)
                builder_name = getattr(store, "name", store)
                if builder_name not in self.stores:
                    self.add_state_store(store)
                self.connect_processor_and_state_stores(spec.name, builder_name)
            return self
        self._add(spec)
        for s in list(spec.stores):
            spec.stores.remove(s)
            self.connect_processor_and_state_stores(spec.name, s)
        return self

    def add_sink(
        self,
        spec: SinkSpec | str,
        topic: str | TopicExtractor | None = None,
        *parent_names: str,
        key_serde: Serde[Any] | None = None,
        value_serde: Serde[Any] | None = None,
        partitioner: Partitioner | None = None,
    ) -> Topology:
        """`add_sink(SinkSpec)` or Kafka's `addSink(name, topic, *parents, ...)`."""
        if isinstance(spec, str):
            if topic is None or not parent_names:
                raise TopologyException(f"Sink {spec} needs a topic and at least one parent")
            static = topic if isinstance(topic, str) else None
            extractor = None if isinstance(topic, str) else topic
            spec = SinkSpec(
                spec, static, extractor, key_serde, value_serde, partitioner, list(parent_names)
            )
        self._add(spec)
        return self

    def add_state_store(self, spec: StoreSpec | StoreBuilder, *processor_names: str) -> Topology:
        if not isinstance(spec, StoreSpec):
            spec = store_spec_of(spec)
        if spec.name in self.stores:
            raise TopologyException(f"StateStore {spec.name} is already added.")
        self.stores[spec.name] = spec
        self.store_users[spec.name] = []
        for p in processor_names:
            self.connect_processor_and_state_stores(p, spec.name)
        return self

    def connect_processor_and_state_stores(self, processor: str, *store_names: str) -> Topology:
        node = self.nodes.get(processor)
        if not isinstance(node, ProcessorSpec):
            raise TopologyException(f"Processor {processor} is not added yet.")
        for s in store_names:
            if s not in self.stores:
                raise TopologyException(f"StateStore {s} is not added yet.")
            if s not in node.stores:
                node.stores.append(s)
                self.store_users[s].append(processor)
        self._subtopologies = None
        return self

    def source_topics_of(self, node: str) -> set[str]:
        """The source topics `node` reads from, through its ancestors."""
        out: set[str] = set()
        todo, seen = [node], set()
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            spec = self.nodes[n]
            if isinstance(spec, SourceSpec):
                out.update(spec.topics)
            else:
                todo.extend(getattr(spec, "parents", []))
        return out

    def add_copartition_group(self, *node_names: str) -> None:
        """The inputs of a join: their source topics must have equal partition counts."""
        topics: set[str] = set()
        for n in node_names:
            topics |= self.source_topics_of(n)
        if len(topics) > 1:
            self.copartition_groups.append(frozenset(topics))

    def add_repartition_topic(self, suffix: str, partitions: int | None) -> None:
        self.repartition_topics[suffix] = partitions

    # -- queries -----------------------------------------------------------------------------
    def is_internal(self, topic: str) -> bool:
        """True for a repartition topic suffix of this topology."""
        return topic in self.repartition_topics

    def source_for_topic(self, topic: str) -> SourceSpec | None:
        name = self._topic_to_source.get(topic)
        return None if name is None else self.nodes[name]  # type: ignore[return-value]

    def children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {n: [] for n in self.nodes}
        for n in self.nodes.values():
            for p in getattr(n, "parents", []):
                out[p].append(n.name)
        return out

    def subtopologies(self) -> dict[int, SubtopologyInfo]:
        if self._subtopologies is None:
            self._subtopologies = self._make_subtopologies()
        return self._subtopologies

    def _make_subtopologies(self) -> dict[int, SubtopologyInfo]:
        parent: dict[str, str] = {n: n for n in self.nodes}

        def root(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def unite(a: str, b: str) -> None:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[ra] = rb

        for n in self.nodes.values():
            for p in getattr(n, "parents", []):
                unite(n.name, p)
        for users in self.store_users.values():
            for u in users[1:]:
                unite(users[0], u)
        groups: dict[str, list[str]] = {}
        for name in self.nodes:
            groups.setdefault(root(name), []).append(name)
        out: dict[int, SubtopologyInfo] = {}
        for i, names in enumerate(groups.values()):
            sources: set[str] = set()
            sinks: set[str] = set()
            stores: list[str] = []
            for name in names:
                node = self.nodes[name]
                if isinstance(node, SourceSpec):
                    sources.update(node.topics)
                elif isinstance(node, SinkSpec) and node.topic is not None:
                    sinks.add(node.topic)
                elif isinstance(node, ProcessorSpec):
                    stores.extend(s for s in node.stores if s not in stores)
            out[i] = SubtopologyInfo(
                i, tuple(names), frozenset(sources), frozenset(sinks), tuple(stores)
            )
        return out

    def subtopology_of_store(self, store: str) -> int:
        for sid, info in self.subtopologies().items():
            if store in info.stores:
                return sid
        raise TopologyException(f"StateStore {store} is not connected to any processor.")

    def internal_topics(self) -> dict[str, InternalTopicSpec]:
        """Repartition and changelog topics keyed by suffix, with Kafka Streams' configs."""
        out: dict[str, InternalTopicSpec] = {}
        subs = self.subtopologies()
        for suffix, partitions in self.repartition_topics.items():
            sid = next((s for s, i in subs.items() if suffix in i.source_topics), -1)
            out[suffix] = InternalTopicSpec(
                "repartition", sid, partitions, dict(REPARTITION_CONFIGS)
            )
        for name, spec in self.stores.items():
            if not spec.logging or not self.store_users[name]:
                continue
            if spec.kind == "buffer":
                configs = {"cleanup.policy": "compact"}
            elif spec.kind in ("window", "session"):
                configs = {
                    "cleanup.policy": "compact,delete",
                    "retention.ms": str(spec.retention_ms + self.additional_retention_ms),
                }
            else:
                configs = {"cleanup.policy": "compact"}
            configs["message.timestamp.type"] = "CreateTime"
            configs.update(spec.topic_config)
            out[f"{name}-changelog"] = InternalTopicSpec(
                "changelog", self.subtopology_of_store(name), None, configs
            )
        return out

    def global_topics(self) -> dict[str, InternalTopicSpec]:
        return {}

    def global_sources(self) -> dict[str, str]:
        """Source topic -> global store name (`builder.global_table`)."""
        return {spec.topic: name for name, spec in self.global_store_specs.items()}

    def describe(self) -> TopologyDescription:
        return TopologyDescription(self)


class TopologyDescription:
    """Kafka Streams' `TopologyDescription`: `str()` is the text Kafka Streams prints."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology

    def __str__(self) -> str:
        topo = self.topology
        children = topo.children()
        size: dict[str, int] = {}

        def sub_size(n: str) -> int:
            if n not in size:
                size[n] = 1 + sum(sub_size(c) for c in children[n])
            return size[n]

        def order(names: list[str]) -> list[str]:
            return sorted(names, key=lambda n: (-sub_size(n), n))

        def names(ns: list[str]) -> str:
            return ", ".join(order(ns)) if ns else "none"

        out = ["Topologies:\n "]
        for sid, info in topo.subtopologies().items():
            out.append(f"  Sub-topology: {sid}\n")
            for n in order(list(info.nodes)):
                node = topo.nodes[n]
                if isinstance(node, SourceSpec):
                    text = f"Source: {n} (topics: [{', '.join(node.topics)}])\n      --> {names(children[n])}"
                elif isinstance(node, SinkSpec):
                    target = (
                        f"topic: {node.topic}"
                        if node.topic is not None
                        else f"extractor class: {_qualname(node.extractor)}"
                    )
                    text = f"Sink: {n} ({target})\n      <-- {names(node.parents)}"
                else:
                    text = (
                        f"Processor: {n} (stores: [{', '.join(node.stores)}])\n      --> "
                        f"{names(children[n])}\n      <-- {names(node.parents)}"
                    )
                out.append(f"    {text}\n")
            out.append("\n")
        return "".join(out)

    def __repr__(self) -> str:
        return str(self)


def _qualname(fn: object) -> str:
    """A stable name for a topic extractor (Java prints its class)."""
    module = getattr(fn, "__module__", None) or type(fn).__module__
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{name}"
