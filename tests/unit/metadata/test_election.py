"""Leader election and ISR decisions (Kafka's ZooKeeper-mode controller rules)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from riverlog.metadata.election import elect_leader, elect_preferred, needs_election
from riverlog.metadata.image import PartitionState
from riverlog.metadata.zk_format import LeaderAndIsr


def state(
    leader: int, isr: tuple[int, ...], replicas: tuple[int, ...] = (1, 2, 3), epoch: int = 4
) -> PartitionState:
    return PartitionState(0, leader, epoch, replicas, isr, 7)


def test_dead_leader_is_replaced_by_the_first_live_isr_member_in_assignment_order() -> None:
    assert elect_leader(state(1, (1, 2, 3), replicas=(1, 3, 2)), {2, 3}) == LeaderAndIsr(
        3, 5, (2, 3)
    )


def test_live_leader_loses_dead_followers_without_an_epoch_bump() -> None:
    assert elect_leader(state(1, (1, 2, 3)), {1, 3}) == LeaderAndIsr(1, 4, (1, 3))
    assert elect_leader(state(1, (1, 2, 3)), {1, 2, 3}) is None


def test_no_live_isr_member_makes_the_partition_offline_keeping_its_last_isr() -> None:
    assert elect_leader(state(1, (1,)), {2, 3}) == LeaderAndIsr(-1, 5, (1,))
    assert (
        elect_leader(state(-1, (1,), epoch=5), {2, 3}) is None
    )  # already offline: nothing to write


def test_unclean_election_takes_any_live_replica() -> None:
    assert elect_leader(state(1, (1,)), {3}, unclean=True) == LeaderAndIsr(3, 5, (3,))


def test_returning_isr_member_brings_an_offline_partition_back() -> None:
    assert elect_leader(state(-1, (1,), epoch=5), {1, 2}) == LeaderAndIsr(1, 6, (1,))


def test_controlled_shutdown_moves_leadership_and_leaves_the_isr() -> None:
    assert elect_leader(state(1, (1, 2, 3)), {1, 2, 3}, exclude={1}) == LeaderAndIsr(2, 5, (2, 3))
    assert elect_leader(state(2, (1, 2, 3)), {1, 2, 3}, exclude={1}) == LeaderAndIsr(2, 4, (2, 3))


def test_preferred_replica_takes_leadership_back_only_when_in_sync() -> None:
    assert elect_preferred(state(2, (1, 2, 3)), {1, 2, 3}) == LeaderAndIsr(1, 5, (1, 2, 3))
    assert elect_preferred(state(2, (2, 3)), {1, 2, 3}) is None
    assert elect_preferred(state(1, (1, 2)), {1, 2}) is None


@given(
    data=st.data(),
    isr=st.sets(st.sampled_from([1, 2, 3]), min_size=1),
    live=st.sets(st.sampled_from([1, 2, 3])),
    unclean=st.booleans(),
)
def test_a_new_leader_is_live_and_clean_elections_only_pick_isr_members(
    data: st.DataObject, isr: set[int], live: set[int], unclean: bool
) -> None:
    leader = data.draw(
        st.sampled_from([-1, *sorted(isr)])
    )  # Kafka's invariant: the leader is in the ISR
    before = state(leader, tuple(sorted(isr)))
    decision = elect_leader(before, live, unclean=unclean)
    if decision is None:
        return
    if decision.leader >= 0:
        assert decision.leader in live
        assert decision.leader in decision.isr
        assert set(decision.isr) <= live
        if not unclean:
            assert decision.leader in isr
            assert set(decision.isr) <= isr
    else:
        assert not (isr & live) and decision.isr == before.isr
    if decision.leader != before.leader:
        assert decision.leader_epoch == before.leader_epoch + 1
    assert needs_election(before, live)
