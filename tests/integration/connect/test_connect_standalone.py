"""Standalone mode end to end: a real broker, FileStreamSource/FileStreamSink from files, offsets in the
offset file, a restart that resumes where it stopped, and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from riverlog.connect.standalone import ConnectStandalone
from riverlog.testing.broker import RunningBroker
from riverlog.testing.waiting import wait_until

SRC = str(Path(__file__).resolve().parents[3] / "src")


def worker_props(broker: RunningBroker, tmp: Path) -> dict[str, str]:
    return {
        "bootstrap.servers": broker.bootstrap_servers,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "offset.storage.file.filename": str(tmp / "connect.offsets"),
        "offset.flush.interval.ms": "300",
        "listeners": "http://127.0.0.1:0",
    }


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_file_source_to_file_sink_from_files_and_resume(
    broker: RunningBroker, tmp_path: Path, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    source_in, sink_out = tmp_path / "in.txt", tmp_path / "out.txt"
    source_in.write_text("".join(f"line-{i}\n" for i in range(100)))
    (tmp_path / "source.properties").write_text(
        f"name=local-file-source\nconnector.class=FileStreamSource\ntasks.max=1\nfile={source_in}\ntopic={topic}\n"
    )
    (tmp_path / "sink.json").write_text(
        json.dumps(
            {
                "name": "local-file-sink",
                "config": {
                    "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                    "tasks.max": "1",
                    "file": str(sink_out),
                    "topics": topic,
                },
            }
        )
    )
    files = [tmp_path / "source.properties", tmp_path / "sink.json"]
    with ConnectStandalone(worker_props(broker, tmp_path), files) as worker:
        wait_until(lambda: len(lines_of(sink_out)) == 100)
        status = httpx.get(f"{worker.url}/connectors/local-file-source/status").json()
        assert (
            status["connector"]["state"] == "RUNNING" and status["tasks"][0]["state"] == "RUNNING"
        )
        assert status["type"] == "source"
        with source_in.open("a") as fh:
            fh.write("".join(f"line-{i}\n" for i in range(100, 150)))
        wait_until(lambda: len(lines_of(sink_out)) == 150)
        # the offset of the last line is stored in Kafka's key/value shapes
        wait_until(lambda: (tmp_path / "connect.offsets").exists())
        expected = {
            "offsets": [
                {
                    "partition": {"filename": str(source_in)},
                    "offset": {"position": source_in.stat().st_size},
                }
            ]
        }
        # offsets are flushed every offset.flush.interval.ms, after the records are delivered
        wait_until(
            lambda: (
                httpx.get(f"{worker.url}/connectors/local-file-source/offsets").json() == expected
            )
        )
    doc = json.loads((tmp_path / "connect.offsets").read_text())
    assert doc["format"] == "riverlog-connect-offsets"
    assert doc["offsets"] == [
        [
            ["local-file-source", {"filename": str(source_in)}],
            {"position": source_in.stat().st_size},
        ]
    ]
    # A new worker over the same offsets file and group resumes: nothing is read or written twice.
    with source_in.open("a") as fh:
        fh.write("line-150\nline-151\n")
    with ConnectStandalone(worker_props(broker, tmp_path), files):
        wait_until(lambda: len(lines_of(sink_out)) >= 152)
        time.sleep(1.0)  # let any duplicate show up before checking there is none
    assert lines_of(sink_out) == [f"line-{i}" for i in range(152)]


def run_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC, **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "riverlog", "connect", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_refuses_unknown_worker_key_naming_it(tmp_path: Path) -> None:
    cfg = tmp_path / "worker.properties"
    cfg.write_text(
        "key.converter=StringConverter\nvalue.converter=StringConverter\noffset.storage.file.filename=/tmp/o\nofset.flush.interval.ms=10\n"
    )
    proc = run_cli("standalone", str(cfg))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.strip().splitlines() == [
        "riverlog: error: invalid configuration: ofset.flush.interval.ms: Unknown configuration 'ofset.flush.interval.ms'"
    ]


def test_cli_standalone_runs_until_sigterm(
    broker: RunningBroker, tmp_path: Path, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    source_in = tmp_path / "in.txt"
    source_in.write_text("a\nb\n")
    props = worker_props(broker, tmp_path)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    props["listeners"] = f"http://127.0.0.1:{port}"
    cfg = tmp_path / "worker.properties"
    cfg.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    conn = tmp_path / "src.json"
    conn.write_text(
        json.dumps(
            {
                "name": "cli-src",
                "connector.class": "FileStreamSource",
                "file": str(source_in),
                "topic": topic,
            }
        )
    )
    proc = run_cli("standalone", str(cfg), str(conn))
    try:

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/connectors").json() == ["cli-src"]
            except httpx.HTTPError:
                return False

        wait_until(up, 60)
        info = httpx.get(f"http://127.0.0.1:{port}/").json()
        assert info["version"] and "kafka_cluster_id" in info
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")
