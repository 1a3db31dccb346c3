"""`make cluster`'s Ctrl-C: the terminal signals the harness's process group; brokers stop first, cleanly,
while ZooKeeper still runs (before the fix ZooKeeper died with the same SIGINT and the brokers retried it
for ~30 s while they shut down)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from riverlog.testing.processes import child_processes, free_port, process_alive


def test_ctrl_c_stops_brokers_before_zookeeper(tmp_path: Path) -> None:
    data = tmp_path / "cluster"
    harness = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "riverlog.testing.cluster",
            "--data-dir",
            str(data),
            "--size",
            "2",
            "--port",
            "0",
            "--zookeeper-port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the harness leads its own group, as a shell's foreground job does
    )
    try:
        assert harness.stdout is not None
        lines = []
        for line in harness.stdout:
            lines.append(line)
            if "Ctrl-C stops them all" in line:
                break
        assert any("bootstrap servers" in line for line in lines), "".join(lines)
        children = child_processes(harness.pid)
        zookeeper = [pid for pid, command in children.items() if "java" in command]
        brokers = [
            pid
            for pid, command in children.items()
            if "broker start" in command and "java" not in command
        ]
        assert len(zookeeper) == 1 and len(brokers) == 2, children
        os.killpg(harness.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        began = time.monotonic()
        last_broker_gone = zookeeper_gone = None
        while harness.poll() is None and time.monotonic() - began < 60:
            now = time.monotonic()
            if last_broker_gone is None and not any(process_alive(pid) for pid in brokers):
                last_broker_gone = now
            if zookeeper_gone is None and not process_alive(zookeeper[0]):
                zookeeper_gone = now
            time.sleep(0.01)
        output = harness.communicate(timeout=60)[0]
        stopped_after = time.monotonic() - began
    finally:
        if harness.poll() is None:
            os.killpg(harness.pid, signal.SIGKILL)
    assert harness.returncode == 0, output
    assert last_broker_gone is not None and zookeeper_gone is not None
    assert zookeeper_gone >= last_broker_gone, "ZooKeeper stopped before the brokers"
    for broker_id in (1, 2):
        log = (data / f"broker-{broker_id}.log").read_text()
        assert f"broker {broker_id} stopped cleanly" in log
    print(f"harness stopped {stopped_after:.1f} s after Ctrl-C")
