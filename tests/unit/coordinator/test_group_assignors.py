"""Server-side assignors (KIP-848): complete, exclusive, balanced, sticky (uniform), ranged (range)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from riverlog.coordinator.group.assignors import assignor_name, range_assign, uniform_assign

TOPICS = [uuid.UUID(int=i + 1) for i in range(4)]


def flatten(
    assignment: dict[str, dict[uuid.UUID, frozenset[int]]],
) -> list[tuple[str, uuid.UUID, int]]:
    return [(m, t, p) for m, a in assignment.items() for t, ps in a.items() for p in ps]


scenarios = st.tuples(
    st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=3),
        st.sets(st.sampled_from(TOPICS), max_size=4),
        min_size=1,
        max_size=7,
    ),
    st.fixed_dictionaries({t: st.integers(0, 9) for t in TOPICS}),
)


@given(scenarios)
def test_every_partition_goes_to_exactly_one_subscriber(scenario: tuple) -> None:  # type: ignore[type-arg]
    subscriptions, counts = scenario
    for assign in (uniform_assign, range_assign):
        result = assign(subscriptions, counts, {})
        placed = flatten(result)
        assert len({(t, p) for _, t, p in placed}) == len(placed)
        wanted = {(t, p) for s in subscriptions.values() for t in s for p in range(counts[t])}
        assert {(t, p) for _, t, p in placed} == wanted
        assert all(t in subscriptions[m] for m, t, _ in placed)


@given(
    st.integers(1, 8),
    st.fixed_dictionaries({t: st.integers(0, 12) for t in TOPICS}),
    st.integers(0, 7),
)
def test_uniform_is_balanced_and_sticky_with_identical_subscriptions(
    members: int, counts: dict[uuid.UUID, int], leaving: int
) -> None:
    subscriptions = {f"m{i}": set(TOPICS) for i in range(members)}
    first = uniform_assign(subscriptions, counts, {})
    sizes = [sum(len(p) for p in a.values()) for a in first.values()]
    assert max(sizes) - min(sizes) <= 1
    assert uniform_assign(subscriptions, counts, first) == first  # nothing moves without a reason
    # One member joins: only what the newcomer needs moves.
    grown = {**subscriptions, "new": set(TOPICS)}
    second = uniform_assign(grown, counts, first)
    before = set(flatten(first))
    gained = [(m, t, p) for m, t, p in flatten(second) if m != "new" and (m, t, p) not in before]
    assert gained == []
    sizes = [sum(len(p) for p in a.values()) for a in second.values()]
    assert max(sizes) - min(sizes) <= 1
    # One member leaves: the others keep everything they had.
    if members > 1:
        gone = f"m{leaving % members}"
        third = uniform_assign({m: s for m, s in subscriptions.items() if m != gone}, counts, first)
        before = set(flatten(first))
        kept = {(m, t, p) for m, t, p in before if m != gone}
        assert kept <= set(flatten(third))


def test_range_gives_consecutive_ranges_in_member_order() -> None:
    topic = TOPICS[0]
    result = range_assign({"b": {topic}, "a": {topic}, "c": {topic}}, {topic: 7}, {})
    assert result == {
        "a": {topic: frozenset({0, 1, 2})},
        "b": {topic: frozenset({3, 4})},
        "c": {topic: frozenset({5, 6})},
    }


def test_assignor_names() -> None:
    assert assignor_name("uniform") == "uniform"
    assert assignor_name("org.apache.kafka.coordinator.group.assignor.RangeAssignor") == "range"
    assert assignor_name("sticky") is None
