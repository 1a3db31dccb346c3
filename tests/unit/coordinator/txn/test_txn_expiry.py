"""Transaction coordinator shard: id expiration, KIP-890 verification, aborts after a timeout."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.coordinator.txn import TransactionCoordinatorShard, TxnResult, TxnState

MAX_TIMEOUT = 900_000
DAY = 24 * 3600 * 1000


class Coordinator:
    """A shard whose results are replayed at once, as the runtime does after the append."""

    def __init__(self) -> None:
        self.shard = TransactionCoordinatorShard(MAX_TIMEOUT)
        self.ids = iter(range(1000, 2000))

    def apply(self, result: TxnResult) -> TxnResult:
        for record in result.records:
            self.shard.replay(record)
        return result

    def init(self, txn: str, now: int, timeout: int = 60_000) -> tuple[int, int]:
        result = self.apply(
            self.shard.init_producer_id(txn, timeout, (-1, -1), now, lambda: next(self.ids))
        )
        assert result.error is ErrorCode.none and result.metadata is not None
        return result.metadata.producer_id, result.metadata.producer_epoch

    def complete(self, txn: str, now: int) -> None:
        self.apply(self.shard.complete(txn, now))


def test_idle_ids_expire_with_a_tombstone() -> None:
    c = Coordinator()
    pid, epoch = c.init("idle", 0)
    c.init("busy", 0)
    busy_pid, busy_epoch = c.init("busy", 0)
    c.apply(c.shard.add_partitions("busy", busy_pid, busy_epoch, [("t", 0)], DAY))
    assert c.shard.expired_ids(DAY - 1, DAY) == []
    assert c.shard.expired_ids(2 * DAY, DAY) == ["idle"]  # busy has a transaction open
    result = c.apply(c.shard.expire_id("idle", 2 * DAY, DAY))
    assert [(r.transactional_id, r.value) for r in result.records] == [("idle", None)]
    assert "idle" not in c.shard.transactions
    assert c.shard.expire_id("busy", 2 * DAY, DAY).records == []
    assert c.init("idle", now=2 * DAY) != (pid, epoch + 1)  # a new producer id: a fresh start


def test_verify_only_reads_the_ongoing_transaction() -> None:
    c = Coordinator()
    pid, epoch = c.init("v", 0)
    wanted = [("t", 0), ("t", 1)]
    assert c.shard.verify_partitions("v", pid, epoch, wanted) == {
        ("t", 0): ErrorCode.invalid_txn_state,
        ("t", 1): ErrorCode.invalid_txn_state,
    }
    c.apply(c.shard.add_partitions("v", pid, epoch, [("t", 0)], 1))
    assert c.shard.verify_partitions("v", pid, epoch, wanted) == {
        ("t", 0): ErrorCode.none,
        ("t", 1): ErrorCode.invalid_txn_state,
    }
    assert set(c.shard.verify_partitions("v", pid, epoch + 1, wanted).values()) == {
        ErrorCode.producer_fenced
    }
    ending = c.apply(c.shard.end_txn("v", pid, epoch, True, 2))
    assert ending.markers is not None
    assert set(c.shard.verify_partitions("v", pid, epoch, wanted).values()) == {
        ErrorCode.concurrent_transactions
    }


def test_an_abort_after_the_timeout_is_retried_until_its_markers_are_written() -> None:
    c = Coordinator()
    pid, epoch = c.init("slow", now=0, timeout=1_000)
    c.apply(c.shard.add_partitions("slow", pid, epoch, [("t", 0)], 0))
    assert c.shard.expired(1_001) == ["slow"]
    aborting = c.apply(c.shard.abort_expired("slow", 1_001))
    assert aborting.markers is not None and not aborting.markers.commit
    assert aborting.markers.producer_epoch == epoch + 1  # the producer is fenced
    # The markers failed: the job stays pending, the next timer run retries it.
    assert c.shard.pending_markers() == [aborting.markers]
    assert c.shard.abort_expired("slow", 5_000).records == []  # no second abort
    # The client's own abort, retried with its old epoch, is fenced (Kafka, transactions V1).
    assert c.shard.end_txn("slow", pid, epoch, False, 5_000).error is ErrorCode.producer_fenced
    c.complete("slow", 6_000)
    assert c.shard.pending_markers() == []
    assert c.shard.transactions["slow"].state is TxnState.COMPLETE_ABORT
    assert c.shard.end_txn("slow", pid, epoch + 1, False, 7_000).error is ErrorCode.none
