"""`riverlog partitions reassign|reassignments`: move partitions between brokers (KIP-455).

Like kafka-reassign-partitions.sh, with the target on the command line: `TOPIC:PARTITION=1,2,3`.
confluent-kafka's AdminClient has no reassignment calls, so these send AlterPartitionReassignments and
ListPartitionReassignments on a plain socket to the first bootstrap server (any broker will do).
"""

from __future__ import annotations

import datetime
import time
from typing import Annotated, Any

import typer
from kio.schema.alter_partition_reassignments.v0 import request as alter
from kio.schema.list_partition_reassignments.v0 import request as listing

from riverlog.cli.client import DEFAULT_BOOTSTRAP, BootstrapOption
from riverlog.cli.errors import CliError
from riverlog.cli.output import (
    OutputFormat,
    OutputOption,
    print_json,
    progress_bar,
    stdout_console,
)
from riverlog.cli.raw import bootstrap_address, call

app = typer.Typer(help="Move partitions between brokers.", no_args_is_help=True)
AlterRequest: Any = alter.AlterPartitionReassignmentsRequest
AlterTopic: Any = alter.ReassignableTopic
AlterPartition: Any = alter.ReassignablePartition
ListRequest: Any = listing.ListPartitionReassignmentsRequest
TIMEOUT = datetime.timedelta(seconds=60)
WAIT_POLL_S = 0.5


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
    wait: Annotated[
        bool, typer.Option("--wait", help="wait, with a progress bar, until they complete")
    ] = False,
    wait_timeout: Annotated[
        float, typer.Option("--wait-timeout", metavar="SECONDS", help="give up waiting after this")
    ] = 600.0,
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
    if wait and not cancel:
        started = {(t.name, p.partition_index) for t in response.responses for p in t.partitions}
        wait_for_completion(bootstrap, started, wait_timeout)
        console.print(f"{len(started)} reassignment(s) complete", markup=False, highlight=False)


def ongoing_reassignments(bootstrap: str) -> list[tuple[str, Any]]:
    response = call(bootstrap_address(bootstrap), ListRequest(timeout=TIMEOUT, topics=None))
    return [(t.name, p) for t in response.topics for p in t.partitions]


def wait_for_completion(bootstrap: str, partitions: set[tuple[str, int]], timeout_s: float) -> None:
    """Poll ListPartitionReassignments until none of `partitions` is listed, with a progress bar."""
    deadline = time.monotonic() + timeout_s
    with progress_bar("reassigning", len(partitions), enabled=True, unit="partitions") as done:
        while True:
            pending = {(name, p.partition_index) for name, p in ongoing_reassignments(bootstrap)}
            left = partitions & pending
            done(len(partitions) - len(left))
            if not left:
                return
            if time.monotonic() >= deadline:
                names = ", ".join(f"{t}-{p}" for t, p in sorted(left))
                raise CliError(f"reassignment not complete after {timeout_s:g}s: {names}")
            time.sleep(WAIT_POLL_S)


@app.command("reassignments")
def reassignments(
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Reassignments in progress: replicas, adding and removing, per partition."""
    ongoing = ongoing_reassignments(bootstrap)
    if output is OutputFormat.JSON:
        print_json(
            [
                {
                    "topic": name,
                    "partition": p.partition_index,
                    "replicas": list(p.replicas),
                    "adding_replicas": list(p.adding_replicas),
                    "removing_replicas": list(p.removing_replicas),
                }
                for name, p in ongoing
            ]
        )
        return
    console = stdout_console()
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
