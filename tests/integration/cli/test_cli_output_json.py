"""`--output json` on list/describe commands: valid JSON with the same content as the table."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from click.testing import Result
from confluent_kafka import Consumer, Producer
from typer.testing import CliRunner

from riverlog.cli.main import app
from riverlog.testing.broker import RunningBroker


def ok(broker: RunningBroker, *args: str) -> Result:
    result = CliRunner().invoke(app, [*args, "-b", broker.bootstrap_servers])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def as_json(broker: RunningBroker, *args: str) -> Any:
    return json.loads(ok(broker, *args, "--output", "json").stdout)


def table_cells(text: str) -> list[list[str]]:
    """The rows of rich's box tables as lists of stripped cells."""
    rows = []
    for line in text.splitlines():
        if line.startswith("│") or line.startswith("┃"):
            rows.append(
                [cell.strip() for cell in line.strip("│┃").split("│" if "│" in line else "┃")]
            )
    return rows


def test_topics_list_and_describe_json_match_the_table(broker: RunningBroker) -> None:
    name = f"json-{uuid.uuid4().hex[:8]}"
    ok(broker, "topics", "create", name, "--partitions", "2", "--config", "retention.ms=60000")
    listed = as_json(broker, "topics", "list")
    assert name in listed
    assert listed == ok(broker, "topics", "list").stdout.split()
    [described] = as_json(broker, "topics", "describe", name)
    assert described["topic"] == name
    assert described["partition_count"] == 2 and described["replication_factor"] == 1
    assert described["configs"] == {"retention.ms": "60000"}
    leader = described["partitions"][0]["leader"]
    assert isinstance(leader, int)
    table = table_cells(ok(broker, "topics", "describe", name).stdout)
    assert table[0] == ["Partition", "Leader", "Replicas", "ISR"]
    assert table[1:] == [
        [
            str(p["partition"]),
            str(p["leader"]),
            *(",".join(map(str, p[k])) for k in ("replicas", "isr")),
        ]
        for p in described["partitions"]
    ]


def test_groups_list_and_describe_json_show_the_lag(broker: RunningBroker) -> None:
    topic = f"json-lag-{uuid.uuid4().hex[:8]}"
    group = f"json-group-{uuid.uuid4().hex[:8]}"
    ok(broker, "topics", "create", topic)
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i in range(5):
        producer.produce(topic, f"v{i}".encode())
    producer.flush(10)
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.subscribe([topic])
        got = 0
        while got < 2:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                got += 1
                consumer.commit(message, asynchronous=False)
    finally:
        consumer.close()
    groups = as_json(broker, "groups", "list")
    assert {"group": group, "state": "Empty", "protocol": "classic"} in groups
    described = as_json(broker, "groups", "describe", group)
    assert described["group"] == group and described["members"] == []
    assert described["offsets"] == [
        {"topic": topic, "partition": 0, "committed": 2, "log_end": 5, "lag": 3, "member_id": None}
    ]
    table = table_cells(ok(broker, "groups", "describe", group).stdout)
    assert [topic, "0", "2", "5", "3", "-"] in table


def test_cluster_describe_json_matches_the_table(broker: RunningBroker) -> None:
    described = as_json(broker, "cluster", "describe")
    assert described["controller"] == described["brokers"][0]["id"]
    assert described["offline_partitions"] == 0
    [b] = described["brokers"]
    table = table_cells(ok(broker, "cluster", "describe").stdout)
    assert table[0] == ["Broker", "Host", "Rack", "Leaders"]
    assert table[1] == [
        str(b["id"]),
        f"{b['host']}:{b['port']}",
        b["rack"] or "-",
        str(b["leaders"]),
    ]


def test_produce_file_with_a_progress_bar(broker: RunningBroker, tmp_path: Path) -> None:
    topic = f"json-file-{uuid.uuid4().hex[:8]}"
    ok(broker, "topics", "create", topic)
    lines = [f"record-{i}" for i in range(2500)]
    path = tmp_path / "records.txt"
    path.write_text("\n".join(lines) + "\n")
    result = ok(broker, "produce", topic, "--file", str(path), "--progress")
    assert f"producing to {topic}" in result.stderr and "100%" in result.stderr
    assert "produced 2500 records" in result.stderr
    quiet = ok(broker, "produce", topic, "--file", str(path))
    assert f"producing to {topic}" not in quiet.stderr  # not a terminal: no bar by default
    consumed = ok(broker, "consume", topic, "--from-beginning", "--timeout", "5").stdout.split()
    assert consumed == lines + lines


def test_users_list_json_matches_the_lines(broker: RunningBroker) -> None:
    user = f"json-user-{uuid.uuid4().hex[:6]}"
    ok(broker, "users", "create", user, "--password", "s3cret", "--iterations", "8192")
    [entry] = [u for u in as_json(broker, "users", "list") if u["user"] == user]
    assert entry["credentials"] == [
        {"mechanism": "SCRAM-SHA-256", "iterations": 8192},
        {"mechanism": "SCRAM-SHA-512", "iterations": 8192},
    ]
    lines = ok(broker, "users", "list").stdout.splitlines()
    expected = ", ".join(
        f"{c['mechanism']} (iterations={c['iterations']})" for c in entry["credentials"]
    )
    assert [user, expected] in [line.split(None, 1) for line in lines]
