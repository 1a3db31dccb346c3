"""LeaderEpochCache: Kafka's assign / OffsetForLeaderEpoch / truncation rules, persisted."""

from __future__ import annotations

from pathlib import Path

import pytest

from riverlog.storage.epoch_cache import LeaderEpochCache


def cache_with(tmp_path: Path, *entries: tuple[int, int]) -> LeaderEpochCache:
    cache = LeaderEpochCache(tmp_path)
    for epoch, start in entries:
        cache.assign(epoch, start)
    return cache


def test_assign_is_persisted_in_kafka_format(tmp_path: Path) -> None:
    cache_with(tmp_path, (2, 6), (3, 8))
    assert (tmp_path / "leader-epoch-checkpoint").read_text() == "0\n2\n2 6\n3 8\n"
    assert LeaderEpochCache(tmp_path).entries() == [(2, 6), (3, 8)]


def test_assign_same_epoch_later_offset_is_a_noop(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (2, 6), (2, 10))
    assert cache.entries() == [(2, 6)]


def test_assign_drops_non_monotonic_entries(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (1, 0), (2, 6), (3, 8))
    cache.assign(2, 7)  # epoch 2 again, later start: 2 and 3 go, (2, 7) comes
    assert cache.entries() == [(1, 0), (2, 7)]
    cache.assign(4, 5)  # start before existing starts: those go
    assert cache.entries() == [(1, 0), (4, 5)]


def test_assign_rejects_negative(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        cache_with(tmp_path, (-1, 0))


def test_end_offset_for_follows_offset_for_leader_epoch(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (2, 6), (4, 12), (5, 20))
    assert cache.latest_epoch == 5
    assert cache.end_offset_for(5, log_end_offset=30) == (5, 30)  # latest: the LEO
    assert cache.end_offset_for(4, 30) == (4, 20)  # ends where the next starts
    assert cache.end_offset_for(3, 30) == (2, 12)  # unknown between: floor epoch, next start
    assert cache.end_offset_for(1, 30) == (1, 6)  # before all
    assert cache.end_offset_for(6, 30) == (-1, -1)  # newer than all
    assert cache.end_offset_for(-1, 30) == (-1, -1)
    assert LeaderEpochCache(tmp_path / "empty").end_offset_for(0, 3) == (-1, -1)


def test_truncate_from_end(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (2, 6), (3, 8), (4, 11))
    cache.truncate_from_end(9)
    assert cache.entries() == [(2, 6), (3, 8)]
    cache.truncate_from_end(100)
    assert cache.entries() == [(2, 6), (3, 8)]
    assert LeaderEpochCache(tmp_path).entries() == [(2, 6), (3, 8)]


def test_truncate_from_start_moves_the_covering_entry(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (2, 6), (3, 8), (4, 11))
    cache.truncate_from_start(9)
    assert cache.entries() == [(3, 9), (4, 11)]
    cache.truncate_from_start(11)
    assert cache.entries() == [(4, 11)]
    cache.truncate_from_start(3)
    assert cache.entries() == [(4, 11)]
    assert LeaderEpochCache(tmp_path).entries() == [(4, 11)]


def test_epoch_for_offset(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (2, 6), (3, 8))
    assert [cache.epoch_for_offset(o) for o in (5, 6, 7, 8, 100)] == [-1, 2, 2, 3, 3]
