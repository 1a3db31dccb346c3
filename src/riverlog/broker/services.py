"""The broker's services, assembled once and shared by every request handler.

The group and transaction coordinators are built on first use (or by the node right after it starts
listening): their modules are a third of the broker's import time, and a broker that only serves
producers and consumers without groups never needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from riverlog.broker.admin.topics import TopicAdmin
from riverlog.broker.config import BrokerConfig
from riverlog.broker.metadata_store import MetadataStore
from riverlog.broker.metrics import BrokerMetrics
from riverlog.broker.replication.fetch_manager import FetchManager
from riverlog.broker.replication.fetch_sessions import FetchSessionCache
from riverlog.broker.replication.replica_manager import ReplicaManager
from riverlog.metadata.image import ClusterImage
from riverlog.storage.clock import Clock

if TYPE_CHECKING:
    from riverlog.broker.authz import Authorizer
    from riverlog.broker.coordinators.groups import GroupRuntime
    from riverlog.broker.coordinators.transactions import TxnRuntime
    from riverlog.broker.coordinators.txn_verification import TxnVerifier
    from riverlog.broker.quotas import QuotaManager

CoordinatorFactory = Callable[[], "tuple[GroupRuntime, TxnRuntime]"]

PRODUCER_ID_BLOCK = 1000


class ProducerIdUnavailable(Exception):
    """No block of producer ids could be reserved just now; clients retry (as Kafka's
    COORDINATOR_LOAD_IN_PROGRESS while a block is being fetched)."""


@dataclass
class ProducerIdManager:
    """Hands out producer ids, reserving them durably in blocks (Kafka's ProducerIdManager)."""

    store: MetadataStore
    _next: int = -1
    _block_end: int = -1

    def next_id(self) -> int:
        if self._next < 0 or self._next >= self._block_end:
            try:
                start = self.store.allocate_producer_ids(PRODUCER_ID_BLOCK)
            except Exception as exc:  # ZooKeeper unreachable, a metadata log that cannot append
                raise ProducerIdUnavailable(str(exc)) from exc
            self._next, self._block_end = start, start + PRODUCER_ID_BLOCK
        pid = self._next
        self._next += 1
        return pid


@dataclass
class BrokerServices:
    config: BrokerConfig
    broker_id: int
    clock: Clock
    metadata: MetadataStore
    replicas: ReplicaManager
    topics: TopicAdmin
    producer_ids: ProducerIdManager
    coordinator_factory: CoordinatorFactory
    fetches: FetchManager
    fetch_sessions: FetchSessionCache = field(default_factory=FetchSessionCache)
    metrics: BrokerMetrics = field(default_factory=BrokerMetrics)
    api_ranges: list[tuple[int, int, int]] = field(default_factory=list)
    advertised: tuple[str, int] = ("localhost", 9092)
    authorizer: Authorizer | None = None
    quotas: QuotaManager | None = (
        None  # client quotas (the dispatcher's; handlers read mutation quotas)
    )
    _coordinators: tuple[GroupRuntime, TxnRuntime] | None = None
    _txn_verifier: TxnVerifier | None = None

    @property
    def groups(self) -> GroupRuntime:
        return self.coordinators()[0]

    @property
    def transactions(self) -> TxnRuntime:
        return self.coordinators()[1]

    @property
    def txn_verifier(self) -> TxnVerifier:
        """The KIP-890 checks of transactional writes (built on the first one)."""
        if self._txn_verifier is None:
            from riverlog.broker.coordinators.txn_verification import TxnVerifier
            from riverlog.broker.replication.peer import inter_broker_security

            self._txn_verifier = TxnVerifier(
                self.broker_id, lambda: self.transactions, inter_broker_security(self.config)
            )
        return self._txn_verifier

    @property
    def coordinators_started(self) -> bool:
        return self._coordinators is not None

    def coordinators(self) -> tuple[GroupRuntime, TxnRuntime]:
        """The group and transaction coordinators, built and started on first use."""
        if self._coordinators is None:
            self._coordinators = self.coordinator_factory()
        return self._coordinators

    @property
    def image(self) -> ClusterImage:
        return self.metadata.image

    def auto_create_topic(self, name: str) -> bool:
        """Kafka's auto.create.topics.enable on Metadata; True when the topic now exists."""
        if name in self.image.topics:
            return True
        if not self.config.get_bool("auto.create.topics.enable"):
            return False
        return not hasattr(self.topics.create_topic(name), "code")
