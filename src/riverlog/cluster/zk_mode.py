"""A broker in a ZooKeeper-coordinated cluster: metadata store, replication, controller, shutdown.

Start: connect to ZooKeeper and read the image (blocking calls run on a worker thread), give the replica
manager its ISR writer (compare-and-set on the state znode) and a replica fetcher, and — once the
listener accepts — register /brokers/ids/<id> and stand for controller.

Controlled shutdown (SIGTERM, `controlled.shutdown.enable`): before leaving, the broker moves leadership
of every partition it leads to another live ISR member and leaves the ISR of the others, waiting (up to
`CONTROLLED_SHUTDOWN_WAIT_S`) until the image shows it. Kafka's broker asks the controller to do this
(ControlledShutdown); here the broker writes the same decisions itself, through the same
compare-and-set, so a racing controller decision simply wins.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from pathlib import Path

from riverlog.broker.config import BrokerConfig
from riverlog.broker.replication.replica_fetcher import ReplicaFetcherManager
from riverlog.broker.replication.replica_manager import ReplicaManager
from riverlog.cluster.controller import Controller
from riverlog.cluster.zk_store import ZkMetadataStore
from riverlog.metadata import zk_format as zf
from riverlog.metadata.election import elect_leader
from riverlog.metadata.image import ClusterImage, PartitionState

log = logging.getLogger(__name__)
CONTROLLED_SHUTDOWN_WAIT_S = 10.0


def _new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def write_meta_properties(data_dir: Path, node_id: int, cluster_id: str) -> None:
    path = data_dir / "meta.properties"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"version=0\nbroker.id={node_id}\ncluster.id={cluster_id}\n")
    tmp.replace(path)


class ZkMode:
    def __init__(self, config: BrokerConfig, broker_id: int) -> None:
        self.config = config
        self.broker_id = broker_id
        connect = str(config.get("zookeeper.connect"))
        timeout = config.get("zookeeper.connection.timeout.ms")
        self.store = ZkMetadataStore(
            connect,
            broker_id,
            config.get_int("zookeeper.session.timeout.ms"),
            int(str(timeout)) if timeout is not None else None,
        )
        self.controller = Controller(self.store, config, broker_id)
        self.fetcher: ReplicaFetcherManager | None = None
        self.replicas: ReplicaManager | None = None

    async def open(self, data_dir: Path) -> ZkMetadataStore:
        loop = asyncio.get_running_loop()
        candidate = str(self.config.get("cluster.id") or _new_cluster_id())
        cluster_id = await asyncio.to_thread(self.store.start, loop, candidate)
        write_meta_properties(data_dir, self.broker_id, cluster_id)
        return self.store

    def attach(self, replicas: ReplicaManager) -> None:
        self.replicas = replicas
        replicas.state_writer = self.store
        self.fetcher = ReplicaFetcherManager(
            replicas, self.config, lambda: self.store.image, self.broker_id
        )
        replicas.fetcher = self.fetcher

    async def register(
        self,
        host: str,
        port: int,
        endpoints: tuple[tuple[str, str, int], ...] = (),
        protocols: tuple[tuple[str, str], ...] = (),
    ) -> None:
        rack = self.config.get("broker.rack")
        reg = zf.BrokerRegistration(
            self.broker_id, host, port, str(rack) if rack else None, endpoints, protocols
        )
        await asyncio.to_thread(self.store.register_broker, reg)
        self.store.refresh_now()
        self.controller.start()

    async def controlled_shutdown(self) -> None:
        if not self.config.get_bool("controlled.shutdown.enable") or self.store.fenced:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONTROLLED_SHUTDOWN_WAIT_S
        leading_only = False
        while loop.time() < deadline:
            moves = self._moves(self.store.image, leading_only)
            if not moves:
                break
            versions = await self.store.alter_partitions(
                [
                    (t, state.partition, decision, state.partition_epoch)
                    for t, state, decision in moves
                ]
            )
            written = sum(v is not None for v in versions)
            log.info("controlled shutdown: %d of %d partition moves written", written, len(moves))
            await asyncio.to_thread(self.store.zk.sync, "/")
            self.store.refresh_now()
            leading_only = True  # leaving follower ISRs is best effort: one pass
        log.info("controlled shutdown of broker %d: leadership moved", self.broker_id)

    def _moves(
        self, image: ClusterImage, leading_only: bool
    ) -> list[tuple[str, PartitionState, zf.LeaderAndIsr]]:
        live = set(image.brokers)
        moves = []
        for topic in image.topics.values():
            for state in topic.partitions.values():
                if self.broker_id not in state.isr or state.partition_epoch < 0:
                    continue
                if leading_only and state.leader != self.broker_id:
                    continue
                decision = elect_leader(state, live, exclude={self.broker_id})
                if decision is None or decision.leader < 0:
                    continue  # the last live ISR member keeps the partition: nobody else has its data
                moves.append((topic.name, state, decision))
        return moves

    async def close(self) -> None:
        await self.controller.stop()
        if self.fetcher is not None:
            await self.fetcher.stop()
        await asyncio.to_thread(self.store.close)
