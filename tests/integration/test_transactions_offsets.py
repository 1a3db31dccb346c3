"""Offsets committed in a transaction (send_offsets_to_transaction) are durable records of
`__consumer_offsets`: visible on commit, gone on abort, and the same after a broker restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.broker.coordinators.transactions import TxnRuntime
from riverlog.coordinator.txn import MarkerJob
from riverlog.storage import errors as storage_errors
from riverlog.testing.broker import RunningBroker

TIMEOUT_S = 10


class Pipeline:
    """A consume-transform-produce loop's commit step against one broker."""

    def __init__(self, broker: RunningBroker) -> None:
        self.broker = broker
        self.group = f"g-{uuid.uuid4().hex[:8]}"
        self.source, self.sink = f"src-{uuid.uuid4().hex[:8]}", f"out-{uuid.uuid4().hex[:8]}"
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        for name in (self.source, self.sink):
            admin.create_topics([NewTopic(name, num_partitions=1)])[name].result(TIMEOUT_S)
        self.transactional_id = f"txn-{uuid.uuid4().hex[:8]}"
        self.producer, self.consumer = self._clients()

    def _clients(self) -> tuple[Producer, Consumer]:
        producer = Producer(
            {
                "bootstrap.servers": self.broker.bootstrap_servers,
                "transactional.id": self.transactional_id,
                "linger.ms": 0,
            }
        )
        producer.init_transactions(TIMEOUT_S)
        return producer, self._consumer()

    def reconnect(self) -> None:
        """The application restarts too (same transactional id, same group)."""
        self.close()
        self.producer, self.consumer = self._clients()

    def _consumer(self, isolation: str = "read_committed") -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.broker.bootstrap_servers,
                "group.id": self.group,
                "enable.auto.commit": False,
                "isolation.level": isolation,  # read_committed sends require_stable (KIP-447)
            }
        )

    def transform(self, offset: int, commit: bool) -> None:
        self.producer.begin_transaction()
        self.producer.produce(self.sink, value=f"out-{offset}".encode(), partition=0)
        offsets = [TopicPartition(self.source, 0, offset)]
        metadata = self.consumer.consumer_group_metadata()
        self.producer.send_offsets_to_transaction(offsets, metadata, TIMEOUT_S)
        if commit:
            self.producer.commit_transaction(TIMEOUT_S)
        else:
            self.producer.abort_transaction(TIMEOUT_S)

    def committed(self, isolation: str = "read_committed", timeout: float = TIMEOUT_S) -> int:
        consumer = self._consumer(isolation)  # a fresh connection: nothing cached across a restart
        try:
            found = consumer.committed([TopicPartition(self.source, 0)], timeout)
            return int(found[0].offset)
        finally:
            consumer.close()

    def close(self) -> None:
        self.consumer.close()
        self.producer.purge()


# One partition per internal topic: creating 50 of each dominates a test on a busy machine.
SMALL = {"offsets.topic.num.partitions": "1", "transaction.state.log.num.partitions": "1"}


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[RunningBroker]:
    with RunningBroker(tmp_path / "data", **SMALL) as running:
        yield running


@pytest.fixture
def pipeline(fresh_broker: RunningBroker) -> Iterator[Pipeline]:
    made = Pipeline(fresh_broker)
    yield made
    made.close()


def _on_broker_loop(
    broker: RunningBroker, work: Callable[[TxnRuntime], Coroutine[Any, Any, None]]
) -> None:
    node, loop = broker.node, broker._loop
    assert node is not None and node.services is not None and loop is not None
    runtime = node.services.transactions
    assert runtime is not None
    asyncio.run_coroutine_threadsafe(work(runtime), loop).result(timeout=TIMEOUT_S)


def test_transactional_offsets_survive_a_restart(
    fresh_broker: RunningBroker, pipeline: Pipeline
) -> None:
    pipeline.transform(5, commit=True)
    pipeline.transform(9, commit=False)
    assert pipeline.committed() == 5
    fresh_broker.restart()
    assert pipeline.committed() == 5  # the aborted 9 stays gone after replay
    pipeline.reconnect()
    pipeline.transform(12, commit=True)
    assert pipeline.committed() == 12
    fresh_broker.restart()
    assert pipeline.committed() == 12


def test_offsets_of_a_commit_cut_short_land_after_restart(
    fresh_broker: RunningBroker, pipeline: Pipeline
) -> None:
    pipeline.transform(3, commit=True)

    async def lose_markers(runtime: TxnRuntime) -> None:
        async def fail(index: int, job: MarkerJob) -> None:
            raise storage_errors.KafkaStorageError("disk gone (test)")

        runtime._write_markers = fail  # type: ignore[method-assign]

    _on_broker_loop(fresh_broker, lose_markers)
    pipeline.transform(8, commit=True)  # PrepareCommit written, no marker yet
    # Still pending in __consumer_offsets: read_uncommitted sees the last stable commit, while
    # read_committed (require_stable) gets UNSTABLE_OFFSET_COMMIT and retries until it gives up.
    assert pipeline.committed("read_uncommitted") == 3
    with pytest.raises(KafkaException):
        pipeline.committed("read_committed", timeout=1.0)
    fresh_broker.restart()  # replay: offsets pending; the coordinator then writes the markers
    assert _eventually(pipeline.committed, 8)


def _eventually(read: Callable[[], int], expected: int) -> bool:
    """The coordinator finishes Prepare* transactions right after start, in the background."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if read() == expected:
            return True
        time.sleep(0.05)
    return False
