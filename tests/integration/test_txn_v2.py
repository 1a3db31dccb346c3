"""Transactions V2 (KIP-890 part 2) against a real broker, read back by real clients.

The writer is `riverlog.testing.txn_v2.TxnV2Producer`, which sends what Kafka's Java client 4.0 sends
once ApiVersions finalizes `transaction.version` 2 (no installed client speaks V2): Produce v12 with no
AddPartitionsToTxn, TxnOffsetCommit v5 with no AddOffsetsToTxn, EndTxn v5. The readers are
confluent-kafka and aiokafka consumers, read_committed and read_uncommitted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as ConfluentTopicPartition
from kio.schema.errors import ErrorCode
from test_txn_aiokafka import SMALL, create_topic, last_stable_offset, read_aiokafka, read_confluent

from riverlog.testing import wire
from riverlog.testing.broker import RunningBroker
from riverlog.testing.txn_v2 import TxnV2Producer, call

pytestmark = pytest.mark.integration
API_VERSIONS = 18


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with RunningBroker(tmp_path_factory.mktemp("txn-v2"), **SMALL) as running:
        yield running


def producer(broker: RunningBroker) -> TxnV2Producer:
    made = TxnV2Producer(("127.0.0.1", broker.port), f"v2-{uuid.uuid4().hex[:8]}")
    assert made.init() is ErrorCode.none
    return made


def test_api_versions_finalizes_transaction_version_2(broker: RunningBroker) -> None:
    body = call(
        ("127.0.0.1", broker.port),
        API_VERSIONS,
        3,
        "ApiVersionsRequest",
        client_software_name="t",
        client_software_version="1",
    )
    supported = {(f.name, f.min_version, f.max_version) for f in body.supported_features}
    finalized = {
        (f.name, f.min_version_level, f.max_version_level) for f in body.finalized_features
    }
    assert ("transaction.version", 0, 2) in supported
    assert ("transaction.version", 2, 2) in finalized
    assert body.finalized_features_epoch >= 0
    ranges = {k.api_key: k.max_version for k in body.api_keys}
    assert (
        ranges[26] == 5 and ranges[0] >= 12 and ranges[28] == 5
    )  # EndTxn, Produce, TxnOffsetCommit


def test_commits_and_aborts_with_an_epoch_bump_each(broker: RunningBroker) -> None:
    bootstrap = broker.bootstrap_servers
    topic = create_topic(bootstrap, 3, "v2")
    txn = producer(broker)
    expected: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    everything: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    for round_ in range(6):
        epoch = txn.producer_epoch
        for partition in range(3):
            values = [f"{round_}-{partition}-{i}".encode() for i in range(3)]
            assert txn.send(topic, partition, values) is ErrorCode.none  # no AddPartitionsToTxn
            everything[partition] += values
            if round_ % 3 != 1:
                expected[partition] += values
        if round_ == 4:  # the LSO holds at the open transaction's first offset
            assert last_stable_offset(broker.port, topic, 0) < last_stable_offset(
                broker.port, topic, 0, committed=False
            )
        code, pid, new_epoch = txn.end(commit=round_ % 3 != 1)
        assert code is ErrorCode.none
        assert (pid, new_epoch) == (txn.producer_id, epoch + 1)  # every EndTxn bumps the epoch
    committed = read_confluent(bootstrap, topic, 3, "read_committed")
    assert committed == expected
    assert asyncio.run(read_aiokafka(bootstrap, topic, 3, "read_committed")) == expected
    uncommitted = read_confluent(bootstrap, topic, 3, "read_uncommitted")
    assert uncommitted == everything


def test_the_old_epoch_is_fenced_after_a_commit(broker: RunningBroker) -> None:
    """What V2 is for: after a *commit* the markers carry the bumped epoch, so a late write of the
    finished transaction (same producer id, old epoch) is refused on every partition it touched."""
    topic = create_topic(broker.bootstrap_servers, 1, "v2z")
    txn = producer(broker)
    assert txn.send(topic, 0, [b"committed"]) is ErrorCode.none
    late = txn.batch(topic, 0, [b"zombie"])  # built with the transaction's epoch
    assert txn.end(commit=True)[0] is ErrorCode.none
    assert txn.send_batch(topic, 0, late) is ErrorCode.invalid_producer_epoch
    assert read_confluent(broker.bootstrap_servers, topic, 1, "read_uncommitted") == {
        0: [b"committed"]
    }


def test_a_retried_end_txn_gets_the_same_answer(broker: RunningBroker) -> None:
    topic = create_topic(broker.bootstrap_servers, 1, "v2r")
    txn = producer(broker)
    old = txn.producer_epoch
    assert txn.send(topic, 0, [b"a"]) is ErrorCode.none
    first = txn.end(commit=True)
    assert first == (ErrorCode.none, txn.producer_id, old + 1)
    assert txn.end(commit=True, epoch=old) == first  # the answer was lost: same outcome again
    assert txn.end(commit=False, epoch=old)[0] is ErrorCode.invalid_txn_state
    assert txn.end(commit=True, epoch=old - 1)[0] is ErrorCode.producer_fenced
    # The next transaction goes on at the bumped epoch.
    assert txn.send(topic, 0, [b"b"]) is ErrorCode.none
    assert txn.end(commit=True)[0:2] == (ErrorCode.none, txn.producer_id)
    assert txn.producer_epoch == old + 2
    assert read_confluent(broker.bootstrap_servers, topic, 1, "read_committed") == {0: [b"a", b"b"]}


def test_produce_before_v12_still_needs_add_partitions(broker: RunningBroker) -> None:
    """KIP-890 part 1 for V1 clients: without AddPartitionsToTxn the partition is refused."""
    topic = create_topic(broker.bootstrap_servers, 1, "v2p")
    txn = producer(broker)
    assert txn.send(topic, 0, [b"x"], version=11) is ErrorCode.invalid_txn_state
    assert txn.send(topic, 0, [b"x"], version=12) is ErrorCode.none
    assert txn.end(commit=False)[0] is ErrorCode.none
    assert read_confluent(broker.bootstrap_servers, topic, 1, "read_committed") == {0: []}


def test_an_empty_transaction_can_end(broker: RunningBroker) -> None:
    """A V2 client may end a transaction whose every write failed: the coordinator never saw it
    start, and it ends empty with its epoch bump."""
    txn = producer(broker)
    epoch = txn.producer_epoch
    assert txn.end(commit=False) == (ErrorCode.none, txn.producer_id, epoch + 1)


def test_txn_offset_commit_v5_adds_the_offsets_partition(broker: RunningBroker) -> None:
    bootstrap = broker.bootstrap_servers
    topic = create_topic(bootstrap, 1, "v2o")
    group = f"g-{uuid.uuid4().hex[:8]}"
    txn = producer(broker)
    assert txn.send(topic, 0, [b"out"]) is ErrorCode.none
    assert txn.commit_offsets(group, {(topic, 0): 7}) is ErrorCode.none  # no AddOffsetsToTxn
    # Pending until the marker: not committed yet (read_committed, which sends require_stable,
    # would get UNSTABLE_OFFSET_COMMIT and retry until the transaction ends).
    assert committed_offset(bootstrap, group, topic, "read_uncommitted") is None
    assert txn.end(commit=True)[0] is ErrorCode.none
    assert committed_offset(bootstrap, group, topic) == 7
    assert txn.commit_offsets(group, {(topic, 0): 9}) is ErrorCode.none
    assert txn.end(commit=False)[0] is ErrorCode.none
    assert committed_offset(bootstrap, group, topic) == 7  # the aborted commit vanished


def committed_offset(
    bootstrap: str, group: str, topic: str, isolation: str = "read_committed"
) -> int | None:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "isolation.level": isolation}
    )
    try:
        (found,) = consumer.committed([ConfluentTopicPartition(topic, 0)], timeout=10)
        return None if found.offset < 0 else int(found.offset)
    finally:
        consumer.close()


def test_transaction_version_1_keeps_the_v1_behaviour(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """With the feature finalized at 1, ApiVersions lists it at 1 (Java clients then stay on V1)."""
    with RunningBroker(
        tmp_path_factory.mktemp("txn-v1"), **{"riverlog.transaction.version": "1"}
    ) as b:
        body = wire.call(b.port, _api_versions_request())
        assert {(f.name, f.max_version_level) for f in body.finalized_features} == {
            ("transaction.version", 1)
        }


def _api_versions_request() -> object:
    from riverlog.broker.responses import request_schema

    return request_schema(API_VERSIONS, 3).ApiVersionsRequest(
        client_software_name="t", client_software_version="1"
    )
