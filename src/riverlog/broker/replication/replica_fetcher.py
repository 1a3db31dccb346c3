"""Followers: one fetcher task per leader broker, copying that leader's partitions into local logs.

Each task loops: (1) for partitions that just became followers, ask the leader for the end offset of the
local log's latest leader epoch (OffsetForLeaderEpoch) and truncate a divergent tail (KIP-101/279);
(2) send one Fetch with this broker's replica id for all its partitions at their log end offsets, long
polling (`replica.fetch.wait.max.ms`); (3) append what came back with the leader's offsets and epochs
(`append_as_follower`) and take the leader's high watermark, capped at the local log end. Errors that
mean "metadata moved" (not leader, fenced or unknown epoch) back off until the image says who leads.

Invariant: a partition is fetched by at most one task, for the leader and epoch the image names; a
result that arrives after the partition moved on (new epoch, unfollowed) is dropped.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode
from kio.schema.fetch.v12 import request as fetch_req
from kio.schema.offset_for_leader_epoch.v4 import request as epoch_req

from riverlog.broker.config import BrokerConfig
from riverlog.broker.replication.peer import PeerConnection, PeerError, inter_broker_security
from riverlog.broker.replication.replica_manager import Partition, ReplicaManager, TopicPartition
from riverlog.metadata.image import ClusterImage
from riverlog.storage.errors import StorageError

log = logging.getLogger(__name__)
# kio's request types, untyped here: the values are plain ints and strings.
FetchRequest: Any = fetch_req.FetchRequest
FetchTopic: Any = fetch_req.FetchTopic
FetchPartition: Any = fetch_req.FetchPartition
EpochRequest: Any = epoch_req.OffsetForLeaderEpochRequest
EpochTopic: Any = epoch_req.OffsetForLeaderTopic
EpochPartition: Any = epoch_req.OffsetForLeaderPartition
METADATA_RETRY_S = 0.05
METADATA_ERRORS = (
    ErrorCode.not_leader_or_follower,
    ErrorCode.fenced_leader_epoch,
    ErrorCode.unknown_leader_epoch,
    ErrorCode.unknown_topic_or_partition,
)


@dataclass(slots=True)
class Following:
    part: Partition
    leader: int
    epoch: int
    truncate: bool = True


class ReplicaFetcherManager:
    def __init__(
        self, replicas: ReplicaManager, config: BrokerConfig, image: Any, broker_id: int
    ) -> None:
        self.replicas = replicas
        self.config = config
        self.image_of = image  # () -> ClusterImage
        self.broker_id = broker_id
        self.fetchers: dict[int, LeaderFetcher] = {}
        self.following: dict[TopicPartition, Following] = {}

    def follow(self, part: Partition) -> None:
        self.unfollow(part.key)
        following = Following(part, part.leader, part.leader_epoch)
        self.following[part.key] = following
        fetcher = self.fetchers.get(part.leader)
        if fetcher is None or fetcher.done:
            fetcher = self.fetchers[part.leader] = LeaderFetcher(self, part.leader)
        fetcher.partitions[part.key] = following
        fetcher.wake()

    def unfollow(self, key: TopicPartition) -> None:
        following = self.following.pop(key, None)
        if following is None:
            return
        fetcher = self.fetchers.get(following.leader)
        if fetcher is not None:
            fetcher.partitions.pop(key, None)

    async def stop(self) -> None:
        for fetcher in self.fetchers.values():
            await fetcher.stop()
        self.fetchers.clear()
        self.following.clear()


class LeaderFetcher:
    def __init__(self, manager: ReplicaFetcherManager, leader: int) -> None:
        self.manager = manager
        self.leader = leader
        self.partitions: dict[TopicPartition, Following] = {}
        config = manager.config
        self.wait_ms = config.get_int("replica.fetch.wait.max.ms")
        self.backoff_s = config.get_int("replica.fetch.backoff.ms") / 1000
        self.max_bytes = config.get_int("replica.fetch.max.bytes")
        self.response_max_bytes = config.get_int("replica.fetch.response.max.bytes")
        self.timeout_s = config.get_int("replica.socket.timeout.ms") / 1000
        self._wakeup = asyncio.Event()
        self._conn: PeerConnection | None = None
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def done(self) -> bool:
        return self._task.done()

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        if self._conn is not None:
            self._conn.close()

    async def _run(self) -> None:
        while True:
            if not self.partitions:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            conn = self._connection(self.manager.image_of())
            if conn is None:
                await asyncio.sleep(self.backoff_s)
                continue
            try:
                await self._truncate(conn)
                if not await self._fetch(conn):
                    # Metadata is moving (the leader has not taken over yet, an epoch is fenced):
                    # retry soon, the image will catch up within milliseconds.
                    await asyncio.sleep(min(self.backoff_s, METADATA_RETRY_S))
            except PeerError as exc:
                log.info("replica fetch from broker %d failed: %s", self.leader, exc)
                self._conn = None
                await asyncio.sleep(self.backoff_s)
            except Exception:
                log.exception("replica fetcher for broker %d failed", self.leader)
                await asyncio.sleep(self.backoff_s)

    def _connection(self, image: ClusterImage) -> PeerConnection | None:
        broker = image.brokers.get(self.leader)
        if broker is None:
            return None
        if self._conn is None or (self._conn.host, self._conn.port) != (broker.host, broker.port):
            if self._conn is not None:
                self._conn.close()
            self._conn = PeerConnection(
                broker.host, broker.port, self.timeout_s, inter_broker_security(self.manager.config)
            )
        return self._conn

    # --- truncation by leader epoch ---

    async def _truncate(self, conn: PeerConnection) -> None:
        pending = [f for f in self.partitions.values() if f.truncate]
        if not pending:
            return
        by_topic: dict[str, list[Any]] = {}
        for f in pending:
            by_topic.setdefault(f.part.topic, []).append(
                EpochPartition(
                    partition=f.part.index,
                    current_leader_epoch=f.epoch,
                    leader_epoch=f.part.log.latest_epoch,
                )
            )
        request = EpochRequest(
            replica_id=self.manager.broker_id,
            topics=tuple(EpochTopic(topic=t, partitions=tuple(ps)) for t, ps in by_topic.items()),
        )
        response = await conn.request(request)
        for topic in response.topics:
            for answer in topic.partitions:
                following = self.partitions.get((topic.topic, answer.partition))
                if following is None or not following.truncate:
                    continue
                if answer.error_code != ErrorCode.none:
                    continue
                self._truncate_to_leader(following, answer.leader_epoch, answer.end_offset)
                following.truncate = False

    def _truncate_to_leader(self, following: Following, epoch: int, end_offset: int) -> None:
        plog = following.part.log
        if epoch < 0 or end_offset < 0:
            target = (
                plog.high_watermark
            )  # the leader knows no common epoch: keep what was committed
        else:
            _, local_end = plog.end_offset_for_epoch(epoch)
            target = min(end_offset, local_end if local_end >= 0 else end_offset)
        if target < plog.log_end_offset:
            log.info(
                "%s-%d: truncating from %d to %d (leader %d, epoch %d)",
                following.part.topic, following.part.index, plog.log_end_offset, target,
                self.leader, following.epoch,
            )  # fmt: skip
            plog.truncate_to(target)

    # --- fetching ---

    async def _fetch(self, conn: PeerConnection) -> bool:
        ready = [f for f in self.partitions.values() if not f.truncate]
        if not ready:
            return False
        by_topic: dict[str, list[Any]] = {}
        for f in ready:
            plog = f.part.log
            by_topic.setdefault(f.part.topic, []).append(
                FetchPartition(
                    partition=f.part.index,
                    current_leader_epoch=f.epoch,
                    fetch_offset=plog.log_end_offset,
                    last_fetched_epoch=plog.latest_epoch,
                    log_start_offset=plog.log_start_offset,
                    partition_max_bytes=self.max_bytes,
                )
            )
        request = FetchRequest(
            cluster_id=None,
            replica_id=self.manager.broker_id,
            max_wait=datetime.timedelta(milliseconds=self.wait_ms),
            min_bytes=1,
            max_bytes=self.response_max_bytes,
            isolation_level=0,
            session_id=0,
            session_epoch=-1,
            topics=tuple(FetchTopic(topic=t, partitions=tuple(ps)) for t, ps in by_topic.items()),
            forgotten_topics_data=(),
            rack_id="",
        )
        response = await conn.request(request, self.timeout_s + self.wait_ms / 1000)
        if response.error_code != ErrorCode.none:
            return False
        progressed = True
        for topic in response.responses:
            for data in topic.partitions:
                following = self.partitions.get((topic.topic, data.partition_index))
                if following is None or following not in ready:
                    continue
                progressed = self._apply(following, data) and progressed
        return progressed

    def _apply(self, following: Following, data: Any) -> bool:
        part = following.part
        if data.error_code == ErrorCode.offset_out_of_range:
            return self._out_of_range(following, data)
        if data.error_code != ErrorCode.none:
            if data.error_code not in METADATA_ERRORS:
                log.info("%s-%d: fetch error %s", part.topic, part.index, data.error_code.name)
            return False
        plog = part.log
        if data.records:
            try:
                plog.append_as_follower(bytes(data.records))
            except StorageError as exc:
                log.warning("%s-%d: follower append failed: %s", part.topic, part.index, exc)
                following.truncate = True
                return False
        if data.log_start_offset > plog.log_start_offset:
            plog.maybe_increment_log_start_offset(data.log_start_offset)
        high_watermark = min(data.high_watermark, plog.log_end_offset)
        if high_watermark > plog.high_watermark:
            plog.high_watermark = high_watermark
            self.manager.replicas.purgatory.notify(part.key)
        return True

    def _out_of_range(self, following: Following, data: Any) -> bool:
        plog = following.part.log
        if plog.log_end_offset < data.log_start_offset:
            log.info(
                "%s-%d: behind the leader's log start %d; starting there",
                following.part.topic, following.part.index, data.log_start_offset,
            )  # fmt: skip
            plog.truncate_fully_and_start_at(data.log_start_offset)
        else:
            following.truncate = True
        return False
