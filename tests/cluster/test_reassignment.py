"""Partition reassignment (KIP-455) across three brokers: data moves, the old replica lets go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from riverlog.cli.main import app
from riverlog.testing.checker import read_all
from riverlog.testing.cluster import LocalCluster

pytestmark = pytest.mark.cluster


def test_a_partition_moves_to_new_brokers_with_its_data(cluster3: LocalCluster) -> None:
    bootstrap = cluster3.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("moving", num_partitions=1, replica_assignment=[[1]])])[
        "moving"
    ].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "1"})  # RF 1 < min.insync.replicas
    for i in range(500):
        producer.produce("moving", str(i).encode())
    assert producer.flush(30) == 0

    runner = CliRunner()
    first = bootstrap.split(",")[0]
    started = runner.invoke(
        app, ["partitions", "reassign", "moving:0=2,3", "--wait", "--bootstrap-server", first]
    )
    assert started.exit_code == 0, started.output
    assert "moving-0: started" in started.output
    assert "reassigning" in started.stderr and "1/1" in started.stderr  # the progress bar
    assert "1 reassignment(s) complete" in started.stdout

    def moved() -> bool:
        state = cluster3.metadata("moving")[0]
        return sorted(state.replicas) == [2, 3] and sorted(state.isr) == [2, 3]

    cluster3.wait_for(moved, 60, what="replicas [2, 3] in sync")
    assert cluster3.metadata("moving")[0].leader in (2, 3)
    listing = runner.invoke(app, ["partitions", "reassignments", "--bootstrap-server", first])
    assert "No reassignments in progress." in listing.output
    as_json = runner.invoke(
        app, ["partitions", "reassignments", "--output", "json", "--bootstrap-server", first]
    )
    assert json.loads(as_json.stdout) == []
    assert [int(r.value) for r in read_all(bootstrap, "moving")] == list(range(500))
    old_copy = Path(cluster3.broker(1).data_dir) / "moving-0"
    cluster3.wait_for(lambda: not old_copy.exists(), 30, what="broker 1 deleting its copy")


def test_bad_targets_are_refused_with_kafkas_errors(cluster3: LocalCluster) -> None:
    cluster3.create_topic("stay", partitions=1, replication_factor=3)
    first = cluster3.bootstrap_servers.split(",")[0]
    runner = CliRunner()
    unknown = runner.invoke(
        app, ["partitions", "reassign", "stay:0=1,9", "--bootstrap-server", first]
    )
    assert unknown.exit_code != 0 and "not registered brokers" in unknown.output
    duplicate = runner.invoke(
        app, ["partitions", "reassign", "stay:0=1,1", "--bootstrap-server", first]
    )
    assert duplicate.exit_code != 0 and "duplicates" in duplicate.output
    nothing = runner.invoke(
        app, ["partitions", "reassign", "stay:0", "--cancel", "--bootstrap-server", first]
    )
    assert nothing.exit_code != 0 and "NO_REASSIGNMENT_IN_PROGRESS" in nothing.output.upper()
