"""A consumer group's dynamic configs (KIP-848 GROUP resource) steer its heartbeats and sessions."""

from __future__ import annotations

from group_harness import Harness
from kio.schema.errors import ErrorCode


def test_group_overrides_set_the_heartbeat_interval_and_session_timeout() -> None:
    h = Harness()
    h.add_topic("t", 2)
    overrides = {"consumer.heartbeat.interval.ms": "7000", "consumer.session.timeout.ms": "50000"}
    h.shard.consumer.group_overrides = lambda group: overrides if group == "g" else {}

    joined = h.consumer_heartbeat("g", "m1", 0, topics=("t",))
    assert joined.error is ErrorCode.none
    assert joined.heartbeat_interval_ms == 7000
    other = h.consumer_heartbeat("other", "m2", 0, topics=("t",))
    assert other.heartbeat_interval_ms == 5000  # the broker's default

    # The broker default (45 s) has passed, the group's 50 s has not.
    h.advance(49_999)
    assert "m1" in h.shard.consumer.groups["g"].members
    assert "m2" not in h.shard.consumer.groups["other"].members
    h.advance(1)
    assert "m1" not in h.shard.consumer.groups["g"].members
