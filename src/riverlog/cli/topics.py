"""`riverlog topics ...`: create, list, describe, delete and alter-config, over the Kafka admin API.

Like Kafka's kafka-topics.sh and kafka-configs.sh, but a plain Kafka client (confluent-kafka's
AdminClient): it works against any Kafka broker. Topic names starting with `__` are internal (Kafka's
convention: `__consumer_offsets`, `__transaction_state`) and listed only with `--internal`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Annotated, Any, TypeVar

import typer
from confluent_kafka import KafkaError, TopicCollection

# confluent_kafka.admin re-exports these without `__all__`, which strict mypy flags.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
    TopicDescription,
)
from rich.markup import escape

from riverlog.cli.client import (
    ADMIN_REQUEST_TIMEOUT_S,
    DEFAULT_BOOTSTRAP,
    BootstrapOption,
    ClientSettings,
    CommandConfigOption,
    cli_error,
    create_client,
    exception_error,
    fetch_metadata,
    parse_assignments,
    probe_bootstrap,
)
from riverlog.cli.errors import CliError
from riverlog.cli.output import (
    OutputFormat,
    OutputOption,
    print_json,
    stdout_console,
    styled_table,
)

app = typer.Typer(help="Create, list, describe, delete and configure topics.", no_args_is_help=True)

K = TypeVar("K")


def connect(bootstrap: str, command_config: list[str] | None) -> tuple[AdminClient, ClientSettings]:
    """An AdminClient that has already answered one Metadata request."""
    settings = ClientSettings.from_options(bootstrap, command_config)
    probe_bootstrap(settings)
    admin = create_client(AdminClient, settings.config())
    fetch_metadata(admin, settings)
    return admin, settings


def is_internal(topic: str) -> bool:
    return topic.startswith("__")


def wait_all(
    futures: Mapping[K, Future[Any]],
    action: Callable[[K], str],
    *,
    ignore: frozenset[int] = frozenset(),
) -> dict[K, Any]:
    """Wait for every per-resource future; one CliError naming every failure (codes in `ignore` pass)."""
    results: dict[K, Any] = {}
    failures = []
    for key, future in futures.items():
        try:
            results[key] = future.result()
        except Exception as exc:
            err = exception_error(exc)
            if err is not None and err.code() in ignore:
                continue
            failures.append(str(cli_error(exc, action(key))))
    if failures:
        raise CliError("; ".join(failures))
    return results


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="topic name")],
    partitions: Annotated[
        int | None,
        typer.Option("--partitions", metavar="N", help="partition count (default: the broker's)"),
    ] = None,
    replication_factor: Annotated[
        int | None,
        typer.Option(
            "--replication-factor",
            metavar="N",
            help="replicas per partition (default: the broker's)",
        ),
    ] = None,
    configs: Annotated[
        list[str] | None,
        typer.Option("--config", metavar="KEY=VALUE", help="KEY=VALUE topic config, repeatable"),
    ] = None,
    if_not_exists: Annotated[
        bool, typer.Option("--if-not-exists", help="succeed when the topic already exists")
    ] = False,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Create a topic."""
    for option, value in (
        ("--partitions", partitions),
        ("--replication-factor", replication_factor),
    ):
        if value is not None and value < 1:
            raise CliError(f"bad {option} {value}: must be at least 1")
    topic_configs = parse_assignments(configs, "--config")
    admin, _ = connect(bootstrap, command_config)
    new_topic = NewTopic(
        name,
        num_partitions=partitions if partitions is not None else -1,
        replication_factor=replication_factor if replication_factor is not None else -1,
        config=topic_configs,
    )
    futures = admin.create_topics(
        [new_topic],
        request_timeout=ADMIN_REQUEST_TIMEOUT_S,
        operation_timeout=ADMIN_REQUEST_TIMEOUT_S,
    )
    ignore = frozenset({KafkaError.TOPIC_ALREADY_EXISTS}) if if_not_exists else frozenset()
    created = wait_all(futures, lambda topic: f"cannot create topic {topic!r}", ignore=ignore)
    for topic in created:
        typer.echo(f"Created topic {topic}.")


