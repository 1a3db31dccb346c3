"""KIP-455 reassignment decisions: start, completion, cancel."""

from __future__ import annotations

import pytest

from riverlog.metadata import reassignment as r
from riverlog.metadata.image import PartitionState
from riverlog.metadata.zk_format import LeaderAndIsr


def state(
    replicas: tuple[int, ...],
    isr: tuple[int, ...],
    leader: int,
    adding: tuple[int, ...] = (),
    removing: tuple[int, ...] = (),
) -> PartitionState:
    return PartitionState(0, leader, 3, replicas, isr, 9, adding, removing)


def test_start_puts_the_target_first_and_lists_what_comes_and_goes() -> None:
    change = r.start(state((1, 2), (1, 2), 1), [3, 2], brokers={1, 2, 3})
    assert change == r.Assignment((3, 2, 1), adding=(3,), removing=(1,))


def test_start_refuses_empty_duplicated_or_unknown_targets() -> None:
    current = state((1,), (1,), 1)
    for target, message in (([], "empty"), ([2, 2], "duplicates"), ([2, 9], "not registered")):
        with pytest.raises(r.ReassignmentError, match=message):
            r.start(current, target, brokers={1, 2, 3})


def test_completes_only_when_every_adding_replica_is_in_sync() -> None:
    moving = state((3, 2, 1), (1, 2), 1, adding=(3,), removing=(1,))
    assert not r.ready_to_complete(moving)
    synced = state((3, 2, 1), (1, 2, 3), 1, adding=(3,), removing=(1,))
    assert r.ready_to_complete(synced)
    # The leader (1) leaves: the first in-sync target replica leads, in a new epoch.
    assert r.completion(synced, live={1, 2, 3}) == LeaderAndIsr(3, 4, (2, 3))


def test_completion_keeps_a_leader_that_stays() -> None:
    synced = state((2, 3, 1), (1, 2, 3), 2, adding=(3,), removing=(1,))
    assert r.completion(synced, live={1, 2, 3}) == LeaderAndIsr(2, 3, (2, 3))


def test_cancel_returns_to_the_original_replicas() -> None:
    moving = state((3, 2, 1), (1, 2), 1, adding=(3,), removing=(1,))
    assert r.cancel(moving) == r.Assignment((2, 1))
    assert r.target_of(moving) == (3, 2)
