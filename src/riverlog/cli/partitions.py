"""`riverlog partitions reassign|reassignments`: move partitions between brokers (KIP-455).

Like kafka-reassign-partitions.sh, with the target on the command line: `TOPIC:PARTITION=1,2,3`.
confluent-kafka's AdminClient has no reassignment calls, so these send AlterPartitionReassignments and
ListPartitionReassignments on a plain socket to the first bootstrap server (any broker will do).
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any

import typer
from kio.schema.alter_partition_reassignments.v0 import request as alter
from kio.schema.list_partition_reassignments.v0 import request as listing

from riverlog.cli.client import DEFAULT_BOOTSTRAP, BootstrapOption
from riverlog.cli.errors import CliError
from riverlog.cli.output import stdout_console
from riverlog.cli.raw import bootstrap_address, call

app = typer.Typer(help="Move partitions between brokers.", no_args_is_help=True)
AlterRequest: Any = alter.AlterPartitionReassignmentsRequest
AlterTopic: Any = alter.ReassignableTopic
AlterPartition: Any = alter.ReassignablePartition
ListRequest: Any = listing.ListPartitionReassignmentsRequest
TIMEOUT = datetime.timedelta(seconds=60)


def parse_target(spec: str, cancel: bool) -> tuple[str, int, tuple[int, ...] | None]:
    """`TOPIC:PARTITION=B1,B2` (or `TOPIC:PARTITION` with --cancel)."""
    where, _, replicas = spec.partition("=")
    topic, _, number = where.rpartition(":")
    if not topic or not number.isdigit():
        raise CliError(f"bad partition {spec!r}: expected TOPIC:PARTITION=BROKER,BROKER,...")
    if cancel:
        return topic, int(number), None
    try:
        brokers = tuple(int(b) for b in replicas.split(","))
    except ValueError:
        raise CliError(f"bad replica list in {spec!r}: expected broker ids like 1,2,3") from None
    return topic, int(number), brokers


@app.command("reassign")
def reassign(
    targets: Annotated[
        list[str], typer.Argument(metavar="TOPIC:PARTITION=BROKERS", help="e.g. orders:0=2,3,1")
    ],
    cancel: Annotated[bool, typer.Option(help="cancel these partitions' reassignments")] = False,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
) -> None:
    """Start (or cancel) reassignments; the controller completes them once the new replicas are in sync."""
    by_topic: dict[str, list[Any]] = {}
    for spec in targets:
        topic, partition, replicas = parse_target(spec, cancel)
        by_topic.setdefault(topic, []).append(
            AlterPartition(partition_index=partition, replicas=replicas)
        )
    request = AlterRequest(
        timeout=TIMEOUT,
        topics=tuple(AlterTopic(name=t, partitions=tuple(ps)) for t, ps in by_topic.items()),
    )
    response = call(bootstrap_address(bootstrap), request)
    if response.error_code.value:
        raise CliError(
            f"reassignment refused: {response.error_message or response.error_code.name}"
        )
    console, failed = stdout_console(), []
    for topic in response.responses:
        for p in topic.partitions:
            outcome = "started" if not p.error_code.value else p.error_message or p.error_code.name
            console.print(
                f"{topic.name}-{p.partition_index}: {outcome}", markup=False, highlight=False
            )
            if p.error_code.value:
                failed.append(f"{topic.name}-{p.partition_index}")
    if failed:
        raise CliError(f"{len(failed)} partition(s) not reassigned: {', '.join(failed)}")


@app.command("reassignments")
def reassignments(bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP) -> None:
    """Reassignments in progress: replicas, adding and removing, per partition."""
    response = call(bootstrap_address(bootstrap), ListRequest(timeout=TIMEOUT, topics=None))
    console = stdout_console()
    ongoing = [(t.name, p) for t in response.topics for p in t.partitions]
    if not ongoing:
        console.print("No reassignments in progress.")
    for name, p in ongoing:
        console.print(
            f"{name}-{p.partition_index}: replicas {_ids(p.replicas)} adding {_ids(p.adding_replicas)} "
            f"removing {_ids(p.removing_replicas)}",
            markup=False,
            highlight=False,
        )


def _ids(brokers: Any) -> str:
    return ",".join(str(b) for b in brokers) or "-"
