"""KIP-392's rack-aware replica selection, as Kafka's RackAwareReplicaSelector decides."""

from __future__ import annotations

from riverlog.broker.replication.replica_selector import (
    LEADER_SELECTOR,
    NO_PREFERRED_REPLICA,
    RACK_AWARE,
    ReplicaView,
    preferred_read_replica,
)

LEADER = ReplicaView(1, "RACK1", 100, 1000)
F2 = ReplicaView(2, "RACK2", 100, 900)
F3 = ReplicaView(3, "RACK3", 100, 950)


def pick(followers: list[ReplicaView], rack: str, offset: int = 50, leader=LEADER) -> int:
    return preferred_read_replica(RACK_AWARE, leader, followers, rack, offset)


def test_a_follower_in_the_client_rack_is_preferred() -> None:
    assert pick([F2, F3], "RACK3") == 3


def test_the_leader_serves_when_it_is_in_the_rack_or_no_replica_is() -> None:
    assert pick([F2, F3], "RACK1") == NO_PREFERRED_REPLICA
    assert pick([F2, F3], "RACK9") == NO_PREFERRED_REPLICA
    assert pick([F2, F3], "") == NO_PREFERRED_REPLICA


def test_no_selector_means_the_leader() -> None:
    assert preferred_read_replica("", LEADER, [F2, F3], "RACK3", 50) == NO_PREFERRED_REPLICA
    assert (
        preferred_read_replica(LEADER_SELECTOR, LEADER, [F2], "RACK2", 50) == NO_PREFERRED_REPLICA
    )


def test_a_follower_that_does_not_hold_the_fetch_offset_is_not_chosen() -> None:
    behind = ReplicaView(3, "RACK3", 40, 950)
    assert pick([F2, behind], "RACK3", offset=50) == NO_PREFERRED_REPLICA
    assert pick([F2, behind], "RACK3", offset=40) == 3


def test_in_one_rack_the_most_caught_up_follower_wins() -> None:
    a = ReplicaView(2, "R", 90, 5000)
    b = ReplicaView(3, "R", 100, 1000)
    c = ReplicaView(4, "R", 100, 2000)
    assert pick([a, b, c], "R") == 4
