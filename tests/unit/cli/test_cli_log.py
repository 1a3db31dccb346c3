"""`riverlog log dump` as a user runs it: a subprocess on real segment files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from riverlog.protocol.records import build_batch, build_control_batch
from riverlog.storage import AppendOrigin, LogConfig, PartitionLog

NOW = 1_700_000_000_000
SEGMENT = "00000000000000000000"


def riverlog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riverlog.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_log(directory: Path) -> Path:
    log = PartitionLog.open(directory, LogConfig(index_interval_bytes=1))
    records = [(b"key", b"\xffbinary", (("h", b"1"),), NOW), (b"k2", b"text", (), NOW + 1)]
    log.append(build_batch(records, compression=2), leader_epoch=4, now_ms=NOW)
    marker = build_control_batch(
        True, base_offset=0, producer_id=9, producer_epoch=1, coordinator_epoch=0,
        timestamp_ms=NOW,
    )  # fmt: skip
    log.append(marker, leader_epoch=4, now_ms=NOW, origin=AppendOrigin.COORDINATOR)
    log.close()
    return directory


def test_json_lines_with_records(tmp_path: Path) -> None:
    directory = make_log(tmp_path / "t-0")
    done = riverlog("log", "dump", str(directory / f"{SEGMENT}.log"), "--records", "--json")
    assert done.returncode == 0, done.stderr
    first, commit = (json.loads(line) for line in done.stdout.splitlines())
    assert (first["base_offset"], first["last_offset"], first["count"]) == (0, 1, 2)
    assert (first["codec"], first["partition_leader_epoch"], first["crc_valid"]) == (
        "snappy", 4, True
    )  # fmt: skip
    assert first["records"][0] == {
        "offset": 0, "timestamp": NOW, "key": "key", "value": "/2JpbmFyeQ==",
        "value_encoding": "base64", "headers": [{"key": "h", "value": "1"}],
    }  # fmt: skip
    assert first["records"][1]["value"] == "text"
    assert commit["is_control"] and commit["control_type"] == "COMMIT"
    assert commit["producer_id"] == 9 and commit["position"] == first["size"]


def test_tables_and_index_files(tmp_path: Path) -> None:
    directory = make_log(tmp_path / "t-0")
    done = riverlog(
        "log", "dump", str(directory / f"{SEGMENT}.log"), str(directory / f"{SEGMENT}.index"),
        "--records",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "true COMMIT" in done.stdout and "snappy" in done.stdout
    assert "0xff62696e617279" in done.stdout  # binary value as hex
    assert "position" in done.stdout  # the index table
    index = riverlog("log", "dump", str(directory / f"{SEGMENT}.index"), "--json")
    assert [json.loads(line)["offset"] for line in index.stdout.splitlines()] == [2]


def test_torn_tail_is_a_warning(tmp_path: Path) -> None:
    directory = make_log(tmp_path / "t-0")
    path = directory / f"{SEGMENT}.log"
    with path.open("ab") as f:
        f.write(b"\x00" * 10)
    done = riverlog("log", "dump", str(path), "--json")
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 2
    torn_at = path.stat().st_size - 10
    assert done.stderr.strip().endswith(f"partial batch header at position {torn_at} (10 bytes)")


def test_errors_are_one_line(tmp_path: Path) -> None:
    for args, message in (
        ([str(tmp_path / "missing.log")], "no such file"),
        ([str(tmp_path)], "is a directory"),
        ([str(make_log(tmp_path / "t-0") / "leader-epoch-checkpoint")], "not a segment file"),
    ):
        done = riverlog("log", "dump", *args)
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1 and message in done.stderr
        assert done.stderr.startswith("riverlog: error:") and "Traceback" not in done.stderr
