"""`riverlog groups ...`: list, describe, reset-offsets and delete consumer groups.

Like Kafka's kafka-consumer-groups.sh, but a plain Kafka client (confluent-kafka's AdminClient): it works
against any Kafka broker. `describe` shows the members and, per partition, the committed offset, the log
end offset and the lag (log end - committed). `reset-offsets` computes new committed offsets for one topic
and commits them as a non-member — which Kafka allows only while the group has no members, so it is
refused while the group is active; `--dry-run` only shows the plan.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from confluent_kafka import (
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    ConsumerGroupType,
    TopicPartition,
)

# confluent_kafka.admin re-exports these without `__all__`, which strict mypy flags.
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from rich.table import Table

from riverlog.cli.client import (
    ADMIN_REQUEST_TIMEOUT_S,
    DEFAULT_BOOTSTRAP,
    BootstrapOption,
    ClientSettings,
    CommandConfigOption,
    cli_error,
    fetch_metadata,
    topic_partitions,
)
from riverlog.cli.errors import CliError
from riverlog.cli.output import (
    OutputFormat,
    OutputOption,
    print_json,
    stdout_console,
    styled_table,
)
from riverlog.cli.topics import connect, wait_all

app = typer.Typer(
    help="List, describe, reset offsets of and delete consumer groups.", no_args_is_help=True
)

GroupArgument = Annotated[str, typer.Argument(metavar="GROUP", help="consumer group id")]
INACTIVE = frozenset({ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD})
TopicPartitionKey = tuple[str, int]
SPEC: Any = OffsetSpec  # its factory methods are untyped


def state_name(state: Any) -> str:
    """Kafka's spelling of a group state (PreparingRebalance, Stable, …)."""
    if isinstance(state, str):
        return state
    names = {
        ConsumerGroupState.PREPARING_REBALANCING: "PreparingRebalance",
        ConsumerGroupState.COMPLETING_REBALANCING: "CompletingRebalance",
        ConsumerGroupState.STABLE: "Stable",
        ConsumerGroupState.EMPTY: "Empty",
        ConsumerGroupState.DEAD: "Dead",
    }
    return names.get(state, "Unknown")


def group_kind(group: Any) -> str:
    """consumer (KIP-848), classic, or simple (offsets only: members assign partitions themselves)."""
    if group.type == ConsumerGroupType.CONSUMER:
        return "consumer"
    return "simple" if group.is_simple_consumer_group else "classic"


def single(futures: Mapping[str, Any], action: str) -> Any:
    """The result of a one-group admin call, or a one-line CliError."""
    return wait_all(futures, lambda _: action)[next(iter(futures))]


# --- list ---------------------------------------------------------------------------------------


