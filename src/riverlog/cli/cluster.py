"""`riverlog cluster describe` and `riverlog leaders elect`: a cluster's brokers, controller, leaders.

Both talk to any broker with confluent-kafka's AdminClient (DescribeCluster, Metadata, ElectLeaders), so
they work against riverlog and Kafka alike.
"""

from __future__ import annotations

from typing import Annotated

import typer
from confluent_kafka import ElectionType, KafkaException, TopicPartition

from riverlog.cli.client import (
    ADMIN_REQUEST_TIMEOUT_S,
    DEFAULT_BOOTSTRAP,
    BootstrapOption,
    CommandConfigOption,
    fetch_metadata,
)
from riverlog.cli.errors import CliError
from riverlog.cli.output import (
    OutputFormat,
    OutputOption,
    print_json,
    stdout_console,
    styled_table,
)
from riverlog.cli.topics import connect

app = typer.Typer(help="The cluster: brokers and controller.", no_args_is_help=True)
leaders_app = typer.Typer(help="Partition leadership.", no_args_is_help=True)


@app.command("describe")
def describe(
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Cluster id, controller, live brokers and how many partitions each one leads."""
    admin, settings = connect(bootstrap, command_config)
    try:
        cluster = admin.describe_cluster(request_timeout=ADMIN_REQUEST_TIMEOUT_S).result()
    except KafkaException as exc:
        raise CliError(f"cannot describe the cluster: {exc.args[0].str()}") from None
    metadata = fetch_metadata(admin, settings)
    leading: dict[int, int] = {}
    offline = under_replicated = 0
    for topic in metadata.topics.values():
        for partition in topic.partitions.values():
            if partition.leader < 0:
                offline += 1
            else:
                leading[partition.leader] = leading.get(partition.leader, 0) + 1
            if len(partition.isrs) < len(partition.replicas):
                under_replicated += 1
    controller = cluster.controller.id if cluster.controller is not None else -1
    data = {
        "cluster_id": cluster.cluster_id,
        "controller": controller,
        "offline_partitions": offline,
        "under_replicated_partitions": under_replicated,
        "brokers": [
            {
                "id": node.id,
                "host": node.host,
                "port": node.port,
                "rack": node.rack,
                "leaders": leading.get(node.id, 0),
            }
            for node in sorted(cluster.nodes, key=lambda n: n.id)
        ],
    }
    if output is OutputFormat.JSON:
        print_json(data)
        return
    console = stdout_console()
    console.print(
        f"ClusterId: {cluster.cluster_id}  Controller: {controller}  Brokers: {len(cluster.nodes)}  "
        f"OfflinePartitions: {offline}  UnderReplicatedPartitions: {under_replicated}",
        markup=False,
        highlight=False,
    )
    table = styled_table("Broker", "Host", "Rack", "Leaders")
    for b in data["brokers"]:
        table.add_row(
            str(b["id"]),
            f"{b['host']}:{b['port']}",
            b["rack"] or "-",
            str(b["leaders"]),
            style="bold" if b["id"] == controller else None,
        )
    console.print(table)


@leaders_app.command("elect")
def elect(
    partitions: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TOPIC[:PARTITION]",
            help="partitions to elect for (default: every partition)",
        ),
    ] = None,
    unclean: Annotated[
        bool, typer.Option(help="elect any live replica for partitions without a leader")
    ] = False,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Preferred (default) or unclean leader election, as kafka-leader-election.sh does."""
    admin, settings = connect(bootstrap, command_config)
    wanted = _partitions(partitions or [], fetch_metadata(admin, settings))
    kind = ElectionType.UNCLEAN if unclean else ElectionType.PREFERRED
    try:
        # confluent-kafka 2.16's elect_leaders rejects every keyword option (a SystemError in its C
        # argument parsing), so the request goes with the client's default timeouts.
        results = admin.elect_leaders(kind, wanted or None).result(ADMIN_REQUEST_TIMEOUT_S)
    except KafkaException as exc:
        raise CliError(f"leader election failed: {exc.args[0].str()}") from None
    console = stdout_console()
    for tp, error in sorted(results.items(), key=lambda item: (item[0].topic, item[0].partition)):
        outcome = "elected" if error is None else error.str()
        console.print(f"{tp.topic}-{tp.partition}: {outcome}", markup=False, highlight=False)


def _partitions(specs: list[str], metadata: object) -> list[TopicPartition]:
    topics = getattr(metadata, "topics", {})
    out = []
    for spec in specs:
        topic, _, number = spec.partition(":")
        if topic not in topics:
            raise CliError(f"unknown topic {topic!r}")
        if number:
            if not number.isdigit():
                raise CliError(f"bad partition in {spec!r}: expected TOPIC:NUMBER")
            out.append(TopicPartition(topic, int(number)))
        else:
            out += [TopicPartition(topic, p) for p in sorted(topics[topic].partitions)]
    return out
