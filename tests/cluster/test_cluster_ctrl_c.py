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

from riverlog.testing.processes import free_port


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
        os.killpg(harness.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        began = time.monotonic()
        output = harness.communicate(timeout=60)[0]
        stopped_after = time.monotonic() - began
    finally:
        if harness.poll() is None:
            os.killpg(harness.pid, signal.SIGKILL)
    assert harness.returncode == 0, output
    for broker_id in (1, 2):
        log = (data / f"broker-{broker_id}.log").read_text()
        assert f"broker {broker_id} stopped cleanly" in log
        assert "Connection dropped" not in log, f"broker {broker_id} lost ZooKeeper while stopping"
    print(f"harness stopped {stopped_after:.1f} s after Ctrl-C")