@app.command("list")
def list_groups(
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Every consumer group with its state."""
    admin, _ = connect(bootstrap, command_config)
    try:
        listed = admin.list_consumer_groups(request_timeout=ADMIN_REQUEST_TIMEOUT_S).result()
    except Exception as exc:
        raise cli_error(exc, "cannot list consumer groups") from None
    groups = [
        {"group": g.group_id, "state": state_name(g.state), "protocol": group_kind(g)}
        for g in sorted(listed.valid, key=lambda g: g.group_id)
    ]
    if output is OutputFormat.JSON:
        print_json(groups)
        return
    if not groups:
        typer.echo("No consumer groups.")
        return
    table = styled_table("Group", "State", "Protocol")
    for g in groups:
        table.add_row(g["group"], g["state"], g["protocol"])
    stdout_console().print(table)


# --- describe -----------------------------------------------------------------------------------


def describe_group(admin: AdminClient, group: str) -> Any:
    futures = admin.describe_consumer_groups([group], request_timeout=ADMIN_REQUEST_TIMEOUT_S)
    return single(futures, f"cannot describe group {group!r}")


def committed_offsets(admin: AdminClient, group: str) -> dict[TopicPartitionKey, int]:
    futures = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)], request_timeout=ADMIN_REQUEST_TIMEOUT_S
    )
    listed = single(futures, f"cannot fetch committed offsets of group {group!r}")
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in listed.topic_partitions or []
        if tp.error is None and tp.offset >= 0
    }


def list_offsets(
    admin: AdminClient, partitions: list[TopicPartitionKey], spec: Any
) -> dict[TopicPartitionKey, int]:
    """One ListOffsets lookup (earliest, latest or by time) for every partition."""
    if not partitions:
        return {}
    futures = admin.list_offsets(
        {TopicPartition(t, p): spec for t, p in partitions},
        request_timeout=ADMIN_REQUEST_TIMEOUT_S,
    )
    found = wait_all(futures, lambda tp: f"cannot look up offsets of {tp.topic}-{tp.partition}")
    return {(tp.topic, tp.partition): info.offset for tp, info in found.items()}


@app.command("describe")
def describe(
    group: GroupArgument,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Members, assignments, and per partition the committed offset, log end offset and lag."""
    admin, _ = connect(bootstrap, command_config)
    description = describe_group(admin, group)
    committed = committed_offsets(admin, group)
    if description.state == ConsumerGroupState.DEAD and not committed:
        raise CliError(f"consumer group {group!r} does not exist")
    owners: dict[TopicPartitionKey, Any] = {}
    for member in description.members:
        for tp in member.assignment.topic_partitions if member.assignment else []:
            owners[(tp.topic, tp.partition)] = member
    partitions = sorted(set(committed) | set(owners))
    log_ends = list_offsets(admin, partitions, SPEC.latest())
    data: dict[str, Any] = {
        "group": group,
        "state": state_name(description.state),
        "assignor": description.partition_assignor or None,
        "members": members_data(description.members),
        "offsets": offsets_data(partitions, committed, log_ends, owners),
    }
    if output is OutputFormat.JSON:
        print_json(data)
        return
    console = stdout_console()
    console.print(
        f"Group: {group}  State: {data['state']}  "
        f"Assignor: {data['assignor'] or '-'}  Members: {len(data['members'])}",
        markup=False,
        highlight=False,
    )
    console.print(members_table(data["members"]))
    console.print(offsets_table(data["offsets"]))


def members_data(members: list[Any]) -> list[dict[str, Any]]:
    out = []
    for member in sorted(members, key=lambda m: m.member_id):
        assigned = member.assignment.topic_partitions if member.assignment else []
        out.append(
            {
                "member_id": member.member_id,
                "group_instance_id": member.group_instance_id,
                "client_id": member.client_id,
                "host": member.host,
                "partitions": [f"{tp.topic}-{tp.partition}" for tp in assigned],
            }
        )
    return out


def members_table(members: list[dict[str, Any]]) -> Table:
    table = styled_table("Member", "Instance", "Client", "Host", "Partitions", title="Members")
    for m in members:
        table.add_row(
            m["member_id"],
            m["group_instance_id"] or "-",
            m["client_id"],
            m["host"],
            ", ".join(m["partitions"]) or "-",
        )
    return table


def lag(committed: int | None, log_end: int | None) -> int | None:
    """Log end offset minus committed offset; None when either is unknown."""
    if committed is None or log_end is None or log_end < 0:
        return None
    return max(log_end - committed, 0)


def offsets_data(
    partitions: list[TopicPartitionKey],
    committed: Mapping[TopicPartitionKey, int],
    log_ends: Mapping[TopicPartitionKey, int],
    owners: Mapping[TopicPartitionKey, Any],
) -> list[dict[str, Any]]:
    out = []
    for tp in partitions:
        owner = owners.get(tp)
        out.append(
            {
                "topic": tp[0],
                "partition": tp[1],
                "committed": committed.get(tp),
                "log_end": log_ends.get(tp),
                "lag": lag(committed.get(tp), log_ends.get(tp)),
                "member_id": owner.member_id if owner is not None else None,
            }
        )
    return out


def offsets_table(offsets: list[dict[str, Any]]) -> Table:
    table = styled_table(
        "Topic", "Partition", "Committed", "Log end", "Lag", "Member", title="Offsets"
    )
    for o in offsets:
        table.add_row(
            o["topic"],
            str(o["partition"]),
            "-" if o["committed"] is None else str(o["committed"]),
            "-" if o["log_end"] is None else str(o["log_end"]),
            "-" if o["lag"] is None else str(o["lag"]),
            o["member_id"] or "-",
            style="yellow" if o["lag"] else None,
        )
    return table


# --- reset-offsets ------------------------------------------------------------------------------


def parse_datetime(text: str) -> int:
    """ISO 8601 to epoch milliseconds (no zone: local time, as Kafka's tool does)."""
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"bad --to-datetime {text!r}: expected ISO 8601, e.g. 2024-05-01T12:00:00Z"
        ) from None
    return int(parsed.timestamp() * 1000)


def parse_topic(text: str) -> tuple[str, list[int] | None]:
    """`TOPIC` or `TOPIC:0,2` (some partitions), as Kafka's tool takes it."""
    name, sep, rest = text.partition(":")
    if not sep:
        return name, None
    try:
        return name, sorted({int(p) for p in rest.split(",") if p.strip()})
    except ValueError:
        raise CliError(f"bad --topic {text!r}: expected TOPIC or TOPIC:P1,P2") from None


def clamp(offset: int, low: int, high: int) -> int:
    """Kafka's tool keeps a reset inside [log start, log end]."""
    return min(max(offset, low), high)


