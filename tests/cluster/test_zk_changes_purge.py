"""Old change notifications are purged from a real ZooKeeper after 15 minutes, as Kafka does."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient

from riverlog.cluster.zk_changes import CHANGE_EXPIRATION_MS, ChangePurger, purge_expired
from riverlog.testing.zookeeper import ZooKeeperServer

pytestmark = pytest.mark.cluster


@pytest.fixture
def zk(zookeeper: ZooKeeperServer) -> Iterator[KazooClient]:
    chroot = f"/purge-{uuid.uuid4().hex[:8]}"
    root = KazooClient(hosts=zookeeper.connect_string)
    root.start()
    root.ensure_path(chroot)
    root.stop()
    root.close()
    client = KazooClient(hosts=f"{zookeeper.connect_string}{chroot}")
    client.start()
    try:
        yield client
    finally:
        client.stop()
        client.close()


def notify(zk: KazooClient, directory: str, count: int) -> None:
    for _ in range(count):
        zk.create(f"{directory}/acl_changes_", b"Topic:t", sequence=True, makepath=True)


def test_fresh_notifications_stay_and_expired_ones_go(zk: KazooClient) -> None:
    notify(zk, "/kafka-acl-changes", 3)
    now = int(time.time() * 1000)
    assert purge_expired(zk, "/kafka-acl-changes", now) == 0
    assert len(zk.get_children("/kafka-acl-changes")) == 3
    later = now + CHANGE_EXPIRATION_MS + 60_000  # as if 16 minutes had passed
    assert purge_expired(zk, "/kafka-acl-changes", later) == 3
    assert zk.get_children("/kafka-acl-changes") == []
    assert zk.exists("/kafka-acl-changes") is not None  # the directory itself stays


def test_a_missing_directory_is_not_an_error(zk: KazooClient) -> None:
    assert purge_expired(zk, "/config/changes") == 0


def test_the_purger_runs_at_most_once_a_minute_per_directory(zk: KazooClient) -> None:
    notify(zk, "/config/changes", 2)
    purger = ChangePurger(zk)
    purger.after_write("/config/changes")  # purges nothing: the notifications are fresh
    assert len(zk.get_children("/config/changes")) == 2
    assert purger._next_ms["/config/changes"] > int(time.time() * 1000)
