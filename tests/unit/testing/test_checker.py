"""The Jepsen-style checker: clean histories pass, and every kind of damage is counted as what it is."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from riverlog.testing.checker import Ack, CheckResult, Read, check


@dataclass
class History:
    """What a producer was told (acked) and what a correct log holds (read), built from sends."""

    acked: list[Ack]
    read: list[Read]


def history_from(sends: list[tuple[int, bool]]) -> History:
    # Each send goes to a partition, lands at that partition's next offset, and is or isn't acked.
    next_offset: dict[int, int] = {}
    acked, read = [], []
    for sequence, (partition, was_acked) in enumerate(sends):
        offset = next_offset.get(partition, 0)
        next_offset[partition] = offset + 1
        value = f"v{sequence}".encode()
        read.append(Read(partition, offset, value))
        if was_acked:
            acked.append(Ack(partition, offset, value, sequence))
    return History(acked, read)


sends_strategy = st.lists(st.tuples(st.integers(0, 2), st.booleans()), max_size=60)
acked_sends_strategy = st.lists(
    st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=60
).filter(lambda sends: any(acked for _, acked in sends))


@given(sends_strategy)
def test_a_correct_log_passes(sends: list[tuple[int, bool]]) -> None:
    history = history_from(sends)
    result = check(history.acked, history.read)
    assert result.ok, result.summary()
    assert result.acknowledged == sum(acked for _, acked in sends)
    assert result.read == len(sends)
    assert result.unacknowledged_read == len(sends) - result.acknowledged
    assert (result.lost, result.duplicated, result.out_of_order, result.wrong_offset) == (
        0,
        0,
        0,
        0,
    )


@given(sends_strategy, st.randoms(use_true_random=False))
def test_read_order_does_not_matter(sends: list[tuple[int, bool]], rng) -> None:
    # Partitions are read concurrently: records interleave across partitions in any order.
    history = history_from(sends)
    shuffled = list(history.read)
    rng.shuffle(shuffled)
    assert check(history.acked, shuffled).ok


@given(acked_sends_strategy, st.data())
def test_an_acknowledged_record_missing_from_the_log_is_lost(sends, data) -> None:
    history = history_from(sends)
    victim = data.draw(st.sampled_from(history.acked))
    read = [r for r in history.read if r.value != victim.value]
    result = check(history.acked, read)
    assert not result.ok
    assert (result.lost, result.wrong_offset, result.duplicated) == (1, 0, 0)
    assert result.examples["lost"] == (victim,)


@given(acked_sends_strategy, st.data())
def test_a_truncated_tail_loses_exactly_the_acknowledged_records_in_it(sends, data) -> None:
    # A new leader that lacked the tail of the old one's log: the tail's acked records are lost.
    history = history_from(sends)
    partition = data.draw(st.sampled_from(sorted({a.partition for a in history.acked})))
    last_acked = max(a.offset for a in history.acked if a.partition == partition)
    keep = data.draw(st.integers(0, last_acked))
    read = [r for r in history.read if r.partition != partition or r.offset < keep]
    result = check(history.acked, read)
    expected = sum(a.partition == partition and a.offset >= keep for a in history.acked)
    assert result.lost == expected >= 1
    assert not result.ok


@given(sends_strategy.filter(bool), st.data())
def test_a_value_written_twice_is_duplicated(sends, data) -> None:
    # A retried batch appended again (idempotence broken): the copy lands at the partition's end.
    history = history_from(sends)
    original = data.draw(st.sampled_from(history.read))
    end = sum(r.partition == original.partition for r in history.read)
    read = [*history.read, Read(original.partition, end, original.value)]
    result = check(history.acked, read)
    assert result.duplicated == 1
    assert not result.ok
    assert result.lost == result.wrong_offset == 0
    assert result.examples["duplicated"] == (
        (original.value, ((original.partition, original.offset), (original.partition, end))),
    )


@given(acked_sends_strategy, st.data())
def test_a_record_read_elsewhere_is_at_the_wrong_offset_not_lost(sends, data) -> None:
    # The log holds the value, but not where the broker said it put it (an extra record before it).
    history = history_from(sends)
    victim = data.draw(st.sampled_from(history.acked))
    shifted = [
        Read(r.partition, r.offset + 1, r.value) if r.value == victim.value else r
        for r in history.read
    ]
    result = check(history.acked, shifted)
    assert (result.wrong_offset, result.lost) == (1, 0)
    assert not result.ok


def test_swapped_records_are_out_of_order_and_misplaced() -> None:
    history = history_from([(0, True), (0, True), (0, True)])
    a, b, c = history.read
    swapped = [Read(0, 0, a.value), Read(0, 1, c.value), Read(0, 2, b.value)]
    result = check(history.acked, swapped)
    assert result.out_of_order == 1
    assert result.wrong_offset == 2
    assert result.examples["out_of_order"] == (Read(0, 2, b.value),)
    assert not result.ok


def test_order_is_per_partition() -> None:
    # Sent to partition 1 first, then to partition 0: no order between different partitions.
    acked = [Ack(1, 0, b"x", 0), Ack(0, 0, b"y", 1)]
    assert check(acked, [Read(0, 0, b"y"), Read(1, 0, b"x")]).ok


def test_order_is_per_producer() -> None:
    # Two producers' records interleave freely; each producer's own records keep their order.
    acked = [Ack(0, 0, b"a0", 0, "a"), Ack(0, 1, b"b0", 0, "b"), Ack(0, 2, b"a1", 1, "a")]
    log = [Read(0, 0, b"a0"), Read(0, 1, b"b0"), Read(0, 2, b"a1")]
    assert check(acked, log).ok
    acked = [Ack(0, 0, b"a1", 1, "a"), Ack(0, 1, b"b0", 0, "b"), Ack(0, 2, b"a0", 0, "a")]
    log = [Read(0, 0, b"a1"), Read(0, 1, b"b0"), Read(0, 2, b"a0")]
    assert check(acked, log).out_of_order == 1


def test_unacknowledged_records_in_the_log_are_allowed() -> None:
    # A write whose acknowledgement was lost may still have been committed.
    result = check([Ack(0, 0, b"a", 0)], [Read(0, 0, b"a"), Read(0, 1, b"b")])
    assert result.ok
    assert result.unacknowledged_read == 1


def test_nothing_acknowledged_and_nothing_read_is_fine() -> None:
    result = check([], [])
    assert result.ok
    assert result.summary() == (
        "acknowledged=0 read=0 lost=0 duplicated=0 out_of_order=0 wrong_offset=0 "
        "unacknowledged_read=0"
    )


def test_summary_names_the_anomalies() -> None:
    result = check([Ack(0, 0, b"a", 0)], [])
    assert result.summary().startswith("acknowledged=1 read=0 lost=1 ")
    assert (
        "lost: [Ack(partition=0, offset=0, value=b'a', sequence=0, producer='')]"
        in result.summary()
    )


@given(sends_strategy, sends_strategy)
def test_results_add_up_over_episodes(first, second) -> None:
    one, two = history_from(first), history_from(second)
    total = check(one.acked, one.read[:-1]) + check(two.acked, two.read)
    assert total.acknowledged == len(one.acked) + len(two.acked)
    assert total.read == max(len(one.read) - 1, 0) + len(two.read)
    assert total.lost == check(one.acked, one.read[:-1]).lost
    assert total.ok == (total.lost == 0)


def test_examples_are_capped() -> None:
    acked = [Ack(0, i, f"v{i}".encode(), i) for i in range(20)]
    result = check(acked, []) + check(acked, [])
    assert result.lost == 40
    assert len(result.examples["lost"]) == 5
    assert CheckResult().ok
