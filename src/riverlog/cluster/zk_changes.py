"""Purging old change notifications in ZooKeeper, as Kafka's ZkNodeChangeNotificationListener does.

Each ACL or config change leaves a sequential znode under `/kafka-acl-changes`,
`/kafka-acl-extended-changes` or `/config/changes` for the brokers watching there. Kafka deletes the
notifications created more than 15 minutes ago (`changeExpirationMs`), judged by the znode's creation
time; riverlog does the same after writing a notification, at most once a minute per directory.

Invariants: only direct children of the notification directory older than the expiration are
deleted; a notification already deleted by another broker is skipped, never an error.
"""

from __future__ import annotations

import time

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

CHANGE_EXPIRATION_MS = 15 * 60 * 1000
PURGE_INTERVAL_MS = 60 * 1000


def purge_expired(
    zk: KazooClient,
    directory: str,
    now_ms: int | None = None,
    expiration_ms: int = CHANGE_EXPIRATION_MS,
) -> int:
    """Delete the notifications under `directory` created over `expiration_ms` ago; how many."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        children = zk.get_children(directory)
    except NoNodeError:
        return 0
    purged = 0
    for child in children:
        path = f"{directory}/{child}"
        stat = zk.exists(path)
        if stat is None or now - stat.ctime <= expiration_ms:
            continue
        try:
            zk.delete(path)
            purged += 1
        except NoNodeError:
            pass  # another broker purged it first
    return purged


class ChangePurger:
    """Runs `purge_expired` on a directory at most once per PURGE_INTERVAL_MS."""

    def __init__(self, zk: KazooClient) -> None:
        self.zk = zk
        self._next_ms: dict[str, int] = {}

    def after_write(self, directory: str) -> None:
        now = int(time.time() * 1000)
        if now < self._next_ms.get(directory, 0):
            return
        self._next_ms[directory] = now + PURGE_INTERVAL_MS
        purge_expired(self.zk, directory, now)
