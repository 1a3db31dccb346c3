# mypy: disable-error-code="arg-type"
"""Transaction tooling: DescribeProducers, ListTransactions, DescribeTransactions on the wire, and
`riverlog transactions list|describe|abort` against a hanging transaction."""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from kio.schema.describe_producers.v0 import request as describe_producers
from kio.schema.describe_transactions.v0 import request as describe_transactions
from kio.schema.errors import ErrorCode
from kio.schema.list_transactions.v1 import request as list_v1
from kio.schema.list_transactions.v2 import request as list_v2
from typer.testing import CliRunner

from riverlog.cli.main import app
from riverlog.testing.broker import RunningBroker
from riverlog.testing.wire import call

TIMEOUT_S = 10
# kio request classes are typed with its own NewTypes; plain ints and strs are what it encodes.

SMALL = {"offsets.topic.num.partitions": "1", "transaction.state.log.num.partitions": "1"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with RunningBroker(tmp_path_factory.mktemp("tools"), **SMALL) as running:
        yield running


@pytest.fixture
def hanging(broker: RunningBroker) -> Iterator[tuple[str, str, Producer]]:
    """A transaction left open on partition 0 of a new topic: (transactional id, topic, producer)."""
    txn_id, topic = f"hang-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap_servers, "transactional.id": txn_id, "linger.ms": 0}
    )
    producer.init_transactions(TIMEOUT_S)
    producer.begin_transaction()
    producer.produce(topic, value=b"stuck", partition=0)  # auto-creates the topic
    producer.flush(TIMEOUT_S)
    yield txn_id, topic, producer
    producer.purge()


def test_wire_describe_list_and_producers(
    broker: RunningBroker, hanging: tuple[str, str, Producer]
) -> None:
    txn_id, topic, _ = hanging
    listed = call(broker.port, list_v1.ListTransactionsRequest(state_filters=("Ongoing", "Bogus")))
    assert listed.error_code == ErrorCode.none
    assert listed.unknown_state_filters == ("Bogus",)
    ongoing = {s.transactional_id: s for s in listed.transaction_states}
    assert ongoing[txn_id].transaction_state == "Ongoing"
    pid = ongoing[txn_id].producer_id
    by_pattern = call(
        broker.port, list_v2.ListTransactionsRequest(transactional_id_pattern=f"^{txn_id}$")
    )
    assert [s.transactional_id for s in by_pattern.transaction_states] == [txn_id]
    empty = call(broker.port, list_v1.ListTransactionsRequest(producer_id_filters=(pid + 1000,)))
    assert txn_id not in {s.transactional_id for s in empty.transaction_states}

    described = call(
        broker.port,
        describe_transactions.DescribeTransactionsRequest(transactional_ids=(txn_id, "nobody")),
    )
    found, missing = described.transaction_states
    assert (found.error_code, found.transaction_state, found.producer_id) == (
        ErrorCode.none,
        "Ongoing",
        pid,
    )
    assert [(t.topic, t.partitions) for t in found.topics] == [(topic, (0,))]
    assert found.transaction_timeout == datetime.timedelta(minutes=1)
    assert found.transaction_start_time.timestamp() > 0
    assert missing.error_code == ErrorCode.transactional_id_not_found

    producers = call(
        broker.port,
        describe_producers.DescribeProducersRequest(
            topics=(describe_producers.TopicRequest(name=topic, partition_indexes=(0, 9)),)
        ),
    )
    ours, unknown = producers.topics[0].partitions
    assert unknown.error_code == ErrorCode.unknown_topic_or_partition
    (state,) = ours.active_producers
    assert (state.producer_id, state.current_txn_start_offset, state.last_sequence) == (pid, 0, 0)


def run(broker: RunningBroker, *args: str) -> str:
    result = CliRunner().invoke(app, ["transactions", *args, "-b", broker.bootstrap_servers])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_lists_describes_and_aborts_a_hanging_transaction(
    broker: RunningBroker, hanging: tuple[str, str, Producer]
) -> None:
    txn_id, topic, _ = hanging
    assert txn_id in run(broker, "list")
    described = run(broker, "describe", "--transactional-id", txn_id)
    assert "Ongoing" in described and f"{topic}-0" in described
    listed = json.loads(run(broker, "list", "--output", "json"))
    assert {"transactional_id": txn_id, "transaction_state": "Ongoing"}.items() <= next(
        row for row in listed if row["transactional_id"] == txn_id
    ).items()
    as_json = json.loads(run(broker, "describe", "--transactional-id", txn_id, "--output", "json"))
    assert as_json["transaction_state"] == "Ongoing"
    assert as_json["topic_partitions"] == [f"{topic}-0"]
    assert str(as_json["producer_id"]) in described
    out = run(broker, "abort", "--topic", topic, "--partition", "0", "--start-offset", "0")
    assert "aborted the transaction" in out
    after = call(
        broker.port,
        describe_producers.DescribeProducersRequest(
            topics=(describe_producers.TopicRequest(name=topic, partition_indexes=(0,)),)
        ),
    )
    (state,) = after.topics[0].partitions[0].active_producers
    assert state.current_txn_start_offset == -1  # no open transaction: the LSO moves on
    again = CliRunner().invoke(
        app,
        ["transactions", "abort", "--topic", topic, "--partition", "0", "--start-offset", "0",
         "-b", broker.bootstrap_servers],
    )  # fmt: skip
    assert again.exit_code != 0
