"""The seam through which the broker reads and changes cluster metadata.

Two sources implement it: `LocalMetadataStore` (single node: a local metadata log replayed on start) and
`riverlog.cluster.zk_store.ZkMetadataStore` (a ZooKeeper ensemble, Kafka's classic layout). Handlers see
only this protocol, so every admin API works the same on one node and in a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from riverlog.metadata.image import ClusterImage, MetadataRecord
from riverlog.metadata.reassignment import Assignment
from riverlog.metadata.zk_format import LeaderAndIsr


class TopicExistsError(Exception):
    """Another broker created the topic between our check and our write."""


class MetadataUnavailableError(Exception):
    """The store could not take the write just now (ZooKeeper unreachable, session expired); the
    change may or may not have been made, and the client may retry."""


class MetadataStore(Protocol):
    on_commit: list[Callable[[ClusterImage], None]]
    # Whether group configs (GROUP resource ConfigRecords) are kept: not in ZooKeeper mode.
    keeps_group_configs: bool

    @property
    def image(self) -> ClusterImage: ...

    def commit(self, records: Sequence[MetadataRecord]) -> ClusterImage:
        """Make the change durable, then return the image that includes it (MetadataUnavailableError
        when the store cannot be reached)."""
        ...

    def allocate_producer_ids(self, count: int) -> int:
        """Reserve `count` producer ids for this broker; returns the first."""
        ...

    def close(self) -> None: ...


class PartitionStateWriter(Protocol):
    """Compare-and-set of a partition's leader and ISR (Kafka's AlterPartition / ZooKeeper CAS)."""

    async def alter_partition(
        self, topic: str, partition: int, state: LeaderAndIsr, version: int
    ) -> int | None:
        """Write `state` if the partition is still at `version`; the new version, or None if stale."""
        ...


class Reassigner(Protocol):
    """Writes partition reassignments (the ZooKeeper store does; a single node has nothing to move)."""

    def reassign(self, topic: str, changes: Mapping[int, Assignment]) -> None: ...
