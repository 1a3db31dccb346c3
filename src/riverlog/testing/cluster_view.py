"""What a broker says about the cluster: one Metadata request (v12) over a plain socket, as plain values."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kio.schema.metadata.v12 import request as metadata_v12
from kio.schema.metadata.v12 import response as metadata_response
from kio.schema.types import TopicName

from riverlog.testing import wire

NO_LEADER = -1


class MetadataError(Exception):
    """A broker answered Metadata with an error for the topic asked about."""


@dataclass(frozen=True, slots=True)
class PartitionMetadata:
    """One partition as Metadata reports it."""

    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline_replicas: tuple[int, ...]
    error_code: int

    @property
    def has_leader(self) -> bool:
        return self.leader != NO_LEADER


@dataclass(frozen=True, slots=True)
class TopicMetadata:
    name: str
    error_code: int
    is_internal: bool
    partitions: Mapping[int, PartitionMetadata]


@dataclass(frozen=True, slots=True)
class ClusterMetadata:
    """Brokers (id → (host, port)), the controller and the topics asked about."""

    cluster_id: str | None
    controller_id: int
    brokers: Mapping[int, tuple[str, int]]
    topics: Mapping[str, TopicMetadata]

    def partitions(self, topic: str) -> dict[int, PartitionMetadata]:
        """The topic's partitions; raises MetadataError when the broker reported an error for it."""
        found = self.topics.get(topic)
        if found is None:
            raise MetadataError(f"topic {topic!r} is not in the Metadata response")
        if found.error_code != 0:
            raise MetadataError(f"Metadata for topic {topic!r}: error code {found.error_code}")
        return dict(found.partitions)


def fetch_metadata(
    host: str, port: int, topics: Sequence[str] | None = None, timeout: float = 5.0
) -> ClusterMetadata:
    """Ask one broker; `topics=None` means every topic."""
    request = metadata_v12.MetadataRequest(
        topics=None
        if topics is None
        else tuple(
            metadata_v12.MetadataRequestTopic(topic_id=uuid.UUID(int=0), name=TopicName(t))
            for t in topics
        ),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )
    response = wire.call(port, request, host=host, timeout=timeout)
    return ClusterMetadata(
        cluster_id=response.cluster_id,
        controller_id=int(response.controller_id),
        brokers={int(b.node_id): (b.host, int(b.port)) for b in response.brokers},
        topics={str(t.name): _topic(t) for t in response.topics},
    )


def _topic(topic: metadata_response.MetadataResponseTopic) -> TopicMetadata:
    return TopicMetadata(
        name=str(topic.name),
        error_code=int(topic.error_code.value),
        is_internal=bool(topic.is_internal),
        partitions={
            int(p.partition_index): PartitionMetadata(
                partition=int(p.partition_index),
                leader=int(p.leader_id),
                leader_epoch=int(p.leader_epoch),
                replicas=tuple(int(r) for r in p.replica_nodes),
                isr=tuple(int(r) for r in p.isr_nodes),
                offline_replicas=tuple(int(r) for r in p.offline_replicas),
                error_code=int(p.error_code.value),
            )
            for p in topic.partitions
        },
    )