@app.command("list")
def list_topics(
    internal: Annotated[bool, typer.Option("--internal", help="include internal topics")] = False,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List topic names, one per line (`--output json`: a JSON array)."""
    settings = ClientSettings.from_options(bootstrap, command_config)
    probe_bootstrap(settings)
    metadata = fetch_metadata(create_client(AdminClient, settings.config()), settings)
    topics = [t for t in sorted(metadata.topics) if internal or not is_internal(t)]
    if output is OutputFormat.JSON:
        print_json(topics)
        return
    for topic in topics:
        typer.echo(topic)


@app.command("describe")
def describe(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAME", help="topics to describe (default: every topic)"),
    ] = None,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Partitions (leader, replicas, ISR), topic id and non-default configs of topics."""
    admin, settings = connect(bootstrap, command_config)
    if not names:
        metadata = fetch_metadata(admin, settings)
        names = sorted(topic for topic in metadata.topics if not is_internal(topic))
    if not names:
        if output is OutputFormat.JSON:
            print_json([])
        else:
            typer.echo("No topics.")
        return
    descriptions = wait_all(
        admin.describe_topics(TopicCollection(names), request_timeout=ADMIN_REQUEST_TIMEOUT_S),
        describe_action,
    )
    configs = wait_all(
        admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, name) for name in names],
            request_timeout=ADMIN_REQUEST_TIMEOUT_S,
        ),
        lambda resource: f"cannot describe configs of topic {resource.name!r}",
    )
    configs_by_topic = {resource.name: entries for resource, entries in configs.items()}
    data = [description_data(descriptions[name], configs_by_topic.get(name, {})) for name in names]
    if output is OutputFormat.JSON:
        print_json(data)
        return
    console = stdout_console()
    for topic in data:
        print_description(console, topic)


def describe_action(topic: str) -> str:
    return f"cannot describe topic {topic!r}"


def topic_overrides(entries: Mapping[str, ConfigEntry]) -> dict[str, str]:
    """The configs set on the topic itself (what kafka-topics --describe shows)."""
    return {
        name: "<sensitive>" if entry.is_sensitive else str(entry.value)
        for name, entry in sorted(entries.items())
        # confluent-kafka fills `source` with the wire int, not the ConfigSource its type names.
        if ConfigSource(entry.source) is ConfigSource.DYNAMIC_TOPIC_CONFIG
    }


def description_data(
    description: TopicDescription, entries: Mapping[str, ConfigEntry]
) -> dict[str, Any]:
    """One topic's description as plain data (what `--output json` prints)."""
    partitions = sorted(description.partitions, key=lambda p: p.id)
    return {
        "topic": description.name,
        "topic_id": str(description.topic_id),
        "partition_count": len(partitions),
        "replication_factor": len(partitions[0].replicas) if partitions else 0,
        "configs": topic_overrides(entries),
        "partitions": [
            {
                "partition": p.id,
                "leader": None if p.leader is None or p.leader.id < 0 else p.leader.id,
                "replicas": [node.id for node in p.replicas],
                "isr": [node.id for node in p.isr],
            }
            for p in partitions
        ],
    }


def print_description(console: Any, topic: Mapping[str, Any]) -> None:
    console.print(
        f"[bold]Topic:[/] [green]{escape(topic['topic'])}[/]  TopicId: {topic['topic_id']}  "
        f"PartitionCount: {topic['partition_count']}  "
        f"ReplicationFactor: {topic['replication_factor']}",
        highlight=False,
    )
    configs = ",".join(f"{k}={v}" for k, v in topic["configs"].items()) or "(none)"
    console.print(f"Configs: {configs}", markup=False, highlight=False)
    table = styled_table("Partition", "Leader", "Replicas", "ISR")
    for p in topic["partitions"]:
        table.add_row(
            str(p["partition"]),
            "none" if p["leader"] is None else str(p["leader"]),
            ",".join(map(str, p["replicas"])),
            ",".join(map(str, p["isr"])),
            style=None if len(p["isr"]) >= len(p["replicas"]) else "yellow",
        )
    console.print(table)


@app.command("delete")
def delete(
    names: Annotated[list[str], typer.Argument(metavar="NAME", help="topics to delete")],
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Delete topics."""
    admin, _ = connect(bootstrap, command_config)
    futures = admin.delete_topics(
        names, request_timeout=ADMIN_REQUEST_TIMEOUT_S, operation_timeout=ADMIN_REQUEST_TIMEOUT_S
    )
    deleted = wait_all(futures, lambda topic: f"cannot delete topic {topic!r}")
    for topic in deleted:
        typer.echo(f"Deleted topic {topic}.")


@app.command("alter-config")
def alter_config(
    name: Annotated[str, typer.Argument(metavar="NAME", help="topic name")],
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="KEY=VALUE to set, repeatable"),
    ] = None,
    deletes: Annotated[
        list[str] | None,
        typer.Option("--delete", metavar="KEY", help="KEY to reset to its default, repeatable"),
    ] = None,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Change topic configs with IncrementalAlterConfigs (other configs are left alone)."""
    entries = [
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
        for key, value in parse_assignments(sets, "--set").items()
    ]
    entries += [
        ConfigEntry(key, None, incremental_operation=AlterConfigOpType.DELETE)
        for key in deletes or []
    ]
    if not entries:
        raise CliError("nothing to change: pass --set KEY=VALUE or --delete KEY")
    admin, _ = connect(bootstrap, command_config)
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)
    futures = admin.incremental_alter_configs([resource], request_timeout=ADMIN_REQUEST_TIMEOUT_S)
    wait_all(futures, lambda _: f"cannot alter configs of topic {name!r}")
    typer.echo(f"Updated configs of topic {name}.")
