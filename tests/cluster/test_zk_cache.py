"""The incremental znode cache against a real ZooKeeper: only what changed is read again."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient

from riverlog.cluster.zk_cache import ZnodeCache
from riverlog.metadata import zk_format as zf
from riverlog.metadata.image import ClusterImage
from riverlog.testing.zookeeper import ZooKeeperServer

pytestmark = pytest.mark.cluster
TIMEOUT_S = 10.0


class Watched:
    """A cache whose watch marks paths as the store's does, and counts the reads of a sync."""

    def __init__(self, zk: KazooClient) -> None:
        self.fired = threading.Event()
        self.cache = ZnodeCache(zk, self._watch)
        self.reads = 0
        original_get = zk.get_async

        def counting_get(path: str, watch: Any = None) -> Any:
            self.reads += 1
            return original_get(path, watch=watch)

        zk.get_async = counting_get  # type: ignore[method-assign]

    def _watch(self, event: Any) -> None:
        if getattr(event, "path", None):
            self.cache.mark(event.path)
        else:
            self.cache.mark_all()
        self.fired.set()

    def image_after_change(self) -> ClusterImage:
        """Wait for a watch to fire, then sync; the image and this sync's reads."""
        assert self.fired.wait(TIMEOUT_S), "no watch fired"
        self.fired.clear()
        return self.image()

    def image(self) -> ClusterImage:
        self.reads = 0
        with self.cache.lock:
            self.cache.sync()
            return self.cache.build_image()


@pytest.fixture
def zk(zookeeper: ZooKeeperServer) -> Iterator[KazooClient]:
    chroot = f"/cache-{uuid.uuid4().hex[:8]}"
    root = KazooClient(hosts=zookeeper.connect_string)
    root.start(TIMEOUT_S)
    root.ensure_path(chroot)
    root.stop()
    client = KazooClient(hosts=zookeeper.connect_string + chroot)
    client.start(TIMEOUT_S)
    for path in zf.PERSISTENT_PATHS:
        client.ensure_path(path)
    client.create(zf.broker_config_path(), zf.encode_config({}), makepath=True)
    client.create(zf.PRODUCER_ID_BLOCK, b"")
    client.create(zf.CLUSTER_ID, zf.encode_cluster_id("c1"))
    yield client
    client.stop()


def create_topic(zk: KazooClient, name: str, partitions: int) -> None:
    transaction = zk.transaction()
    transaction.create(
        zf.topic_path(name), zf.encode_topic(uuid.uuid4(), {p: [1] for p in range(partitions)})
    )
    transaction.create(zf.topic_path(name) + "/partitions")
    for p in range(partitions):
        transaction.create(zf.topic_path(name) + f"/partitions/{p}")
        transaction.create(zf.state_path(name, p), zf.encode_state(zf.LeaderAndIsr(1, 0, (1,))))
    transaction.create(zf.topic_config_path(name), zf.encode_config({}))
    assert not [r for r in transaction.commit() if isinstance(r, Exception)]


def test_one_state_change_is_one_read(zk: KazooClient) -> None:
    for t in range(5):
        create_topic(zk, f"t{t}", 10)
    watched = Watched(zk)
    image = watched.image()
    assert len(image.topics) == 5 and len(image.topics["t3"].partitions) == 10
    full_reads = watched.reads
    assert full_reads >= 5 * 10 + 5 * 2  # every state, assignment and config znode

    zk.set(zf.state_path("t3", 4), zf.encode_state(zf.LeaderAndIsr(1, 1, (1, 2))))
    image = watched.image_after_change()
    state = image.topics["t3"].partitions[4]
    assert (state.leader_epoch, state.isr) == (1, (1, 2))
    assert state.partition_epoch == 1  # the znode version
    assert watched.reads == 1


def test_topics_come_and_go_and_a_full_sync_reads_everything_again(zk: KazooClient) -> None:
    create_topic(zk, "a", 2)
    watched = Watched(zk)
    assert set(watched.image().topics) == {"a"}

    create_topic(zk, "b", 3)
    image = watched.image_after_change()
    assert set(image.topics) == {"a", "b"} and len(image.topics["b"].partitions) == 3
    assert all(s.leader == 1 for s in image.topics["b"].partitions.values())

    zk.delete(zf.topic_path("a"), recursive=True)
    zk.delete(zf.topic_config_path("a"))
    image = watched.image_after_change()
    assert set(image.topics) == {"b"}
    assert not [p for p in watched.cache.data if p.startswith(zf.topic_path("a") + "/")]

    # A new session's watches are gone: mark_all re-reads everything, and nothing stale stays.
    zk.set(zf.state_path("b", 0), zf.encode_state(zf.LeaderAndIsr(-1, 5, (1,))))
    watched.fired.wait(TIMEOUT_S)
    watched.cache.mark_all()
    image = watched.image()
    assert image.topics["b"].partitions[0].leader == -1
    assert watched.reads >= 3 + 2


def test_a_znode_created_between_the_read_and_the_watch_is_read(zk: KazooClient) -> None:
    """The read finds no /controller; it is created before the exists() that sets the watch, so no
    event will ever report it. The cache must read it anyway (else this broker would name no
    controller until the controller changed, and admin clients wait for one)."""
    watched = Watched(zk)
    original_exists = zk.exists

    def exists_after_creation(path: str, watch: Any = None) -> Any:
        if path == zf.CONTROLLER and not original_exists(path):
            zk.create(zf.CONTROLLER, b'{"version":1,"brokerid":7,"timestamp":"0"}', ephemeral=True)
        return original_exists(path, watch=watch)

    zk.exists = exists_after_creation  # type: ignore[method-assign]
    assert watched.image().controller_id == 7
