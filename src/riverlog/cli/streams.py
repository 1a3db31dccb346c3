"""`riverlog streams ...`: reset and describe a streams application (its consumer group is the
`application.id`).

`reset` does what Kafka's `kafka-streams-application-reset` does: refused while the application has
live members; commits new offsets for the input topics (earliest by default, or `--to-latest`,
`--to-datetime`, `--to-offset`, `--shift-by`), moves the intermediate topics' offsets to their end,
and deletes the application's internal topics (`<application.id>-…-changelog`, `…-repartition`, and
the foreign-key join's `…-subscription-registration-topic` / `…-subscription-response-topic`).
Local state is not touched: call `KafkaStreams.clean_up()` (or delete `state.dir/<application.id>`).
With `--progress` (the default when stderr is a terminal) a bar on stderr counts the topics planned,
then the steps applied (the offset commit, each internal topic deleted).
`describe` shows the group's members (client ids, assigned partitions), its internal topics, and per
partition the committed offset, log end and lag (the broker does not know the app's sub-topologies,
so tasks appear as their partitions: task `<sub-topology>_<p>` reads partition p of its topics).
"""

from __future__ import annotations

import re
import sys
from typing import Annotated, Any

import typer
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from rich.table import Table

from riverlog.cli.client import (
    ADMIN_REQUEST_TIMEOUT_S,
    DEFAULT_BOOTSTRAP,
    BootstrapOption,
    CommandConfigOption,
    fetch_metadata,
)
from riverlog.cli.errors import CliError
from riverlog.cli.groups import (
    INACTIVE,
    SPEC,
    committed_offsets,
    describe_group,
    list_offsets,
    members_data,
    members_table,
    offsets_data,
    offsets_table,
    plan_reset,
    reset_how,
    reset_partitions,
    single,
    state_name,
)
from riverlog.cli.output import (
    OutputFormat,
    OutputOption,
    print_json,
    progress_bar,
    stdout_console,
)
from riverlog.cli.topics import connect, wait_all

app = typer.Typer(help="Reset and describe streams applications.", no_args_is_help=True)

AppIdOption = Annotated[
    str, typer.Option("--application-id", metavar="ID", help="the application.id")
]
INTERNAL_SUFFIXES = (
    "-changelog",
    "-repartition",
    "-subscription-registration-topic",
    "-subscription-response-topic",
)


# generated FK-join topic names (Kafka's StreamsResetter.matchesInternalTopicFormat)
_FK_TOPIC = re.compile(r".+-KTABLE-FK-JOIN-SUBSCRIPTION-(REGISTRATION|RESPONSE)-\d+-topic")


def internal_topics(topics: list[str], application_id: str) -> list[str]:
    prefix = f"{application_id}-"
    return sorted(
        t
        for t in topics
        if t.startswith(prefix) and (t.endswith(INTERNAL_SUFFIXES) or _FK_TOPIC.fullmatch(t))
    )


def _split(values: list[str] | None) -> list[str]:
    return [t for v in values or [] for t in v.split(",") if t.strip()]


