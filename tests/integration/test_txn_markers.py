"""WriteTxnMarkers and AddPartitionsToTxn v4+ (KIP-890 verify_only) on the wire, raw requests."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Iterator

import pytest
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i16, i32, i32Timedelta, i64
from test_group_wire import Connection
from test_txn_wire import add, init

from riverlog.broker.handlers._txn import verify_transactional_produce
from riverlog.broker.responses import request_schema
from riverlog.protocol.records import build_batch
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

PRODUCE, LIST_OFFSETS, FIND_COORDINATOR, ADD_PARTITIONS, WRITE_MARKERS = 0, 2, 10, 24, 27
SMALL = {"offsets.topic.num.partitions": "1", "transaction.state.log.num.partitions": "1"}
LATEST = -1


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with RunningBroker(tmp_path_factory.mktemp("markers"), **SMALL) as running:
        yield running


@pytest.fixture
def conn(broker: RunningBroker) -> Iterator[Connection]:
    connection = Connection(broker)
    body = connection.call(FIND_COORDINATOR, 1, "FindCoordinatorRequest", key="x", key_type=1)
    assert body.error_code == ErrorCode.none
    yield connection
    connection.close()


@pytest.fixture
def topic(conn: Connection) -> str:
    name = f"m-{uuid.uuid4().hex[:8]}"
    schema = request_schema(19, 5)
    body = conn.call(
        19,
        5,
        "CreateTopicsRequest",
        topics=(
            schema.CreatableTopic(
                name=name, num_partitions=2, replication_factor=1, assignments=(), configs=()
            ),
        ),
        timeout=i32Timedelta.parse(datetime.timedelta(seconds=10)),
        validate_only=False,
    )
    assert body.topics[0].error_code == ErrorCode.none
    return name


def produce(
    conn: Connection, txn: str, pid: int, epoch: int, topic: str, seq: int = 0
) -> ErrorCode:
    batch = build_batch(
        [(None, b"v", (), 0)],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        transactional=True,
    )
    schema = request_schema(PRODUCE, 9)
    data = schema.TopicProduceData(
        name=topic, partition_data=(schema.PartitionProduceData(index=i32(0), records=batch),)
    )
    body = conn.call(
        PRODUCE,
        9,
        "ProduceRequest",
        transactional_id=txn,
        acks=i16(-1),
        timeout=i32Timedelta.parse(datetime.timedelta(seconds=10)),
        topic_data=(data,),
    )
    return ErrorCode(body.responses[0].partition_responses[0].error_code)


def latest(conn: Connection, topic: str, committed: bool) -> int:
    schema = request_schema(LIST_OFFSETS, 5)
    part = schema.ListOffsetsPartition(partition_index=i32(0), timestamp=i64(LATEST))
    body = conn.call(
        LIST_OFFSETS,
        5,
        "ListOffsetsRequest",
        replica_id=i32(-1),
        isolation_level=i8(1 if committed else 0),
        topics=(schema.ListOffsetsTopic(name=topic, partitions=(part,)),),
    )
    return int(body.topics[0].partitions[0].offset)


def write_marker(
    conn: Connection,
    version: int,
    pid: int,
    epoch: int,
    commit: bool,
    partitions: dict[str, tuple[int, ...]],
    coordinator_epoch: int = 0,
) -> dict[tuple[str, int], ErrorCode]:
    schema = request_schema(WRITE_MARKERS, version)
    marker = schema.WritableTxnMarker(
        producer_id=i64(pid),
        producer_epoch=i16(epoch),
        transaction_result=commit,
        topics=tuple(
            schema.WritableTxnMarkerTopic(name=name, partition_indexes=tuple(map(i32, parts)))
            for name, parts in partitions.items()
        ),
        coordinator_epoch=i32(coordinator_epoch),
    )
    body = conn.call(WRITE_MARKERS, version, "WriteTxnMarkersRequest", markers=(marker,))
    assert [int(m.producer_id) for m in body.markers] == [pid]
    return {
        (t.name, int(p.partition_index)): ErrorCode(p.error_code)
        for t in body.markers[0].topics
        for p in t.partitions
    }


@pytest.mark.parametrize("version", [1, 2])
def test_write_txn_markers_ends_a_hanging_transaction(
    conn: Connection, topic: str, version: int
) -> None:
    txn = f"h-{uuid.uuid4().hex[:8]}"
    pid, epoch = init(conn, txn)
    assert add(conn, 3, txn, pid, epoch, topic) == [ErrorCode.none] * 2
    assert produce(conn, txn, pid, epoch, topic) == ErrorCode.none
    assert (latest(conn, topic, committed=False), latest(conn, topic, committed=True)) == (1, 0)
    answers = write_marker(conn, version, pid, epoch, False, {topic: (0,), "no-such-topic": (0,)})
    assert answers == {
        (topic, 0): ErrorCode.none,
        ("no-such-topic", 0): ErrorCode.unknown_topic_or_partition,
    }
    # The LSO moves past the aborted batch and its marker.
    assert latest(conn, topic, committed=True) == latest(conn, topic, committed=False) == 2


def test_stale_markers_are_refused(conn: Connection, topic: str) -> None:
    txn = f"h-{uuid.uuid4().hex[:8]}"
    pid, epoch = init(conn, txn)
    add(conn, 3, txn, pid, epoch, topic)
    assert produce(conn, txn, pid, epoch, topic) == ErrorCode.none
    assert write_marker(conn, 1, pid, epoch, True, {topic: (0,)}, coordinator_epoch=7) == {
        (topic, 0): ErrorCode.none
    }
    stale_coordinator = write_marker(conn, 1, pid, epoch, False, {topic: (0,)}, coordinator_epoch=3)
    assert stale_coordinator == {(topic, 0): ErrorCode.transaction_coordinator_fenced}
    stale_producer = write_marker(conn, 1, pid, epoch - 1, False, {topic: (0,)}, 7)
    assert stale_producer == {(topic, 0): ErrorCode.invalid_producer_epoch}


def batched_add(
    conn: Connection,
    version: int,
    txn: str,
    pid: int,
    epoch: int,
    partitions: dict[str, tuple[int, ...]],
    verify_only: bool,
) -> dict[tuple[str, int], ErrorCode]:
    schema = request_schema(ADD_PARTITIONS, version)
    transaction = schema.AddPartitionsToTxnTransaction(
        transactional_id=txn,
        producer_id=i64(pid),
        producer_epoch=i16(epoch),
        verify_only=verify_only,
        topics=tuple(
            schema.AddPartitionsToTxnTopic(name=name, partitions=tuple(map(i32, parts)))
            for name, parts in partitions.items()
        ),
    )
    body = conn.call(
        ADD_PARTITIONS, version, "AddPartitionsToTxnRequest", transactions=(transaction,)
    )
    assert body.error_code == ErrorCode.none
    (result,) = body.results_by_transaction
    assert result.transactional_id == txn
    return {
        (t.name, int(p.partition_index)): ErrorCode(p.partition_error_code)
        for t in result.topic_results
        for p in t.results_by_partition
    }


@pytest.mark.parametrize("version", [4, 5])
def test_batched_add_and_verify_only(conn: Connection, topic: str, version: int) -> None:
    txn = f"v-{uuid.uuid4().hex[:8]}"
    pid, epoch = init(conn, txn)
    both: dict[str, tuple[int, ...]] = {topic: (0, 1)}
    assert batched_add(conn, version, txn, pid, epoch, both, verify_only=True) == {
        (topic, 0): ErrorCode.invalid_txn_state,
        (topic, 1): ErrorCode.invalid_txn_state,
    }
    assert batched_add(conn, version, txn, pid, epoch, {topic: (0,)}, verify_only=False) == {
        (topic, 0): ErrorCode.none
    }
    assert batched_add(conn, version, txn, pid, epoch, both, verify_only=True) == {
        (topic, 0): ErrorCode.none,
        (topic, 1): ErrorCode.invalid_txn_state,  # verify_only never adds
    }
    assert batched_add(conn, version, txn, pid, epoch - 1, both, verify_only=True) == {
        (topic, 0): ErrorCode.producer_fenced,
        (topic, 1): ErrorCode.producer_fenced,
    }
    assert batched_add(conn, version, txn, pid, epoch, {"gone": (0,)}, verify_only=True) == {
        ("gone", 0): ErrorCode.unknown_topic_or_partition
    }


def test_kip890_verification_of_a_transactional_produce(
    broker: RunningBroker, conn: Connection, topic: str
) -> None:
    """The check Produce makes before appending a transactional batch (KIP-890 part 1)."""
    txn = f"k-{uuid.uuid4().hex[:8]}"
    pid, epoch = init(conn, txn)
    batch = build_batch(
        [(None, b"v", (), 0)],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=0,
        transactional=True,
    )

    def verify(transactional_id: str | None, records: bytes) -> ErrorCode:
        node, loop = broker.node, broker._loop
        assert node is not None and node.services is not None and loop is not None
        services = node.services
        part = services.replicas.get(topic, 0)
        assert part is not None

        async def run() -> ErrorCode:
            return await verify_transactional_produce(services, transactional_id, part, records)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=10)

    assert verify(txn, batch) == ErrorCode.invalid_txn_state  # partition never added
    assert verify(None, build_batch([(None, b"plain", (), 0)])) == ErrorCode.none
    assert add(conn, 3, txn, pid, epoch, topic) == [ErrorCode.none] * 2
    assert verify(txn, batch) == ErrorCode.none
    init(conn, txn)  # a new producer fences this one
    assert verify(txn, batch) == ErrorCode.invalid_producer_epoch
