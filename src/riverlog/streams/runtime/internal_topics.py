"""Internal topics: naming, partition counts and creation (Kafka's `InternalTopicManager`).

Names are Kafka Streams': `<application.id>-<suffix>`, the suffix from the topology
(`<store>-changelog`, `<name>-repartition`). Partition counts: a repartition topic that names none is as
wide as the widest sub-topology writing into it, a changelog as its store's sub-topology — a
sub-topology being as wide as its widest source topic, a repartition source counting with its own
resolved width. Changelogs and
repartition topics are created with the topology's configs, then the app's `topic.`-prefixed configs,
and `replication.factor` (-1 = the broker's default). A topic that exists already is used as it is if
its partition count matches; a mismatch is an error, as in Kafka Streams.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.streams.config import StreamsConfig
from riverlog.streams.errors import (
    MissingSourceTopicException,
    StreamsException,
    TopologyException,
)

log = logging.getLogger(__name__)


class _SpecView(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def subtopology(self) -> int: ...
    @property
    def partitions(self) -> int | None: ...
    @property
    def configs(self) -> dict[str, str]: ...


class _SubtopologyView(Protocol):
    @property
    def source_topics(self) -> frozenset[str]: ...


class TopologyView(Protocol):
    """What this module reads of a `Topology` (the core's, or any value shaped like it)."""

    def subtopologies(self) -> Mapping[int, _SubtopologyView]: ...
    def internal_topics(self) -> Mapping[str, _SpecView]: ...
    def is_internal(self, topic: str) -> bool: ...


def full_name(application_id: str, topology: TopologyView, topic: str) -> str:
    """The real name of a topic the topology names (internal ones carry the application id)."""
    return f"{application_id}-{topic}" if topology.is_internal(topic) else topic


def source_topics_by_subtopology(
    application_id: str, topology: TopologyView
) -> dict[int, frozenset[str]]:
    """Sub-topology id -> its source topics' real names."""
    return {
        sub_id: frozenset(full_name(application_id, topology, t) for t in info.source_topics)
        for sub_id, info in topology.subtopologies().items()
    }


class InternalTopicManager:
    """Resolves partition counts and creates the internal topics of a topology."""

    def __init__(self, admin: AdminClient, config: StreamsConfig, timeout_s: float = 30.0) -> None:
        self.admin = admin
        self.config = config
        self.timeout_s = timeout_s

    def existing_partitions(self) -> dict[str, int]:
        """Topic -> partition count, from one Metadata request."""
        metadata = self.admin.list_topics(timeout=self.timeout_s)
        return {
            name: len(topic.partitions)
            for name, topic in metadata.topics.items()
            if topic.error is None or topic.error.code() == KafkaError.NO_ERROR
        }

    def resolve_partitions(
        self, topology: TopologyView, existing: Mapping[str, int]
    ) -> dict[str, int]:
        """Internal topic real name -> partition count; raises if a source topic is missing."""
        app = self.config.application_id
        specs = topology.internal_topics()
        sources = topology.subtopologies()
        resolved: dict[str, int] = {}

        def of_subtopology(sub_id: int, visiting: frozenset[str]) -> int:
            counts = []
            for topic in sources[sub_id].source_topics:
                if topology.is_internal(topic):
                    if topic in visiting:
                        continue
                    counts.append(of_internal(topic, visiting))
                elif topic in existing:
                    counts.append(existing[topic])
                else:
                    raise MissingSourceTopicException(f"Source topic {topic} is missing")
            if not counts:
                # Only a cycle back to this topic: the topology's external sources decide.
                counts = [existing[t] for t in self._external_sources(topology) if t in existing]
            return max(counts, default=1)

        def of_internal(suffix: str, visiting: frozenset[str]) -> int:
            name = f"{app}-{suffix}"
            if name not in resolved:
                spec = specs[suffix]
                # A repartition topic is as wide as the widest sub-topology writing into it.
                writers = [
                    sub_id
                    for sub_id, info in sources.items()
                    if suffix in getattr(info, "sink_topics", ())
                    and suffix not in info.source_topics
                ]
                if spec.partitions is not None:
                    resolved[name] = spec.partitions
                elif spec.kind == "repartition" and writers:
                    resolved[name] = max(of_subtopology(w, visiting | {suffix}) for w in writers)
                else:
                    resolved[name] = of_subtopology(spec.subtopology, visiting | {suffix})
            return resolved[name]

        for sub_id in sources:
            of_subtopology(sub_id, frozenset())  # raises on a missing external source first
        for suffix in specs:
            of_internal(suffix, frozenset())
        return resolved

    def make_ready(self, topology: TopologyView) -> dict[str, int]:
        """Create missing internal topics; returns every known topic's real name -> partitions."""
        existing = self.existing_partitions()
        wanted = self.resolve_partitions(topology, existing)
        self.check_copartitioning(topology, existing, wanted)
        specs = topology.internal_topics()
        app = self.config.application_id
        new_topics = []
        for suffix, spec in specs.items():
            name = f"{app}-{suffix}"
            partitions = wanted[name]
            if name in existing:
                if existing[name] != partitions:
                    raise StreamsException(
                        f"Existing internal topic {name} has {existing[name]} partitions, "
                        f"expected {partitions}: reset the application or delete the topic"
                    )
                continue
            configs = {**spec.configs, **self.config.topic_configs()}
            new_topics.append(
                NewTopic(
                    name,
                    num_partitions=partitions,
                    replication_factor=int(self.config["replication.factor"]),
                    config=configs,
                )
            )
        if new_topics:
            self._create(new_topics)
        return {**existing, **wanted}

    def check_copartitioning(
        self, topology: TopologyView, existing: Mapping[str, int], wanted: dict[str, int]
    ) -> None:
        """Joined topics must have as many partitions as each other (Kafka's
        `CopartitionedTopicsEnforcer`): a repartition topic of unset width takes the width of the
        other topics of its group; external topics that differ fail naming every topic."""
        app = self.config.application_id
        specs = topology.internal_topics()
        for group in getattr(topology, "copartition_groups", []):
            external = {t: existing[t] for t in group if not topology.is_internal(t)}
            fixed = {
                f"{app}-{t}": p
                for t in group
                if topology.is_internal(t) and (p := specs[t].partitions) is not None
            }
            if len(set(external.values()) | set(fixed.values())) > 1:
                counts = {**external, **fixed}
                listed = ", ".join(f"{t} ({n} partitions)" for t, n in sorted(counts.items()))
                raise TopologyException(
                    f"Invalid topology: Topics not co-partitioned: [{listed}]; repartition one "
                    "side (KStream.repartition / Repartitioned.with_number_of_partitions)"
                )
            if external:
                n = next(iter(external.values()))
                for t in group:
                    if topology.is_internal(t) and specs[t].partitions is None:
                        wanted[f"{app}-{t}"] = n

    def _create(self, new_topics: list[NewTopic]) -> None:
        futures = self.admin.create_topics(new_topics, operation_timeout=self.timeout_s)
        for name, future in futures.items():
            try:
                future.result(timeout=self.timeout_s)
                log.info("created internal topic %s", name)
            except KafkaException as exc:
                error = exc.args[0]
                if (
                    isinstance(error, KafkaError)
                    and error.code() == KafkaError.TOPIC_ALREADY_EXISTS
                ):
                    continue  # another instance created it first
                raise StreamsException(f"Could not create internal topic {name}: {exc}") from exc

    @staticmethod
    def _external_sources(topology: TopologyView) -> list[str]:
        return [
            topic
            for info in topology.subtopologies().values()
            for topic in info.source_topics
            if not topology.is_internal(topic)
        ]
