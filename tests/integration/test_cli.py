"""The client commands (`topics`, `produce`, `consume`) against a real broker.

Most tests run the typer app in process (CliRunner: fast, no interpreter start-up); the tests of what a
user sees on errors run the installed `riverlog` script as a subprocess.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from confluent_kafka import Producer
from typer.testing import CliRunner

from riverlog.cli.errors import CliError
from riverlog.cli.main import app
from riverlog.testing.broker import RunningBroker

RIVERLOG = str(Path(sys.executable).parent / "riverlog")


def run(broker: RunningBroker, *args: str, stdin: bytes | None = None) -> Result:
    """`riverlog ARGS -b <broker>` in process."""
    return CliRunner().invoke(app, [*args, "-b", broker.bootstrap_servers], input=stdin)


def ok(broker: RunningBroker, *args: str, stdin: bytes | None = None) -> Result:
    result = run(broker, *args, stdin=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def fails(broker: RunningBroker, *args: str, stdin: bytes | None = None) -> str:
    """Run a command that must raise CliError; returns its message."""
    result = run(broker, *args, stdin=stdin)
    assert isinstance(result.exception, CliError), (result.exception, result.stdout)
    return str(result.exception)


def riverlog(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """The installed script, as a user runs it."""
    return subprocess.run(
        [RIVERLOG, *args], input=stdin.decode(), capture_output=True, text=True, timeout=60
    )


def unique(prefix: str = "cli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_topic(broker: RunningBroker, partitions: int = 1, *extra: str) -> str:
    name = unique()
    ok(broker, "topics", "create", name, "--partitions", str(partitions), *extra)
    return name


def consume_json(broker: RunningBroker, topic: str, *args: str) -> list[dict[str, object]]:
    out = ok(broker, "consume", topic, "--format", "json", "--timeout", "5", *args).stdout
    return [json.loads(line) for line in out.splitlines()]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- topics --------------------------------------------------------------------------------------


def test_topics_create_list_describe_delete(broker: RunningBroker) -> None:
    name = unique()
    created = ok(
        broker, "topics", "create", name, "--partitions", "3", "--config", "cleanup.policy=compact"
    )
    assert created.stdout.strip() == f"Created topic {name}."
    assert name in ok(broker, "topics", "list").stdout.splitlines()

    described = ok(broker, "topics", "describe", name).stdout
    assert f"Topic: {name}" in described
    assert "PartitionCount: 3" in described
    assert "ReplicationFactor: 1" in described
    assert "Configs: cleanup.policy=compact" in described
    topic_id = described.split("TopicId: ")[1].split()[0]
    assert topic_id not in ("", "AAAAAAAAAAAAAAAAAAAAAA")  # a real id, not the zero uuid
    rows = [line for line in described.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["0", "1", "2"]
    assert all(row.split("│")[2].strip().isdigit() for row in rows)  # every partition has a leader

    assert ok(broker, "topics", "delete", name).stdout.strip() == f"Deleted topic {name}."
    assert name not in ok(broker, "topics", "list").stdout.splitlines()


def test_create_existing_topic_fails_unless_if_not_exists(broker: RunningBroker) -> None:
    name = new_topic(broker)
    assert "TOPIC_ALREADY_EXISTS" in fails(broker, "topics", "create", name)
    assert ok(broker, "topics", "create", name, "--if-not-exists").stdout == ""


def test_list_hides_internal_topics_unless_asked(broker: RunningBroker) -> None:
    internal = unique("__cli-internal")
    ok(broker, "topics", "create", internal, "--partitions", "1")
    assert internal not in ok(broker, "topics", "list").stdout.splitlines()
    assert internal in ok(broker, "topics", "list", "--internal").stdout.splitlines()


def test_describe_every_topic_by_default(broker: RunningBroker) -> None:
    first, second = new_topic(broker), new_topic(broker, 2)
    described = ok(broker, "topics", "describe").stdout
    assert f"Topic: {first} " in described
    assert f"Topic: {second} " in described


def test_alter_config_sets_and_deletes(broker: RunningBroker) -> None:
    name = new_topic(broker)
    ok(
        broker,
        "topics",
        "alter-config",
        name,
        "--set",
        "retention.ms=3600000",
        "--set",
        "segment.ms=60000",
    )
    assert (
        "Configs: retention.ms=3600000,segment.ms=60000"
        in ok(broker, "topics", "describe", name).stdout
    )
    ok(broker, "topics", "alter-config", name, "--delete", "segment.ms")
    assert "Configs: retention.ms=3600000\n" in ok(broker, "topics", "describe", name).stdout


def test_topic_errors_name_the_problem(broker: RunningBroker) -> None:
    missing = unique("missing")
    assert "UNKNOWN_TOPIC_OR_PART" in fails(broker, "topics", "describe", missing)
    assert "UNKNOWN_TOPIC_OR_PART" in fails(broker, "topics", "delete", missing)
    assert "bad --config" in fails(broker, "topics", "create", unique(), "--config", "novalue")
    assert "--partitions 0" in fails(broker, "topics", "create", unique(), "--partitions", "0")
    assert "nothing to change" in fails(broker, "topics", "alter-config", missing)


# -- produce and consume -------------------------------------------------------------------------


def test_produce_keys_and_headers_then_consume_json(broker: RunningBroker) -> None:
    topic = new_topic(broker)
    produced = ok(
        broker, "produce", topic, "--key-separator", ":", "--header", "source=cli", "--header", "n=1",
        stdin=b"k1:v1\nk2:v:2\nk3:\n",
    )  # fmt: skip
    assert produced.stderr.strip() == f"produced 3 records to {topic}, 0 errors"

    records = consume_json(broker, topic, "--from-beginning", "--count", "3")
    assert [(r["key"], r["value"], r["offset"]) for r in records] == [
        ("k1", "v1", 0),
        ("k2", "v:2", 1),
        ("k3", "", 2),
    ]
    first = records[0]
    assert first["topic"] == topic and first["partition"] == 0
    assert first["headers"] == [{"key": "source", "value": "cli"}, {"key": "n", "value": "1"}]
    assert isinstance(first["timestamp"], int) and first["timestamp"] > 1_600_000_000_000


def test_binary_values_come_back_as_base64(broker: RunningBroker) -> None:
    topic = new_topic(broker)
    ok(broker, "produce", topic, stdin=b"\xff\xfe\n")
    (record,) = consume_json(broker, topic, "--from-beginning", "--count", "1")
    assert record["value"] == "//4=" and record["value_encoding"] == "base64"
    assert record["key"] is None


def test_null_value_marker_writes_tombstones(broker: RunningBroker) -> None:
    topic = new_topic(broker)
    ok(broker, "produce", topic, "--key-separator", "=", "--null-value-marker", "<null>",
       stdin=b"a=<null>\n<null>=b\n")  # fmt: skip
    records = consume_json(broker, topic, "--from-beginning", "--count", "2")
    assert [(r["key"], r["value"]) for r in records] == [("a", None), (None, "b")]


def test_produce_from_file_with_compression_and_acks(broker: RunningBroker, tmp_path: Path) -> None:
    topic = new_topic(broker)
    lines = tmp_path / "lines.txt"
    lines.write_bytes(b"".join(b"line-%d\r\n" % i for i in range(50)))
    ok(broker, "produce", topic, "--file", str(lines), "--compression", "zstd", "--acks", "1")
    out = ok(broker, "consume", topic, "--from-beginning", "--count", "50").stdout
    assert out.splitlines() == [f"line-{i}" for i in range(50)]


def test_text_and_kcat_formats_print_keys_and_headers(broker: RunningBroker) -> None:
    topic = new_topic(broker)
    ok(broker, "produce", topic, "--key-separator", "|", "--header", "h=1", stdin=b"key|value\n")
    common = ("--from-beginning", "--count", "1", "--print-key", "--print-headers")
    assert ok(broker, "consume", topic, *common).stdout == "h:1\tkey\tvalue\n"
    kcat = ok(broker, "consume", topic, *common, "--format", "kcat-like").stdout
    assert kcat == f"{topic} [0] @ 0: key key: headers h:1: value\n"


def test_consume_from_offset_of_one_partition(broker: RunningBroker) -> None:
    topic = new_topic(broker, 2)
    ok(broker, "produce", topic, "--partition", "1", stdin=b"".join(b"%d\n" % i for i in range(5)))
    out = ok(broker, "consume", topic, "--partition", "1", "--offset", "3", "--timeout", "1").stdout
    assert out.splitlines() == ["3", "4"]
    assert (
        ok(
            broker, "consume", topic, "--partition", "0", "--from-beginning", "--timeout", "1"
        ).stdout
        == ""
    )


def test_consume_by_timestamp(broker: RunningBroker) -> None:
    topic = new_topic(broker)
    base = int(time.time() * 1000) - 60_000
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i in range(3):
        producer.produce(topic, value=b"at-%d" % i, timestamp=base + i * 10_000)
    assert producer.flush(10) == 0

    by_ms = ok(broker, "consume", topic, "--timestamp", str(base + 5_000), "--count", "2").stdout
    assert by_ms.splitlines() == ["at-1", "at-2"]
    iso = datetime.fromtimestamp((base + 20_000) / 1000, UTC).isoformat()
    assert ok(broker, "consume", topic, "--timestamp", iso, "--count", "1").stdout == "at-2\n"
    # After the last record: start at the end, so nothing arrives before the idle timeout.
    late = str(base + 60_000)
    assert ok(broker, "consume", topic, "--timestamp", late, "--timeout", "1").stdout == ""


def test_group_resumes_from_committed_offsets(broker: RunningBroker) -> None:
    topic, group = new_topic(broker), unique("group")
    ok(broker, "produce", topic, stdin=b"a\nb\nc\nd\n")
    args = ("--group", group, "--from-beginning", "--count", "2", "--timeout", "10")
    first = ok(broker, "consume", topic, *args)
    assert first.stdout.splitlines() == ["a", "b"]
    rest = ok(broker, "consume", topic, *args)
    assert rest.stdout.splitlines() == ["c", "d"]
    assert rest.stderr.strip() == f"consumed 2 records from {topic}"


def test_produce_reports_failed_lines_and_deliveries(broker: RunningBroker) -> None:
    topic = new_topic(broker, 1, "--config", "max.message.bytes=200")
    lines = [b"no separator", b"k:" + b"x" * 1000, b"k:" + b"x" * 6000]
    result = run(
        broker, "produce", topic, "--key-separator", ":",
        "--command-config", "message.max.bytes=5000", stdin=b"\n".join(lines) + b"\n",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "riverlog: line 1: no key separator ':'" in result.stderr
    # Line 2 fits the client's limit but not the topic's: the broker rejects it.
    assert "delivery failed: MSG_SIZE_TOO_LARGE" in result.stderr
    # Line 3 is over the client's own limit: rejected before it is sent.
    assert "riverlog: line 3: not sent: MSG_SIZE_TOO_LARGE" in result.stderr
    assert result.stderr.splitlines()[-1] == f"produced 0 records to {topic}, 3 errors"


def test_produce_and_consume_errors(broker: RunningBroker) -> None:
    topic = new_topic(broker, 2)
    assert "has no partition 7" in fails(broker, "produce", topic, "--partition", "7", stdin=b"x\n")
    assert "unknown topic" in fails(broker, "consume", unique("missing"), "--timeout", "1")
    assert "bad --format" in fails(broker, "consume", topic, "--format", "xml")
    assert "only one of" in fails(broker, "consume", topic, "--offset", "1", "--from-beginning")
    assert "bad --timestamp" in fails(broker, "consume", topic, "--timestamp", "yesterday")
    assert "bad --acks" in fails(broker, "produce", topic, "--acks", "2", stdin=b"x\n")


# -- as a user sees it: the installed script ------------------------------------------------------


def test_script_round_trip(broker: RunningBroker) -> None:
    b = broker.bootstrap_servers
    topic = unique()
    assert riverlog("topics", "create", topic, "-b", b).returncode == 0
    produced = riverlog("produce", topic, "-b", b, "--key-separator", ",", stdin=b"k,hello\n")
    assert produced.returncode == 0, produced.stderr
    consumed = riverlog(
        "consume", topic, "-b", b, "--from-beginning", "--count", "1", "--print-key"
    )
    assert (consumed.returncode, consumed.stdout) == (0, "k\thello\n")


@pytest.mark.parametrize(
    "command",
    [["topics", "list"], ["topics", "create", "t"], ["produce", "t"], ["consume", "t"]],
    ids=lambda c: "-".join(c),
)
def test_unreachable_broker_is_one_line_and_fast(command: list[str]) -> None:
    address = f"127.0.0.1:{closed_port()}"
    started = time.monotonic()
    result = riverlog(*command, "-b", address, stdin=b"x\n")
    assert time.monotonic() - started < 10
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"riverlog: error: cannot reach broker at {address} (Connection refused); "
        "is it running? pass --bootstrap-server HOST:PORT"
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_silent_broker_is_reported_after_the_socket_timeout() -> None:
    """A port that accepts connections but never answers a request."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        result = CliRunner().invoke(
            app, ["topics", "list", "-b", address, "--command-config", "socket.timeout.ms=1500"]
        )
    assert time.monotonic() - started < 5
    assert isinstance(result.exception, CliError)
    assert str(result.exception).startswith(f"cannot reach broker at {address} (")


def test_script_errors_are_one_line(broker: RunningBroker) -> None:
    b = broker.bootstrap_servers
    for args in (
        ["consume", unique("missing"), "-b", b, "--timeout", "1"],
        ["topics", "describe", unique("missing"), "-b", b],
        ["consume", "t", "-b", b, "--isolation", "serializable"],
        ["topics", "list", "-b", "no-port-here"],
        ["topics", "list", "-b", b, "--command-config", "no.such.setting=1"],
    ):
        result = riverlog(*args)
        assert result.returncode == 1, args
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith("riverlog: error: ")
        assert "Traceback" not in result.stderr


def test_client_commands_import_no_server_code() -> None:
    modules = ["client", "topics", "produce", "consume", "output"]
    code = (
        f"import sys; import {', '.join('riverlog.cli.' + m for m in modules)}; "
        "server = ('riverlog.broker', 'riverlog.storage', 'riverlog.protocol', 'riverlog.cluster', "
        "'riverlog.coordinator', 'riverlog.metadata'); "
        "print([m for m in sys.modules if m.startswith(server)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
