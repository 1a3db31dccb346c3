"""kcat (librdkafka's command-line client) against a real riverlog broker."""

from __future__ import annotations

import json
import shutil
import subprocess

from riverlog.testing.broker import RunningBroker

KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def kcat(*args: str, stdin: str | None = None) -> str:
    assert KCAT is not None, "kcat is not installed: `make test` installs it when run as root"
    done = subprocess.run(
        [KCAT, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_kcat_metadata_produce_consume(broker: RunningBroker, make_topic) -> None:
    topic = make_topic(partitions=2)
    listing = json.loads(kcat("-b", broker.bootstrap_servers, "-L", "-J"))
    names = {t["topic"]: t for t in listing["topics"]}
    assert len(names[topic]["partitions"]) == 2
    assert listing["brokers"][0]["id"] == 0
    lines = "\n".join(f"key{i}:value{i}" for i in range(100)) + "\n"
    kcat(
        "-b",
        broker.bootstrap_servers,
        "-P",
        "-t",
        topic,
        "-p",
        "1",
        "-K",
        ":",
        "-z",
        "zstd",
        stdin=lines,
    )
    out = kcat(
        "-b",
        broker.bootstrap_servers,
        "-C",
        "-t",
        topic,
        "-p",
        "1",
        "-o",
        "beginning",
        "-e",
        "-f",
        "%k=%s@%o\n",
    )
    assert out.splitlines() == [f"key{i}=value{i}@{i}" for i in range(100)]
    tail = kcat(
        "-b", broker.bootstrap_servers, "-C", "-t", topic, "-p", "1", "-o", "-3", "-e", "-f", "%s\n"
    )
    assert tail.splitlines() == ["value97", "value98", "value99"]


def test_kcat_headers_and_query_offsets(broker: RunningBroker, make_topic) -> None:
    topic = make_topic()
    kcat("-b", broker.bootstrap_servers, "-P", "-t", topic, "-H", "trace=abc", stdin="hello\n")
    out = kcat(
        "-b", broker.bootstrap_servers, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%h %s\n"
    )
    assert out.strip() == "trace=abc hello"
    query = kcat("-b", broker.bootstrap_servers, "-Q", "-t", f"{topic}:0:-1")
    assert f"{topic} [0] offset 1" in query
