"""`riverlog transactions ...`: list, describe and abort transactions (like kafka-transactions.sh).

confluent-kafka has no admin calls for transactions, so these commands send Kafka's own requests over
a plain socket: ListTransactions to every broker, FindCoordinator + DescribeTransactions for one id,
and, for `abort`, DescribeProducers on the partition to find the producer whose open transaction
starts at `--start-offset`, then WriteTxnMarkers (ABORT) to the partition's leader with that
producer's id, epoch and coordinator epoch — exactly how kafka-transactions.sh aborts a hanging
transaction. They work against any Kafka broker that serves these APIs.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer

from riverlog.cli.client import DEFAULT_BOOTSTRAP, BootstrapOption
from riverlog.cli.errors import CliError
from riverlog.cli.output import (
    OutputFormat,
    OutputOption,
    print_json,
    stdout_console,
    styled_table,
)
from riverlog.cli.raw import bootstrap_address as _bootstrap
from riverlog.cli.raw import call

app = typer.Typer(help="List, describe and abort transactions.", no_args_is_help=True)

METADATA, FIND_COORDINATOR, WRITE_TXN_MARKERS = 3, 10, 27
DESCRIBE_PRODUCERS, DESCRIBE_TRANSACTIONS, LIST_TRANSACTIONS = 61, 65, 66
NONE = 0  # Kafka's error code for success


def _schema(api_key: int, version: int) -> Any:
    """kio's request classes for one API version."""
    names = {
        METADATA: "metadata",
        FIND_COORDINATOR: "find_coordinator",
        WRITE_TXN_MARKERS: "write_txn_markers",
        DESCRIBE_PRODUCERS: "describe_producers",
        DESCRIBE_TRANSACTIONS: "describe_transactions",
        LIST_TRANSACTIONS: "list_transactions",
    }
    return importlib.import_module(f"kio.schema.{names[api_key]}.v{version}.request")


def _metadata(servers: str, topics: list[str] | None = None) -> Any:
    schema = _schema(METADATA, 12)
    wanted = (
        None
        if topics is None
        else tuple(schema.MetadataRequestTopic(topic_id=None, name=t) for t in topics)
    )
    return call(
        _bootstrap(servers),
        schema.MetadataRequest(
            topics=wanted,
            allow_auto_topic_creation=False,
            include_topic_authorized_operations=False,
        ),
    )


def _brokers(metadata: Any) -> dict[int, tuple[str, int]]:
    return {int(b.node_id): (b.host, int(b.port)) for b in metadata.brokers}


def _check(code: Any, what: str) -> None:
    if int(code) != NONE:
        raise CliError(f"{what}: {getattr(code, 'name', code)}")


# --- list ---------------------------------------------------------------------------------------


