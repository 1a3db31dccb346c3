"""JoinGroups the fuzzer found (issue 19): a protocol name listed twice, and a timer that fails.

A JoinGroup listing one protocol name twice left the group with no protocol "every member" supports
(the name was counted twice for one member), so completing the join raised StopIteration in the
timer task: the join was never answered and the other timers fired in that pass were lost.
"""

from __future__ import annotations

import pytest
from group_harness import Harness
from kio.schema.errors import ErrorCode

from riverlog.coordinator.group import GroupConfig, GroupState
from riverlog.coordinator.group.messages import JoinGroupResult
from riverlog.coordinator.group.shard import TimerFailed

DELAYED = GroupConfig(min_session_timeout_ms=1000, initial_rebalance_delay_ms=3000)


def test_a_protocol_name_listed_twice_counts_once() -> None:
    h = Harness()
    twice = (("range", b"first"), ("range", b"second"))
    joined = h.answers[h.join("g", protocols=twice, version=3)]
    assert joined.error is ErrorCode.none
    assert (joined.generation_id, joined.protocol_name) == (1, "range")
    # The first entry of a name is the one the member meant (Kafka's metadata lookup does the same).
    assert [m.metadata for m in joined.members] == [b"first"]
    assert h.shard.groups["g"].state is GroupState.COMPLETING_REBALANCE


def test_duplicates_do_not_outvote_a_second_member() -> None:
    h = Harness(DELAYED)
    leader = h.join(
        "g", protocols=(("range", b"a"), ("range", b"a"), ("roundrobin", b"b")), version=3
    )
    other = h.join("g", protocols=(("roundrobin", b"c"), ("range", b"d")), version=3)
    assert h.shard.groups["g"].supported_protocols == {"range": 2, "roundrobin": 2}
    h.advance(30_000)  # the initial delay, extended once for the second member
    # Both support both; one vote each, the tie goes to the first member's preference.
    answers = [h.answers[leader], h.answers[other]]
    assert all(isinstance(a, JoinGroupResult) and a.error is ErrorCode.none for a in answers)
    assert {a.protocol_name for a in answers} == {"range"}


def _poison(h: Harness, group: str) -> None:
    """Leave `group` as the duplicate-name bug did: a protocol counted once more than it has members."""
    h.shard.groups[group].supported_protocols["range"] += 1


def test_a_failing_timer_keeps_the_completions_fired_before_it() -> None:
    h = Harness(DELAYED)
    healthy = h.join("healthy", version=3)
    h.join("poisoned", version=3)
    _poison(h, "poisoned")
    h.now += 3000  # both initial delays are due in the same tick; "healthy" was scheduled first

    with pytest.raises(TimerFailed) as failed:
        h.shard.tick(h.now)
    assert failed.value.timer[1] == "poisoned"
    assert failed.value.__cause__ is not None  # the StopIteration, as a generator's RuntimeError
    # What fired before the failure is handed back, so "healthy"'s parked join is still answered.
    done = failed.value.done
    assert [c.waiter for c in done.completions] == [healthy]
    h.apply(done)
    assert h.answers[healthy].error is ErrorCode.none
    assert h.shard.next_deadline() is None or h.shard.next_deadline() > h.now


def test_timers_after_a_failing_one_still_fire() -> None:
    h = Harness(DELAYED)
    h.join("poisoned", version=3)
    healthy = h.join("healthy", version=3)
    _poison(h, "poisoned")
    h.now += 3000

    with pytest.raises(TimerFailed) as failed:
        h.shard.tick(h.now)
    assert failed.value.done.completions == []
    # The failed timer is gone; the next tick fires the other group's.
    h.apply(h.shard.tick(h.now))
    assert h.answers[healthy].error is ErrorCode.none
    assert h.shard.groups["healthy"].state is GroupState.COMPLETING_REBALANCE