@app.command("reset")
def reset(
    application_id: AppIdOption,
    input_topics: Annotated[
        list[str] | None,
        typer.Option("--input-topics", metavar="T1,T2", help="input topics: offsets reset"),
    ] = None,
    intermediate_topics: Annotated[
        list[str] | None,
        typer.Option(
            "--intermediate-topics", metavar="T1,T2", help="topics written and read: skip to end"
        ),
    ] = None,
    to_earliest: Annotated[bool, typer.Option("--to-earliest", help="the log start")] = False,
    to_latest: Annotated[bool, typer.Option("--to-latest", help="the log end")] = False,
    to_datetime: Annotated[
        str | None, typer.Option("--to-datetime", metavar="ISO", help="first offset at/after")
    ] = None,
    to_offset: Annotated[int | None, typer.Option("--to-offset", metavar="N")] = None,
    shift_by: Annotated[int | None, typer.Option("--shift-by", metavar="N")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show, change nothing")] = False,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="progress bars on stderr (default: when stderr is a terminal)",
        ),
    ] = None,
) -> None:
    """Reset a streams application to reprocess its input (Kafka's application reset tool)."""
    show = progress if progress is not None else sys.stderr.isatty()
    if not (to_latest or to_datetime or to_offset is not None or shift_by is not None):
        to_earliest = True  # Kafka's default
    how = reset_how(to_earliest, to_latest, to_datetime, to_offset, shift_by)
    admin, settings = connect(bootstrap, command_config)
    description = describe_group(admin, application_id)
    if description.state not in INACTIVE or description.members:
        raise CliError(
            f"application {application_id!r} still has {len(description.members)} live members "
            f"(state {state_name(description.state)}); stop every instance before resetting it"
        )
    committed = committed_offsets(admin, application_id)
    plan: dict[tuple[str, int], int] = {}
    inputs, intermediates = _split(input_topics), _split(intermediate_topics)
    with progress_bar(
        f"planning {application_id}", len(inputs) + len(intermediates), enabled=show, unit="topics"
    ) as planned:
        for done, topic in enumerate(inputs + intermediates, start=1):
            partitions = reset_partitions(admin, settings, topic, None)
            if done <= len(inputs):
                plan.update(plan_reset(admin, partitions, committed, how))
            else:  # intermediate topics: skip to their end
                plan.update(list_offsets(admin, partitions, SPEC.latest()))
            planned(done)
    existing = list(fetch_metadata(admin, settings).topics)
    doomed = internal_topics(existing, application_id)
    console = stdout_console()
    table = Table("Topic", "Partition", "Committed", "New offset", title="Offsets")
    for tp in sorted(plan):
        table.add_row(tp[0], str(tp[1]), str(committed.get(tp, "-")), str(plan[tp]))
    console.print(table)
    typer.echo(f"Internal topics to delete: {', '.join(doomed) if doomed else 'none'}")
    if dry_run:
        typer.echo("Dry run: nothing changed.")
        return
    steps = (1 if plan else 0) + len(doomed)
    with progress_bar(f"resetting {application_id}", steps, enabled=show, unit="steps") as applied:
        if plan:
            request = ConsumerGroupTopicPartitions(
                application_id, [TopicPartition(t, p, off) for (t, p), off in plan.items()]
            )
            single(
                admin.alter_consumer_group_offsets(
                    [request], request_timeout=ADMIN_REQUEST_TIMEOUT_S
                ),
                f"cannot reset offsets of application {application_id!r}",
            )
            applied(1)
        if doomed:
            futures = admin.delete_topics(doomed, request_timeout=ADMIN_REQUEST_TIMEOUT_S)
            for i, topic in enumerate(doomed):  # one step per deleted topic
                wait_all({topic: futures[topic]}, lambda t: f"cannot delete internal topic {t}")
                applied((1 if plan else 0) + i + 1)
    typer.echo(
        f"Reset application {application_id}: {len(plan)} partition offsets, "
        f"{len(doomed)} internal topics deleted. Clean the local state (KafkaStreams.clean_up) "
        "before restarting."
    )


@app.command("describe")
def describe(
    application_id: AppIdOption,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Members, internal topics, and per partition the committed offset, log end and lag."""
    admin, settings = connect(bootstrap, command_config)
    description = describe_group(admin, application_id)
    committed = committed_offsets(admin, application_id)
    existing = list(fetch_metadata(admin, settings).topics)
    internal = internal_topics(existing, application_id)
    if description.state in INACTIVE and not committed and not description.members and not internal:
        raise CliError(f"streams application {application_id!r} does not exist")
    owners: dict[tuple[str, int], Any] = {}
    for member in description.members:
        for tp in member.assignment.topic_partitions if member.assignment else []:
            owners[(tp.topic, tp.partition)] = member
    partitions = sorted(set(committed) | set(owners))
    log_ends = list_offsets(admin, partitions, SPEC.latest())
    offsets = offsets_data(partitions, committed, log_ends, owners)
    total = sum(o["lag"] or 0 for o in offsets)
    if output is OutputFormat.JSON:
        print_json(
            {
                "application_id": application_id,
                "state": state_name(description.state),
                "members": members_data(description.members),
                "internal_topics": internal,
                "offsets": offsets,
                "total_lag": total,
            }
        )
        return
    console = stdout_console()
    console.print(
        f"Application: {application_id}  State: {state_name(description.state)}  "
        f"Members: {len(description.members)}",
        markup=False,
        highlight=False,
    )
    console.print(members_table(members_data(description.members)))
    topics = Table("Internal topic", title="Internal topics")
    for t in internal:
        topics.add_row(t)
    console.print(topics)
    console.print(offsets_table(offsets))
    typer.echo(f"Total lag: {total}")
