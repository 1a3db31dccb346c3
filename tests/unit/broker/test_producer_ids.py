"""Producer ids come in durable blocks; a store that cannot reserve one gives a retriable error."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from riverlog.broker.services import PRODUCER_ID_BLOCK, ProducerIdManager, ProducerIdUnavailable
from riverlog.metadata.image import ClusterImage


class Store:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.next = 0
        self.on_commit: list[Callable[[ClusterImage], None]] = []

    @property
    def image(self) -> ClusterImage:
        return ClusterImage("c")

    def commit(self, records: Sequence[Any]) -> ClusterImage:
        return self.image

    def allocate_producer_ids(self, count: int) -> int:
        if self.fail:
            raise ConnectionError("ZooKeeper is away")
        start, self.next = self.next, self.next + count
        return start

    def close(self) -> None:
        pass


def test_ids_are_handed_out_from_blocks_reserved_in_the_store() -> None:
    store = Store()
    manager = ProducerIdManager(store)
    ids = [manager.next_id() for _ in range(PRODUCER_ID_BLOCK + 1)]
    assert ids == list(range(PRODUCER_ID_BLOCK + 1))
    assert store.next == 2 * PRODUCER_ID_BLOCK  # a second block once the first ran out


def test_a_store_that_cannot_reserve_a_block_gives_a_retriable_error() -> None:
    manager = ProducerIdManager(Store(fail=True))
    with pytest.raises(ProducerIdUnavailable, match="ZooKeeper is away"):
        manager.next_id()
