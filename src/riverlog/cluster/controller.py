"""The controller: one broker, elected through the ephemeral /controller znode, that moves leadership.

Election (Kafka's ZooKeeper mode): every broker tries to create /controller when it starts and whenever
the znode goes away; the one that succeeds bumps /controller_epoch and is the controller until its session
ends. What it does, on every change of the cluster image:
- a partition whose leader is not live gets a new leader from its live ISR (or, with
  `unclean.leader.election.enable`, any live replica; otherwise it goes offline with leader -1);
- a broker that is not live leaves the ISR of every partition whose leader is live;
- with `auto.leader.rebalance.enable`, every `leader.imbalance.check.interval.seconds` each partition whose
  preferred (first) replica is live and in the ISR is led by it again.
Every decision is a pure function (`riverlog.metadata.election`) written with a compare-and-set on the
partition state znode, so a stale controller's writes fail and nothing is decided twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError

from riverlog.broker.config import BrokerConfig
from riverlog.broker.metadata_store import MetadataUnavailableError
from riverlog.cluster.zk_store import ZkCommitError, ZkMetadataStore
from riverlog.metadata import reassignment
from riverlog.metadata import zk_format as zf
from riverlog.metadata.election import elect_leader, elect_preferred, needs_election
from riverlog.metadata.image import ClusterImage, PartitionState, TopicImage
from riverlog.metadata.reassignment import Assignment

log = logging.getLogger(__name__)


def _unclean(config: BrokerConfig, topic: TopicImage) -> bool:
    value = topic.configs.get("unclean.leader.election.enable")
    if value is not None:
        return value.strip().lower() == "true"
    return config.get_bool("unclean.leader.election.enable")


class Controller:
    def __init__(self, store: ZkMetadataStore, config: BrokerConfig, broker_id: int) -> None:
        self.store = store
        self.config = config
        self.broker_id = broker_id
        self.epoch = -1
        self._pass_running = False
        self._pass_again = False
        self._tasks: list[asyncio.Task[None]] = []
        self._electing = False

    @property
    def active(self) -> bool:
        image = self.store.image
        return image.controller_id == self.broker_id and not self.store.fenced and self.epoch >= 0

    def start(self) -> None:
        self.store.on_commit.append(self._image_changed)
        self._image_changed(self.store.image)
        if self.config.get_bool("auto.leader.rebalance.enable"):
            interval = self.config.get_int("leader.imbalance.check.interval.seconds")
            self._tasks.append(
                asyncio.get_running_loop().create_task(self._rebalance_every(interval))
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    # --- election of the controller ---

    def _image_changed(self, image: ClusterImage) -> None:
        if image.controller_id == -1 and not self.store.fenced and not self._electing:
            self._electing = True
            asyncio.get_running_loop().create_task(self._try_become_controller())
        elif image.controller_id not in (-1, self.broker_id):
            self.epoch = -1  # another broker holds /controller (an image without one is stale)
        if self.active:
            self._schedule_pass()

    async def _try_become_controller(self) -> None:
        try:
            won = await asyncio.to_thread(self._create_controller_znode)
        finally:
            self._electing = False
        if won:
            log.info("broker %d is the controller (epoch %d)", self.broker_id, self.epoch)
            self.store.refresh_now()

    def _create_controller_znode(self) -> bool:
        zk = self.store.zk
        try:
            zk.create(
                zf.CONTROLLER,
                zf.encode_controller(self.broker_id, int(time.time() * 1000)),
                ephemeral=True,
            )
        except NodeExistsError:
            return False
        except KazooException:
            log.info("controller election failed", exc_info=True)
            return False
        finally:
            self.store.cache.mark(zf.CONTROLLER)
        while True:
            try:
                data, stat = zk.get(zf.CONTROLLER_EPOCH)
                epoch = int(data or b"0") + 1
                zk.set(zf.CONTROLLER_EPOCH, str(epoch).encode(), stat.version)
            except NoNodeError:
                try:
                    zk.create(zf.CONTROLLER_EPOCH, b"1")
                    epoch = 1
                except NodeExistsError:
                    continue
            except BadVersionError:
                continue
            self.epoch = epoch
            return True

    # --- leader elections ---

    def _schedule_pass(self) -> None:
        if self._pass_running:
            self._pass_again = True
            return
        self._pass_running = True
        asyncio.get_running_loop().create_task(self._run_passes())

    async def _run_passes(self) -> None:
        try:
            while True:
                self._pass_again = False
                await self._election_pass(self.store.image)
                if not self._pass_again or not self.active:
                    return
        finally:
            self._pass_running = False

    async def _election_pass(self, image: ClusterImage) -> None:
        live = set(image.brokers)
        decisions = []
        for topic in image.topics.values():
            for state in topic.partitions.values():
                if state.partition_epoch < 0 or not needs_election(state, live):
                    continue
                decision = elect_leader(state, live, unclean=_unclean(self.config, topic))
                if decision is not None:
                    decisions.append((topic.name, state, decision))
        await self._write(decisions)
        await self._complete_reassignments(image)

    async def _complete_reassignments(self, image: ClusterImage) -> None:
        """KIP-455 step 2: once every adding replica is in sync, shrink to the target replicas."""
        live = set(image.brokers)
        for topic in image.topics.values():
            done: dict[int, Assignment] = {}
            for state in topic.partitions.values():
                if not reassignment.ready_to_complete(state):
                    continue
                target = reassignment.target_of(state)
                decision = reassignment.completion(state, live)
                if decision is None and state.leader not in target:
                    continue  # no target replica can lead yet
                if decision is not None:
                    await self._write([(topic.name, state, decision)])
                done[state.partition] = Assignment(target)
            if done:
                try:
                    await asyncio.to_thread(self.store.reassign, topic.name, done)
                except (MetadataUnavailableError, ZkCommitError) as exc:
                    log.info(
                        "%s: completing a reassignment failed (next pass retries): %s",
                        topic.name,
                        exc,
                    )
                    continue
                log.info("%s: reassignment of partitions %s completed", topic.name, sorted(done))
                self.store.schedule_refresh()

    async def _write(self, decisions: list[tuple[str, PartitionState, zf.LeaderAndIsr]]) -> None:
        changes = [
            (
                topic,
                state.partition,
                replace(decision, controller_epoch=self.epoch),
                state.partition_epoch,
            )
            for topic, state, decision in decisions
        ]
        versions = await self.store.alter_partitions(changes)
        for (topic, state, decision), version in zip(decisions, versions, strict=True):
            if version is not None:
                log.info(
                    "%s-%d: leader %d -> %d (epoch %d), isr %s",
                    topic, state.partition, state.leader, decision.leader, decision.leader_epoch,
                    list(decision.isr),
                )  # fmt: skip

    async def _rebalance_every(self, interval_s: int) -> None:
        while True:
            await asyncio.sleep(interval_s)
            if self.active:
                try:
                    await self.elect_preferred_leaders()
                except KazooException:
                    log.info("preferred leader election failed", exc_info=True)

    async def elect_preferred_leaders(
        self, partitions: set[tuple[str, int]] | None = None
    ) -> dict[tuple[str, int], bool]:
        """Kafka's preferred leader election; True per partition whose preferred replica now leads."""
        image = self.store.image
        live = set(image.brokers)
        done: dict[tuple[str, int], bool] = {}
        decisions = []
        for topic in image.topics.values():
            for state in topic.partitions.values():
                key = (topic.name, state.partition)
                if partitions is not None and key not in partitions:
                    continue
                decision = elect_preferred(state, live)
                if decision is None:
                    done[key] = state.replicas[:1] == (state.leader,)
                else:
                    decisions.append((topic.name, state, decision))
                    done[key] = True
        await self._write(decisions)
        return done
