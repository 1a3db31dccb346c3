"""FetchManager: the one door for reads — long-poll on the injected clock, the shared leader check.

Real ReplicaManager, real logs in a temporary directory, a ManualClock: no test sleeps for a deadline.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from kio.schema.errors import ErrorCode

from riverlog.broker.config import BrokerConfig
from riverlog.broker.replication.fetch_manager import FetchManager, FetchParams, FetchPartition
from riverlog.broker.replication.replica_manager import ReplicaManager
from riverlog.metadata.image import ClusterImage, PartitionState, TopicImage
from riverlog.protocol.records import build_batch
from riverlog.storage.clock import ManualClock
from riverlog.storage.config import LogConfig
from riverlog.storage.manager import LogManager

TOPIC_ID = uuid.UUID(int=7)


def _node(tmp_path: Path, leader: int = 0) -> tuple[ReplicaManager, FetchManager, ManualClock]:
    clock = ManualClock()
    config = BrokerConfig(explicit={"log.dirs": str(tmp_path)})
    replicas = ReplicaManager(LogManager(tmp_path, LogConfig(), clock), config, clock, 0)
    state = PartitionState(0, leader=leader, leader_epoch=3, replicas=(0,), isr=(0,))
    topic = TopicImage("t", TOPIC_ID, {0: state})
    replicas.sync_with_image(ClusterImage(cluster_id="c", topics={"t": topic}))
    return replicas, FetchManager(replicas, config, clock), clock


def _params(max_wait_ms: int = 500, min_bytes: int = 1) -> FetchParams:
    return FetchParams(-1, None, max_wait_ms, min_bytes, 1 << 20, read_committed=False)


def _want(epoch: int = -1) -> list[FetchPartition]:
    return [FetchPartition(("t", 0), TOPIC_ID, 0, 1 << 20, leader_epoch=epoch)]


def test_long_poll_is_answered_by_an_append(tmp_path: Path) -> None:
    replicas, fetches, _clock = _node(tmp_path)
    part = replicas.get("t", 0)
    assert part is not None

    async def scenario() -> bytes:
        # max wait far beyond the test's patience: only the append can answer it
        waiting = asyncio.ensure_future(fetches.fetch(_params(3_600_000), _want(), {}))
        await asyncio.sleep(0)
        assert not waiting.done()
        await replicas.append(part, build_batch([(None, b"v", (), 1)]))
        [read] = await asyncio.wait_for(waiting, 30)
        assert read.error == ErrorCode.none
        return read.records

    records = asyncio.run(scenario())
    assert records  # the batch just appended


def test_deadline_comes_from_the_injected_clock(tmp_path: Path) -> None:
    """The clock already past the deadline: the fetch answers with no data and does not wait."""
    _replicas, fetches, clock = _node(tmp_path)

    class Jumping(ManualClock):
        def now_ms(self) -> int:
            value = super().now_ms()
            self.advance(10_000_000)  # every reading is past any deadline set before it
            return value

    jumping = Jumping(clock.now_ms())
    fetches.clock = jumping
    [read] = asyncio.run(asyncio.wait_for(fetches.fetch(_params(3_600_000), _want(), {}), 30))
    assert read.error == ErrorCode.none and read.records == b""


def test_shared_leader_check(tmp_path: Path) -> None:
    replicas, fetches, _clock = _node(tmp_path, leader=1)
    assert replicas.check_partition("t", 0) == ErrorCode.not_leader_or_follower
    assert replicas.check_partition("nope", 0) == ErrorCode.unknown_topic_or_partition
    [read] = asyncio.run(fetches.fetch(_params(0), _want(), {}))
    assert read.error == ErrorCode.not_leader_or_follower

    replicas, fetches, _clock = _node(tmp_path / "led")
    assert replicas.check_partition("t", 0, 2) == ErrorCode.fenced_leader_epoch
    assert replicas.check_partition("t", 0, 4) == ErrorCode.unknown_leader_epoch
    [read] = asyncio.run(fetches.fetch(_params(0), _want(epoch=2), {}))
    assert read.error == ErrorCode.fenced_leader_epoch
    [read] = asyncio.run(fetches.fetch(_params(0), _want(epoch=3), {}))
    assert read.error == ErrorCode.none


def test_a_refused_partition_is_not_read(tmp_path: Path) -> None:
    _replicas, fetches, _clock = _node(tmp_path)
    wanted = _want()
    wanted[0].error = ErrorCode.topic_authorization_failed
    [read] = asyncio.run(asyncio.wait_for(fetches.fetch(_params(3_600_000), wanted, {}), 30))
    assert read.error == ErrorCode.topic_authorization_failed
    assert read.high_watermark == -1 and read.records == b""
