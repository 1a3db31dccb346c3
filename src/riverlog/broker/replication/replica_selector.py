"""Fetch from follower (KIP-392): which replica a consumer should read a partition from.

Kafka's rules (ReplicaManager.findPreferredReadReplica with `replica.selector.class` set to
`org.apache.kafka.common.replica.RackAwareReplicaSelector`):
- Only a partition's leader answers with a preferred read replica, only to consumers whose Fetch carries
  client metadata (v11+), and only when a selector is configured (Kafka's default is none: the leader).
- Candidates are the leader and every follower whose log holds the fetch offset (its log end offset is
  at least the fetch offset) and whose broker is registered.
- With a client rack, the candidates in that rack: the leader if it is one of them, else the one with the
  highest log end offset, ties broken by the most recent catch-up. No rack, or no candidate in the rack:
  the leader.
- The answer names a replica other than the leader, or none (-1): the leader keeps serving.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RACK_AWARE = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
LEADER_SELECTOR = "org.apache.kafka.common.replica.LeaderSelector"  # Kafka's: always the leader
NO_PREFERRED_REPLICA = -1


@dataclass(frozen=True, slots=True)
class ReplicaView:
    broker_id: int
    rack: str | None
    log_end_offset: int
    last_caught_up_ms: int


def rack_aware_select(
    leader: ReplicaView, followers: Sequence[ReplicaView], client_rack: str
) -> int:
    """Kafka's RackAwareReplicaSelector: the broker id to read from (the leader's when nothing better)."""
    if not client_rack:
        return leader.broker_id
    same_rack = [r for r in (leader, *followers) if r.rack == client_rack]
    if not same_rack or leader in same_rack:
        return leader.broker_id
    best = max(same_rack, key=lambda r: (r.log_end_offset, r.last_caught_up_ms))
    return best.broker_id


def preferred_read_replica(
    selector: str,
    leader: ReplicaView,
    followers: Sequence[ReplicaView],
    client_rack: str,
    fetch_offset: int,
) -> int:
    """The preferred read replica to answer a consumer's Fetch with, or -1 for the leader itself."""
    if selector != RACK_AWARE:
        return NO_PREFERRED_REPLICA
    holding = [f for f in followers if f.log_end_offset >= fetch_offset]
    chosen = rack_aware_select(leader, holding, client_rack)
    return NO_PREFERRED_REPLICA if chosen == leader.broker_id else chosen
