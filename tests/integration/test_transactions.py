"""Transactions end to end with confluent-kafka: commit, abort, read_committed, zombie fencing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from riverlog.broker.coordinators.transactions import TxnRuntime
from riverlog.coordinator.txn import MarkerJob
from riverlog.storage import errors as storage_errors
from riverlog.testing.broker import RunningBroker

TIMEOUT_S = 10


@pytest.fixture
def producers_on() -> Iterator[Callable[[RunningBroker, str], Producer]]:
    """Transactional producers for the test, destroyed before the broker goes away."""
    made: list[Producer] = []

    def make(broker: RunningBroker, txn_id: str) -> Producer:
        config = {"bootstrap.servers": broker.bootstrap_servers, "transactional.id": txn_id}
        made.append(Producer({**config, "linger.ms": 0}))
        return made[-1]

    yield make
    for producer in made:
        producer.purge()
    made.clear()  # destroyed here (close() would try to abort a fenced producer's transaction)


@pytest.fixture
def producers(
    broker: RunningBroker, producers_on: Callable[[RunningBroker, str], Producer]
) -> Callable[[str], Producer]:
    return lambda txn_id: producers_on(broker, txn_id)


def _read_all(broker: RunningBroker, topic: str, partitions: int, isolation: str) -> set[bytes]:
    """Every value readable from the start of each partition (no consumer group)."""
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": "unused",  # required by librdkafka; assign() never joins the group
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "enable.partition.eof": True,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        values: set[bytes] = set()
        at_eof: set[int] = set()
        while len(at_eof) < partitions:
            msg = consumer.poll(TIMEOUT_S)
            assert msg is not None, f"timed out reading {topic} ({isolation})"
            error = msg.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                at_eof.add(msg.partition() or 0)
                continue
            value = msg.value()
            assert value is not None
            values.add(value)
        return values
    finally:
        consumer.close()


def _transaction(producer: Producer, topic: str, values: list[bytes], commit: bool) -> None:
    producer.begin_transaction()
    for i, value in enumerate(values):
        producer.produce(topic, value=value, partition=i % 2)
    producer.flush(TIMEOUT_S)
    if commit:
        producer.commit_transaction(TIMEOUT_S)
    else:
        producer.abort_transaction(TIMEOUT_S)


def test_read_committed_sees_exactly_the_committed_records(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    producers: Callable[[str], Producer],
) -> None:
    topic = make_topic(partitions=2)
    producer = producers(f"txn-{uuid.uuid4().hex[:8]}")
    producer.init_transactions(TIMEOUT_S)
    committed = [f"c1-{i}".encode() for i in range(6)]
    aborted = [f"a-{i}".encode() for i in range(6)]
    committed_too = [f"c2-{i}".encode() for i in range(4)]
    _transaction(producer, topic, committed, commit=True)
    _transaction(producer, topic, aborted, commit=False)
    _transaction(producer, topic, committed_too, commit=True)
    assert _read_all(broker, topic, 2, "read_committed") == set(committed + committed_too)
    everything = _read_all(broker, topic, 2, "read_uncommitted")
    assert everything == set(committed + aborted + committed_too)


def test_open_transaction_is_invisible_to_read_committed(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    producers: Callable[[str], Producer],
) -> None:
    topic = make_topic(partitions=2)
    producer = producers(f"txn-{uuid.uuid4().hex[:8]}")
    producer.init_transactions(TIMEOUT_S)
    _transaction(producer, topic, [b"done"], commit=True)
    producer.begin_transaction()
    producer.produce(topic, value=b"open", partition=0)
    producer.flush(TIMEOUT_S)
    assert _read_all(broker, topic, 2, "read_committed") == {b"done"}
    assert _read_all(broker, topic, 2, "read_uncommitted") == {b"done", b"open"}
    producer.commit_transaction(TIMEOUT_S)
    assert _read_all(broker, topic, 2, "read_committed") == {b"done", b"open"}


def test_fenced_zombie_cannot_write(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    producers: Callable[[str], Producer],
) -> None:
    topic = make_topic(partitions=2)
    txn_id = f"txn-{uuid.uuid4().hex[:8]}"
    zombie = producers(txn_id)
    zombie.init_transactions(TIMEOUT_S)
    zombie.begin_transaction()
    zombie.produce(topic, value=b"zombie", partition=0)
    zombie.flush(TIMEOUT_S)
    successor = producers(txn_id)
    successor.init_transactions(TIMEOUT_S)  # aborts the zombie's transaction, bumps the epoch
    _transaction(successor, topic, [b"successor"], commit=True)
    with pytest.raises(KafkaException) as raised:
        zombie.produce(topic, value=b"late", partition=1)
        zombie.flush(TIMEOUT_S)
        zombie.commit_transaction(TIMEOUT_S)
    error = raised.value.args[0]
    assert error.code() == KafkaError._FENCED
    assert error.fatal()
    assert _read_all(broker, topic, 2, "read_committed") == {b"successor"}


def _on_broker_loop(
    broker: RunningBroker, work: Callable[[TxnRuntime], Coroutine[Any, Any, None]]
) -> None:
    """Run `work` against the broker's transaction coordinator on the broker's own event loop."""
    node, loop = broker.node, broker._loop
    assert node is not None and node.services is not None and loop is not None
    runtime = node.services.transactions
    assert runtime is not None
    asyncio.run_coroutine_threadsafe(work(runtime), loop).result(timeout=TIMEOUT_S)


def test_expired_transaction_is_aborted_and_the_lso_moves_on(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    producers: Callable[[str], Producer],
) -> None:
    topic = make_topic(partitions=2)
    slow = Producer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "transactional.id": f"txn-{uuid.uuid4().hex[:8]}",
            "transaction.timeout.ms": 1000,
            "message.timeout.ms": 1000,
            "socket.timeout.ms": 1000,
        }
    )
    slow.init_transactions(TIMEOUT_S)
    slow.begin_transaction()
    slow.produce(topic, value=b"expired", partition=0)
    slow.flush(TIMEOUT_S)
    time.sleep(1.1)  # past the transaction timeout (broker uses the system clock)

    async def check_timeouts(runtime: TxnRuntime) -> None:
        await runtime.run_due()  # instead of waiting for the 10 s abort check

    _on_broker_loop(broker, check_timeouts)
    other = producers(f"txn-{uuid.uuid4().hex[:8]}")
    other.init_transactions(TIMEOUT_S)
    _transaction(other, topic, [b"after-0", b"after-1"], commit=True)
    assert _read_all(broker, topic, 2, "read_committed") == {b"after-0", b"after-1"}
    with pytest.raises(KafkaException):
        slow.commit_transaction(TIMEOUT_S)
    slow.purge()
    del slow


def test_commit_interrupted_before_markers_completes_after_restart(
    fresh_broker: RunningBroker, producers_on: Callable[[RunningBroker, str], Producer]
) -> None:
    admin = AdminClient({"bootstrap.servers": fresh_broker.bootstrap_servers})
    topic = f"t-{uuid.uuid4().hex[:10]}"
    admin.create_topics([NewTopic(topic, num_partitions=2)])[topic].result(timeout=TIMEOUT_S)
    producer = producers_on(fresh_broker, f"txn-{uuid.uuid4().hex[:8]}")
    producer.init_transactions(TIMEOUT_S)

    async def lose_markers(runtime: TxnRuntime) -> None:
        async def fail(index: int, job: MarkerJob) -> None:
            raise storage_errors.KafkaStorageError("disk gone (test)")

        runtime._write_markers = fail  # type: ignore[method-assign]

    _on_broker_loop(fresh_broker, lose_markers)
    _transaction(producer, topic, [b"v0", b"v1", b"v2"], commit=True)  # PrepareCommit written
    assert _read_all(fresh_broker, topic, 2, "read_committed") == set()
    fresh_broker.restart()  # replay finds PrepareCommit and writes the markers
    assert _read_all(fresh_broker, topic, 2, "read_committed") == {b"v0", b"v1", b"v2"}


def test_send_offsets_to_transaction_commits_only_with_the_transaction(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    producers: Callable[[str], Producer],
) -> None:
    source, sink = make_topic(partitions=1), make_topic(partitions=2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
        }
    )
    try:
        producer = producers(f"txn-{uuid.uuid4().hex[:8]}")
        producer.init_transactions(TIMEOUT_S)
        metadata = consumer.consumer_group_metadata()

        def transform(offset: int, commit: bool) -> None:
            producer.begin_transaction()
            producer.produce(sink, value=f"out-{offset}".encode(), partition=0)
            offsets = [TopicPartition(source, 0, offset)]
            producer.send_offsets_to_transaction(offsets, metadata, TIMEOUT_S)
            if commit:
                producer.commit_transaction(TIMEOUT_S)
            else:
                producer.abort_transaction(TIMEOUT_S)

        def committed() -> int:
            found = consumer.committed([TopicPartition(source, 0)], TIMEOUT_S)
            return int(found[0].offset)

        transform(5, commit=True)
        assert committed() == 5
        transform(9, commit=False)
        assert committed() == 5
        transform(12, commit=True)
        assert committed() == 12
        assert _read_all(broker, sink, 2, "read_committed") == {b"out-5", b"out-12"}
    finally:
        consumer.close()