def plan_reset(
    admin: AdminClient,
    partitions: list[TopicPartitionKey],
    committed: Mapping[TopicPartitionKey, int],
    how: tuple[str, int],
) -> dict[TopicPartitionKey, int]:
    """The new committed offset of every partition."""
    kind, value = how
    earliest = list_offsets(admin, partitions, SPEC.earliest())
    latest = list_offsets(admin, partitions, SPEC.latest())
    if kind == "earliest":
        return dict(earliest)
    if kind == "latest":
        return dict(latest)
    if kind == "datetime":
        found = list_offsets(admin, partitions, SPEC.for_timestamp(value))
        # No record at or after that time: the log end, as Kafka's tool does.
        return {tp: found[tp] if found[tp] >= 0 else latest[tp] for tp in partitions}
    if kind == "offset":
        return {tp: clamp(value, earliest[tp], latest[tp]) for tp in partitions}
    missing = [tp for tp in partitions if tp not in committed]
    if missing:
        names = ", ".join(f"{t}-{p}" for t, p in missing)
        raise CliError(f"cannot --shift-by: no committed offset for {names}")
    return {tp: clamp(committed[tp] + value, earliest[tp], latest[tp]) for tp in partitions}


def reset_how(
    to_earliest: bool,
    to_latest: bool,
    to_datetime: str | None,
    to_offset: int | None,
    shift_by: int | None,
) -> tuple[str, int]:
    chosen: list[tuple[str, int]] = []
    if to_earliest:
        chosen.append(("earliest", 0))
    if to_latest:
        chosen.append(("latest", 0))
    if to_datetime is not None:
        chosen.append(("datetime", parse_datetime(to_datetime)))
    if to_offset is not None:
        chosen.append(("offset", to_offset))
    if shift_by is not None:
        chosen.append(("shift", shift_by))
    if len(chosen) != 1:
        raise CliError(
            "pass exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by"
        )
    return chosen[0]


@app.command("reset-offsets")
def reset_offsets(
    group: GroupArgument,
    topic: Annotated[
        str,
        typer.Option("--topic", metavar="TOPIC[:P,...]", help="topic (and partitions) to reset"),
    ],
    to_earliest: Annotated[bool, typer.Option("--to-earliest", help="the log start")] = False,
    to_latest: Annotated[bool, typer.Option("--to-latest", help="the log end")] = False,
    to_datetime: Annotated[
        str | None,
        typer.Option("--to-datetime", metavar="ISO", help="the first offset at or after a time"),
    ] = None,
    to_offset: Annotated[
        int | None, typer.Option("--to-offset", metavar="N", help="this offset")
    ] = None,
    shift_by: Annotated[
        int | None,
        typer.Option("--shift-by", metavar="N", help="move the committed offset by N (may be < 0)"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show the new offsets without committing them")
    ] = False,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Set a group's committed offsets for a topic; refused while the group has members."""
    how = reset_how(to_earliest, to_latest, to_datetime, to_offset, shift_by)
    name, wanted = parse_topic(topic)
    admin, settings = connect(bootstrap, command_config)
    description = describe_group(admin, group)
    if description.state not in INACTIVE or description.members:
        raise CliError(
            f"group {group!r} is active (state {state_name(description.state)}, "
            f"{len(description.members)} members); stop its consumers before resetting offsets"
        )
    partitions = reset_partitions(admin, settings, name, wanted)
    committed = committed_offsets(admin, group)
    plan = plan_reset(admin, partitions, committed, how)
    table = Table("Topic", "Partition", "Committed", "New offset")
    for tp in partitions:
        table.add_row(tp[0], str(tp[1]), str(committed.get(tp, "-")), str(plan[tp]))
    stdout_console().print(table)
    if dry_run:
        typer.echo("Dry run: nothing committed.")
        return
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(t, p, offset) for (t, p), offset in plan.items()]
    )
    single(
        admin.alter_consumer_group_offsets([request], request_timeout=ADMIN_REQUEST_TIMEOUT_S),
        f"cannot reset offsets of group {group!r}",
    )
    typer.echo(f"Reset offsets of group {group} for {len(plan)} partitions of {name}.")


def reset_partitions(
    admin: AdminClient, settings: ClientSettings, topic: str, wanted: list[int] | None
) -> list[TopicPartitionKey]:
    existing = topic_partitions(fetch_metadata(admin, settings, topic), topic)
    chosen = existing if wanted is None else wanted
    unknown = sorted(set(chosen) - set(existing))
    if unknown:
        raise CliError(f"topic {topic!r} has no partition {unknown[0]}")
    return [(topic, p) for p in chosen]


# --- delete -------------------------------------------------------------------------------------


@app.command("delete")
def delete(
    group: GroupArgument,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Delete an inactive group and its committed offsets."""
    admin, _ = connect(bootstrap, command_config)
    single(
        admin.delete_consumer_groups([group], request_timeout=ADMIN_REQUEST_TIMEOUT_S),
        f"cannot delete group {group!r}",
    )
    typer.echo(f"Deleted consumer group {group}.")
