"""The leader's follower bookkeeping: caught-up time, high watermark, ISR membership."""

from __future__ import annotations

from riverlog.broker.replication.isr import (
    FollowerState,
    fresh_followers,
    isr_high_watermark,
    lagging_members,
    may_join,
)


def test_follower_is_caught_up_when_it_fetched_the_whole_log() -> None:
    f = FollowerState()
    f.record_fetch(10, 10, now_ms=1000)
    assert f.last_caught_up_ms == 1000
    f.record_fetch(
        10, 20, now_ms=2000
    )  # behind now, but it had caught up to the LEO of its last fetch
    assert f.last_caught_up_ms == 1000
    f.record_fetch(20, 30, now_ms=3000)  # reached the LEO as of the previous fetch (at 2000)
    assert f.last_caught_up_ms == 2000


def test_high_watermark_is_the_minimum_over_the_isr_and_waits_for_unknown_followers() -> None:
    followers = fresh_followers((1, 2, 3), leader=1, now_ms=0)
    assert isr_high_watermark(1, 50, (1, 2, 3), followers) == -1
    followers[2].record_fetch(40, 50, 1)
    followers[3].record_fetch(45, 50, 1)
    assert isr_high_watermark(1, 50, (1, 2, 3), followers) == 40
    assert isr_high_watermark(1, 50, (1, 3), followers) == 45
    assert isr_high_watermark(1, 50, (1,), {}) == 50


def test_lagging_followers_leave_and_caught_up_ones_may_join() -> None:
    followers = fresh_followers((1, 2, 3), leader=1, now_ms=0)
    followers[2].record_fetch(10, 10, now_ms=29_000)
    assert lagging_members(1, (1, 2, 3), followers, now_ms=30_001, max_lag_ms=30_000) == {3}
    assert may_join(followers[2], high_watermark=10, epoch_start_offset=5)
    assert not may_join(followers[2], high_watermark=10, epoch_start_offset=11)
