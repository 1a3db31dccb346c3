"""Leader election and ISR decisions, as pure functions of a partition's state and the live brokers.

The controller (and a broker in controlled shutdown) calls these, then writes the answer with a
compare-and-set on the partition state znode. Kafka's rules (ZooKeeper-mode controller):
- A leader is chosen from the ISR, in replica-assignment order, among live brokers.
- With no live ISR member, `unclean.leader.election.enable=true` takes any live replica (data written
  only to the lost ISR may be gone); otherwise the partition is offline (leader -1) and keeps its last ISR,
  so that only a broker holding every committed record can lead it when it returns.
- Every leader change bumps the leader epoch; an ISR-only change does not.
- A broker that is not live is removed from the ISR of a partition whose leader is live.
- Only assigned replicas may lead or be in the ISR (a cancelled reassignment can leave others there).
"""

from __future__ import annotations

from collections.abc import Collection

from riverlog.metadata.image import PartitionState
from riverlog.metadata.zk_format import LeaderAndIsr

NO_LEADER = -1


def elect_leader(
    state: PartitionState,
    live: Collection[int],
    *,
    unclean: bool = False,
    exclude: Collection[int] = (),
) -> LeaderAndIsr | None:
    """The state to write after brokers died (or `exclude` shuts down); None when nothing changes."""
    usable = [b for b in live if b not in exclude and b in state.replicas]
    if state.leader in usable:
        isr = tuple(b for b in state.isr if b in usable)
        if state.leader not in isr:
            isr = (state.leader, *isr)
        return None if isr == state.isr else LeaderAndIsr(state.leader, state.leader_epoch, isr)
    candidates = [r for r in state.replicas if r in state.isr and r in usable]
    if candidates:
        leader = candidates[0]
        isr = tuple(b for b in state.isr if b in usable)
        return LeaderAndIsr(leader, state.leader_epoch + 1, isr)
    if unclean:
        candidates = [r for r in state.replicas if r in usable]
        if candidates:
            return LeaderAndIsr(candidates[0], state.leader_epoch + 1, (candidates[0],))
    if state.leader == NO_LEADER:
        return None
    return LeaderAndIsr(NO_LEADER, state.leader_epoch + 1, state.isr)


def elect_preferred(state: PartitionState, live: Collection[int]) -> LeaderAndIsr | None:
    """Move leadership to the first assigned replica when it is live and in the ISR (and not leader)."""
    if not state.replicas:
        return None
    preferred = state.replicas[0]
    if preferred == state.leader or preferred not in state.isr or preferred not in live:
        return None
    return LeaderAndIsr(preferred, state.leader_epoch + 1, state.isr)


def needs_election(state: PartitionState, live: Collection[int]) -> bool:
    """A dead or unassigned leader, or a dead or unassigned ISR member (after a reassignment)."""
    usable = [b for b in live if b in state.replicas]
    return state.leader not in usable or any(b not in usable for b in state.isr)
