"""A fenced zombie producer cannot write, even to a partition that never saw its successor's epoch.

The successor's InitProducerId bumps the epoch at the coordinator only. A partition learns the new
epoch from a batch or a marker written with it: after an *abort* forced by the successor the markers
carry the bumped epoch, after a completed *commit* they carry the old one. So after a commit only
KIP-890's check (`transaction.partition.verification.enable`: the produce path asks the coordinator
whether the partition is in the producer's ongoing transaction) refuses the zombie; without it the
partition accepts the zombie's record, and the successor's next COMMIT marker on that partition (same
producer id) commits it — a fenced producer's write becomes visible to read_committed.

`PRODUCE_VERIFIES_TRANSACTIONS` (in `test_txn_crash`) says whether the produce handler runs that check
(`riverlog.broker.handlers._txn.verify_transactional_produce`); while it does not, the tests that need
it are expected failures (strict: they fail the suite once it does, so the flag gets flipped), and
`test_txn_crash` leaves out its zombie check after a commit.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kio.schema.errors import ErrorCode
from test_txn_aiokafka import SMALL, create_topic, read_confluent
from test_txn_crash import PRODUCE_VERIFIES_TRANSACTIONS, RawTransactions

from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

needs_verification = pytest.mark.xfail(
    not PRODUCE_VERIFIES_TRANSACTIONS,
    strict=True,
    reason="broker/handlers/produce.py does not call verify_transactional_produce (KIP-890)",
)
FENCED = {ErrorCode.invalid_producer_epoch, ErrorCode.producer_fenced}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with RunningBroker(tmp_path_factory.mktemp("txn-zombie"), **SMALL) as running:
        yield running


def _zombie_and_successor(
    broker: RunningBroker, topic: str, commit: bool
) -> tuple[RawTransactions, RawTransactions]:
    """A producer ends a transaction on partitions 0 and 1; a successor with the same id starts."""
    txn_id = f"zombie-{topic}"
    zombie = RawTransactions(broker.port, txn_id, 60_000)
    zombie.init()
    zombie.add(topic, range(2))
    zombie.produce(topic, {0: b"first-0", 1: b"first-1"})
    assert zombie.end(commit) is ErrorCode.none
    successor = RawTransactions(broker.port, txn_id, 60_000)
    successor.init()
    assert (successor.producer_id, successor.epoch) == (zombie.producer_id, zombie.epoch + 1)
    return zombie, successor


def test_zombie_is_fenced_when_its_open_transaction_was_aborted(broker: RunningBroker) -> None:
    """The successor aborts the zombie's open transaction with a bumped epoch: the partitions
    know the new epoch from the ABORT markers."""
    topic = create_topic(broker.bootstrap_servers, 2, "zombie")
    zombie = RawTransactions(broker.port, f"zombie-{topic}", 60_000)
    zombie.init()
    zombie.add(topic, range(2))
    zombie.produce(topic, {0: b"open-0", 1: b"open-1"})
    successor = RawTransactions(broker.port, zombie.transactional_id, 60_000)
    successor.init()  # retries CONCURRENT_TRANSACTIONS until the abort is complete
    assert zombie.try_produce(topic, {0: b"late-0", 1: b"late-1"}) <= FENCED
    assert read_confluent(broker.bootstrap_servers, topic, 2, "read_uncommitted") == {
        0: [b"open-0"],
        1: [b"open-1"],
    }


@needs_verification
@pytest.mark.parametrize("commit", [True, False], ids=["after-commit", "after-abort"])
def test_zombie_is_fenced_after_its_transaction_ended(broker: RunningBroker, commit: bool) -> None:
    topic = create_topic(broker.bootstrap_servers, 2, "zombie")
    zombie, _ = _zombie_and_successor(broker, topic, commit)
    assert zombie.try_produce(topic, {0: b"late-0"}) <= FENCED


@needs_verification
def test_successor_commit_never_includes_a_zombie_record(broker: RunningBroker) -> None:
    topic = create_topic(broker.bootstrap_servers, 2, "zombie")
    zombie, successor = _zombie_and_successor(broker, topic, commit=True)
    zombie.try_produce(topic, {0: b"zombie"})  # refused, or (the bug) accepted
    successor.add(topic, range(1))
    successor.produce(topic, {0: b"successor"})
    assert successor.end(commit=True) is ErrorCode.none
    assert read_confluent(broker.bootstrap_servers, topic, 2, "read_committed") == {
        0: [b"first-0", b"successor"],
        1: [b"first-1"],
    }
