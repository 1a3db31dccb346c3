"""The transaction APIs on the wire, every served version, against a real broker."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterator

import pytest
from kio.schema.errors import ErrorCode
from kio.static.primitive import i32Timedelta
from test_group_wire import Connection

from riverlog.broker.responses import request_schema
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

FIND_COORDINATOR, INIT_PRODUCER_ID, ADD_PARTITIONS, ADD_OFFSETS, END_TXN = 10, 22, 24, 25, 26
TXN_OFFSET_COMMIT = 28


@pytest.fixture
def conn(broker: RunningBroker) -> Iterator[Connection]:
    connection = Connection(broker)
    body = connection.call(FIND_COORDINATOR, 1, "FindCoordinatorRequest", key="x", key_type=1)
    assert (body.error_code, body.port) == (ErrorCode.none, broker.port)
    yield connection
    connection.close()


def init(conn: Connection, txn: str, version: int = 3) -> tuple[int, int]:
    body = conn.call(
        INIT_PRODUCER_ID,
        version,
        "InitProducerIdRequest",
        transactional_id=txn,
        transaction_timeout=i32Timedelta.parse(datetime.timedelta(seconds=60)),
    )
    assert body.error_code == ErrorCode.none
    return int(body.producer_id), int(body.producer_epoch)


def add(
    conn: Connection, version: int, txn: str, pid: int, epoch: int, topic: str
) -> list[ErrorCode]:
    topics = request_schema(ADD_PARTITIONS, version).AddPartitionsToTxnTopic(
        name=topic, partitions=(0, 1)
    )
    body = conn.call(
        ADD_PARTITIONS,
        version,
        "AddPartitionsToTxnRequest",
        v3_and_below_transactional_id=txn,
        v3_and_below_producer_id=pid,
        v3_and_below_producer_epoch=epoch,
        v3_and_below_topics=(topics,),
    )
    return [
        p.partition_error_code
        for t in body.results_by_topic_v3_and_below
        for p in t.results_by_partition
    ]


def end(conn: Connection, version: int, txn: str, pid: int, epoch: int, commit: bool) -> ErrorCode:
    body = conn.call(
        END_TXN,
        version,
        "EndTxnRequest",
        transactional_id=txn,
        producer_id=pid,
        producer_epoch=epoch,
        committed=commit,
    )
    return ErrorCode(body.error_code)


@pytest.mark.parametrize("version", range(6))
def test_init_producer_id_bumps_the_epoch(conn: Connection, version: int) -> None:
    txn = f"w-{uuid.uuid4().hex[:8]}"
    pid, epoch = init(conn, txn, version)
    assert init(conn, txn, version) == (pid, epoch + 1)


@pytest.mark.parametrize("version", range(4))
def test_add_partitions_and_end_txn(
    conn: Connection, make_topic: Callable[..., str], version: int
) -> None:
    topic, txn = make_topic(partitions=2), f"w-{uuid.uuid4().hex[:8]}"
    pid, epoch = init(conn, txn)
    assert add(conn, version, txn, pid, epoch, topic) == [ErrorCode.none] * 2
    assert end(conn, version, txn, pid, epoch, commit=True) == ErrorCode.none
    assert end(conn, version, txn, pid, epoch, commit=False) == ErrorCode.invalid_txn_state
    assert (
        add(conn, version, txn, pid + 1, epoch, topic)
        == [ErrorCode.invalid_producer_id_mapping] * 2
    )
    fenced = ErrorCode.producer_fenced if version >= 2 else ErrorCode.invalid_producer_epoch
    init(conn, txn)
    assert add(conn, version, txn, pid, epoch, topic) == [fenced] * 2
    assert end(conn, version, txn, pid, epoch, commit=True) == fenced


def test_unknown_partition_fails_the_whole_request(
    conn: Connection, make_topic: Callable[..., str]
) -> None:
    topic, txn = make_topic(partitions=1), f"w-{uuid.uuid4().hex[:8]}"
    pid, epoch = init(conn, txn)
    assert add(conn, 3, txn, pid, epoch, topic) == [
        ErrorCode.operation_not_attempted,
        ErrorCode.unknown_topic_or_partition,
    ]
    assert end(conn, 3, txn, pid, epoch, commit=False) == ErrorCode.invalid_txn_state


def test_empty_transactional_id_is_invalid(conn: Connection) -> None:
    body = conn.call(
        INIT_PRODUCER_ID,
        3,
        "InitProducerIdRequest",
        transactional_id="",
        transaction_timeout=i32Timedelta.parse(datetime.timedelta(seconds=60)),
    )
    assert (body.error_code, body.producer_id) == (ErrorCode.invalid_request, -1)


def test_invalid_timeout(conn: Connection) -> None:
    body = conn.call(
        INIT_PRODUCER_ID,
        3,
        "InitProducerIdRequest",
        transactional_id="w-too-long",
        transaction_timeout=i32Timedelta.parse(datetime.timedelta(minutes=16)),
    )
    assert body.error_code == ErrorCode.invalid_transaction_timeout


@pytest.mark.parametrize("version", range(4))
def test_add_offsets_to_txn(conn: Connection, version: int) -> None:
    txn = f"w-{uuid.uuid4().hex[:8]}"
    pid, epoch = init(conn, txn)
    body = conn.call(
        ADD_OFFSETS,
        version,
        "AddOffsetsToTxnRequest",
        transactional_id=txn,
        producer_id=pid,
        producer_epoch=epoch,
        group_id="g",
    )
    assert body.error_code == ErrorCode.none
    assert end(conn, 3, txn, pid, epoch, commit=False) == ErrorCode.none
    body = conn.call(
        ADD_OFFSETS,
        version,
        "AddOffsetsToTxnRequest",
        transactional_id=txn,
        producer_id=pid,
        producer_epoch=epoch - 1,
        group_id="g",
    )
    fenced = ErrorCode.producer_fenced if version >= 2 else ErrorCode.invalid_producer_epoch
    assert body.error_code == fenced
