"""Server-side partition assignors of KIP-848 consumer groups: "uniform" (the default) and "range".

Both are pure functions of the members' subscriptions (topic ids), the partition counts, and — for the
uniform assignor — the current target assignment, so a recomputation moves as little as it can.
- uniform: every partition of a subscribed topic goes to exactly one member subscribed to it; members
  keep what they had while that keeps the counts balanced; each remaining partition goes to the eligible
  member with the fewest partitions; then partitions move, one at a time, from a member that has two
  more than an eligible other, until no such pair is left. With identical subscriptions every member
  ends with floor(P/M) or ceil(P/M) partitions (Kafka's UniformAssignor guarantees the same).
- range: per topic, the subscribed members sorted by member id take consecutive ranges; the first
  (partitions % members) get one extra — Kafka's RangeAssignor, which co-partitions topics of equal size.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Set

MemberAssignment = dict[uuid.UUID, frozenset[int]]
TopicPartition = tuple[uuid.UUID, int]
Assignor = Callable[
    [
        Mapping[str, Set[uuid.UUID]],
        Mapping[uuid.UUID, int],
        Mapping[str, Mapping[uuid.UUID, Set[int]]],
    ],
    dict[str, MemberAssignment],
]
UNIFORM, RANGE = "uniform", "range"


def _as_assignment(partitions: Set[TopicPartition]) -> MemberAssignment:
    grouped: dict[uuid.UUID, set[int]] = {}
    for topic_id, partition in partitions:
        grouped.setdefault(topic_id, set()).add(partition)
    return {topic_id: frozenset(parts) for topic_id, parts in grouped.items()}


def uniform_assign(
    subscriptions: Mapping[str, Set[uuid.UUID]],
    partition_counts: Mapping[uuid.UUID, int],
    current: Mapping[str, Mapping[uuid.UUID, Set[int]]],
) -> dict[str, MemberAssignment]:
    members = sorted(subscriptions)
    eligible: dict[uuid.UUID, list[str]] = {}
    for member in members:
        for topic_id in subscriptions[member]:
            if partition_counts.get(topic_id, 0) > 0:
                eligible.setdefault(topic_id, []).append(member)
    owned: dict[str, set[TopicPartition]] = {m: set() for m in members}
    owner: dict[TopicPartition, str] = {}
    # 1. Stickiness: members keep partitions they still may have, up to a fair share.
    total = sum(partition_counts[t] for t in eligible)
    share = -(-total // len(members)) if members else 0
    for member in members:
        for topic_id, partitions in sorted(current.get(member, {}).items()):
            if member not in eligible.get(topic_id, ()):
                continue
            for partition in sorted(partitions):
                tp = (topic_id, partition)
                fits = partition < partition_counts[topic_id] and len(owned[member]) < share
                if fits and tp not in owner:
                    owned[member].add(tp)
                    owner[tp] = member
    # 2. Every unassigned partition to the least loaded member that subscribes to its topic.
    for topic_id in sorted(eligible):
        for partition in range(partition_counts[topic_id]):
            tp = (topic_id, partition)
            if tp not in owner:
                chosen = min(eligible[topic_id], key=lambda m: (len(owned[m]), m))
                owned[chosen].add(tp)
                owner[tp] = chosen
    # 3. Balance: move partitions from members two or more above an eligible other.
    _balance(owned, owner, eligible)
    return {member: _as_assignment(owned[member]) for member in members}


def _balance(
    owned: dict[str, set[TopicPartition]],
    owner: dict[TopicPartition, str],
    eligible: Mapping[uuid.UUID, list[str]],
) -> None:
    """Move one partition at a time from the most loaded member that has one an eligible member
    with two fewer can take, until there is none (each move lowers the sum of squared loads)."""
    while _move_one(owned, owner, eligible):
        pass


def _move_one(
    owned: dict[str, set[TopicPartition]],
    owner: dict[TopicPartition, str],
    eligible: Mapping[uuid.UUID, list[str]],
) -> bool:
    for giver in sorted(owned, key=lambda m: (-len(owned[m]), m)):
        for tp in sorted(owned[giver]):
            taker = min(eligible[tp[0]], key=lambda m: (len(owned[m]), m))
            if len(owned[taker]) + 1 < len(owned[giver]):
                owned[giver].remove(tp)
                owned[taker].add(tp)
                owner[tp] = taker
                return True
    return False


def range_assign(
    subscriptions: Mapping[str, Set[uuid.UUID]],
    partition_counts: Mapping[uuid.UUID, int],
    current: Mapping[str, Mapping[uuid.UUID, Set[int]]],
) -> dict[str, MemberAssignment]:
    del current  # range is positional, not sticky
    result: dict[str, MemberAssignment] = {member: {} for member in subscriptions}
    topics = {t for subscribed in subscriptions.values() for t in subscribed}
    for topic_id in sorted(topics):
        count = partition_counts.get(topic_id, 0)
        subscribers = sorted(m for m, s in subscriptions.items() if topic_id in s)
        if not count or not subscribers:
            continue
        base, extra = divmod(count, len(subscribers))
        start = 0
        for index, member in enumerate(subscribers):
            size = base + (1 if index < extra else 0)
            if size:
                result[member][topic_id] = frozenset(range(start, start + size))
            start += size
    return result


ASSIGNORS: dict[str, Assignor] = {UNIFORM: uniform_assign, RANGE: range_assign}
# Kafka's class names for its built-in assignors, accepted wherever a name is.
ALIASES = {
    "org.apache.kafka.coordinator.group.assignor.UniformAssignor": UNIFORM,
    "org.apache.kafka.coordinator.group.assignor.RangeAssignor": RANGE,
}


def assignor_name(name: str) -> str | None:
    """The canonical name of a known assignor, or None."""
    canonical = ALIASES.get(name, name)
    return canonical if canonical in ASSIGNORS else None
