"""Partition reassignment (KIP-455), as pure decisions over a partition's state.

Kafka's steps, which the controller drives:
1. Start: the replica set becomes target + current (target first, so the preferred leader is the
   target's first replica), with `adding` = target - current and `removing` = current - target. The new
   replicas start following the leader and join the ISR when caught up.
2. Complete, once every adding replica is in the ISR: the replica set becomes the target, the ISR
   keeps only target members, and if the leader is not in the target a new one is elected from the
   target's in-sync replicas (a new leader epoch). Removed replicas then delete their copy.
3. Cancel (a null target): back to the original replicas (current - adding); the leader moves the same
   way if it was one of the adding replicas.
A reassignment to the current replica set with nothing in progress completes at once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from riverlog.metadata.image import PartitionState
from riverlog.metadata.zk_format import LeaderAndIsr


class ReassignmentError(ValueError):
    """A target replica list Kafka refuses (INVALID_REPLICA_ASSIGNMENT)."""


@dataclass(frozen=True, slots=True)
class Assignment:
    replicas: tuple[int, ...]
    adding: tuple[int, ...] = ()
    removing: tuple[int, ...] = ()


def original_replicas(state: PartitionState) -> tuple[int, ...]:
    return tuple(r for r in state.replicas if r not in state.adding_replicas)


def start(state: PartitionState, target: Sequence[int], brokers: Collection[int]) -> Assignment:
    if not target:
        raise ReassignmentError("The target replica list is empty.")
    if len(set(target)) != len(target):
        raise ReassignmentError(f"The target replica list {list(target)} has duplicates.")
    unknown = [b for b in target if b not in brokers]
    if unknown:
        raise ReassignmentError(f"The target replicas {unknown} are not registered brokers.")
    current = original_replicas(state)
    replicas = tuple(target) + tuple(r for r in current if r not in target)
    adding = tuple(r for r in target if r not in current)
    removing = tuple(r for r in current if r not in target)
    return Assignment(replicas, adding, removing)


def cancel(state: PartitionState) -> Assignment:
    return Assignment(original_replicas(state))


def target_of(state: PartitionState) -> tuple[int, ...]:
    return tuple(r for r in state.replicas if r not in state.removing_replicas)


def ready_to_complete(state: PartitionState) -> bool:
    in_progress = bool(state.adding_replicas or state.removing_replicas)
    return in_progress and all(r in state.isr for r in state.adding_replicas)


def completion(state: PartitionState, live: Collection[int]) -> LeaderAndIsr | None:
    """The partition state once the reassignment completes; None when it needs no change, or when
    no target replica can lead (the reassignment then waits)."""
    target = target_of(state)
    isr = tuple(b for b in state.isr if b in target)
    if state.leader in target:
        return None if isr == state.isr else LeaderAndIsr(state.leader, state.leader_epoch, isr)
    candidates = [b for b in target if b in isr and b in live]
    if not candidates:
        return None
    return LeaderAndIsr(candidates[0], state.leader_epoch + 1, isr)