@app.command("list")
def list_transactions(
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Every transactional id, asking each broker for the ones it coordinates."""
    schema = _schema(LIST_TRANSACTIONS, 1)
    rows: list[dict[str, Any]] = []
    for node_id, address in sorted(_brokers(_metadata(bootstrap_server)).items()):
        body = call(address, schema.ListTransactionsRequest())
        _check(body.error_code, f"list transactions on broker {node_id}")
        for state in sorted(body.transaction_states, key=lambda s: s.transactional_id):
            rows.append(
                {
                    "transactional_id": state.transactional_id,
                    "coordinator": node_id,
                    "producer_id": state.producer_id,
                    "transaction_state": state.transaction_state,
                }
            )
    if output is OutputFormat.JSON:
        print_json(rows)
        return
    table = styled_table("TransactionalId", "Coordinator", "ProducerId", "TransactionState")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    stdout_console().print(table)


# --- describe -----------------------------------------------------------------------------------


TransactionalIdOption = Annotated[
    str, typer.Option("--transactional-id", help="the transactional id", show_default=False)
]


@app.command("describe")
def describe(
    transactional_id: TransactionalIdOption,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """One transactional id's state at its coordinator."""
    coordinator = _coordinator(bootstrap_server, transactional_id)
    schema = _schema(DESCRIBE_TRANSACTIONS, 0)
    body = call(
        coordinator, schema.DescribeTransactionsRequest(transactional_ids=(transactional_id,))
    )
    (state,) = body.transaction_states
    _check(state.error_code, f"describe {transactional_id}")
    started = state.transaction_start_time
    data = {
        "coordinator": f"{coordinator[0]}:{coordinator[1]}",
        "transactional_id": state.transactional_id,
        "producer_id": state.producer_id,
        "producer_epoch": state.producer_epoch,
        "transaction_state": state.transaction_state,
        "transaction_timeout_ms": int(state.transaction_timeout.total_seconds() * 1000),
        "transaction_start_time_ms": (
            None if started.timestamp() <= 0 else round(started.timestamp() * 1000)
        ),
        "topic_partitions": [f"{t.topic}-{p}" for t in state.topics for p in t.partitions],
    }
    if output is OutputFormat.JSON:
        print_json(data)
        return
    table = styled_table(
        "CoordinatorId",
        "TransactionalId",
        "ProducerId",
        "ProducerEpoch",
        "TransactionState",
        "TransactionTimeoutMs",
        "CurrentTransactionStartTimeMs",
        "TopicPartitions",
    )
    table.add_row(
        *(str(v) for v in list(data.values())[:-2]),
        str(data["transaction_start_time_ms"]),
        ",".join(data["topic_partitions"]),
    )
    stdout_console().print(table)


def _coordinator(servers: str, transactional_id: str) -> tuple[str, int]:
    schema = _schema(FIND_COORDINATOR, 3)
    body = call(
        _bootstrap(servers), schema.FindCoordinatorRequest(key=transactional_id, key_type=1)
    )
    _check(body.error_code, f"find the coordinator of {transactional_id}")
    return body.host, int(body.port)


# --- abort --------------------------------------------------------------------------------------


@app.command("abort")
def abort(
    topic: Annotated[
        str, typer.Option("--topic", help="the partition's topic", show_default=False)
    ],
    partition: Annotated[
        int, typer.Option("--partition", help="the partition", show_default=False)
    ],
    start_offset: Annotated[
        int,
        typer.Option(
            "--start-offset", help="first offset of the hanging transaction", show_default=False
        ),
    ],
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
) -> None:
    """Abort a hanging transaction on one partition (WriteTxnMarkers ABORT to its leader)."""
    leader = _leader(bootstrap_server, topic, partition)
    producer = _hanging_producer(leader, topic, partition, start_offset)
    schema = _schema(WRITE_TXN_MARKERS, 1)
    marker = schema.WritableTxnMarker(
        producer_id=producer.producer_id,
        producer_epoch=producer.producer_epoch,
        transaction_result=False,
        topics=(schema.WritableTxnMarkerTopic(name=topic, partition_indexes=(partition,)),),
        coordinator_epoch=producer.coordinator_epoch,
    )
    body = call(leader, schema.WriteTxnMarkersRequest(markers=(marker,)))
    (result,) = body.markers[0].topics[0].partitions
    _check(result.error_code, f"abort on {topic}-{partition}")
    stdout_console().print(
        f"aborted the transaction of producer {producer.producer_id} "
        f"(epoch {producer.producer_epoch}) at {topic}-{partition} offset {start_offset}"
    )


def _leader(servers: str, topic: str, partition: int) -> tuple[str, int]:
    metadata = _metadata(servers, [topic])
    brokers = _brokers(metadata)
    for described in metadata.topics:
        _check(described.error_code, f"topic {topic}")
        for p in described.partitions:
            if int(p.partition_index) == partition and int(p.leader_id) in brokers:
                return brokers[int(p.leader_id)]
    raise CliError(f"{topic}-{partition} has no leader")


def _hanging_producer(
    leader: tuple[str, int], topic: str, partition: int, start_offset: int
) -> Any:
    schema = _schema(DESCRIBE_PRODUCERS, 0)
    request = schema.DescribeProducersRequest(
        topics=(schema.TopicRequest(name=topic, partition_indexes=(partition,)),)
    )
    (described,) = call(leader, request).topics[0].partitions
    _check(described.error_code, f"describe producers of {topic}-{partition}")
    for producer in described.active_producers:
        if int(producer.current_txn_start_offset) == start_offset:
            return producer
    raise CliError(f"no open transaction starts at offset {start_offset} of {topic}-{partition}")
