"""How long `riverlog registry start` takes, as `riverlog platform start` sees it, and where the time goes.

Runs the real command (a child process, as the platform does) against an in-process broker, `--runs`
times, idle and under load (two busy-looping processes, on a 2-core machine already shared with other
work), and measures: the process start until the REST port accepts connections (what the platform waits
for), until a first schema registration succeeds (a write needs the elected leader), and — in a fresh
interpreter — the phases of an in-process start (imports, building the server, replaying `_schemas`,
listening, the leader becoming known). Run: `python -m bench.registry_start_bench [--runs N] [--append]`.
Figures are measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from riverlog.common.processes import free_port, port_accepts
from riverlog.testing.broker import RunningBroker

RESULTS = Path(__file__).with_name("RESULTS.md")
PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
from riverlog.registry.election import LeaderElector
from riverlog.registry.server import RegistryServer
phases = {"import riverlog.registry.server": time.perf_counter() - t0}
props = {"listeners": "http://127.0.0.1:0", "kafkastore.bootstrap.servers": sys.argv[1]}
t = time.perf_counter(); server = RegistryServer(props); phases["build the server (REST app)"] = time.perf_counter() - t
t = time.perf_counter(); server.store.start(); phases["replay _schemas (store.start)"] = time.perf_counter() - t
t = time.perf_counter(); server.http.start(); phases["listen (uvicorn)"] = time.perf_counter() - t
t = time.perf_counter()
server.elector = LeaderElector(server.bootstrap, server.config["schema.registry.group.id"],
    server.config["kafkastore.topic"], server.advertised_url, eligible=True,
    session_timeout_ms=server.config["kafkastore.session.timeout.ms"])
server.elector.start(); server.elector.wait_for_leader(60)
phases["leader known (group join)"] = time.perf_counter() - t
t = time.perf_counter()
import httpx; httpx.AsyncClient()
phases["an httpx client (built eagerly before; now on first forward)"] = time.perf_counter() - t
server.stop()
print(json.dumps(phases))
"""


def burn(stop_at: float) -> None:
    while time.monotonic() < stop_at:
        pass


def one_start(bootstrap: str) -> tuple[float, float]:
    """(seconds to listen, seconds to a first successful registration) of one registry process."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "riverlog", "registry", "start",
        "--set", f"listeners={url}", "--set", f"kafkastore.bootstrap.servers={bootstrap}",
    ]  # fmt: skip
    began = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not port_accepts("127.0.0.1", port, timeout=0.2):
            if time.monotonic() - began > 120:
                raise RuntimeError("the registry did not listen within 120 s")
            time.sleep(0.02)
        listening = time.monotonic() - began
        schema = json.dumps({"type": "record", "name": f"r{port}", "fields": []})
        while True:
            answer = httpx.post(
                f"{url}/subjects/s{port}-value/versions", json={"schema": schema}, timeout=30
            )
            if answer.status_code == 200:
                break
            time.sleep(0.05)
        return listening, time.monotonic() - began
    finally:
        process.terminate()
        process.wait(30)


def phases(bootstrap: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", PHASES, bootstrap],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure(
    bootstrap: str, runs: int, loaded: bool
) -> tuple[list[float], list[float], dict[str, float]]:
    burners: list[multiprocessing.Process] = []
    if loaded:
        stop_at = time.monotonic() + 600
        burners = [multiprocessing.Process(target=burn, args=(stop_at,)) for _ in range(2)]
        for b in burners:
            b.start()
    try:
        results = [one_start(bootstrap) for _ in range(runs)]
        split = phases(bootstrap)
    finally:
        for b in burners:
            b.terminate()
            b.join()
    return [r[0] for r in results], [r[1] for r in results], split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--append", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    lines = [
        "## Schema registry start (issue 17: the platform's slow registry start)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.registry_start_bench "
        f"--runs {args.runs}` on {os.cpu_count()} cores shared with other sessions; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}. `riverlog registry start` as a child process "
        "against an in-process broker; 'under load' adds two busy-looping processes.",
        "",
        "| condition | to listening: median (min-max) | to first registration: median (min-max) |",
        "| --- | --- | --- |",
    ]
    splits = {}
    with tempfile.TemporaryDirectory() as tmp, RunningBroker(Path(tmp)) as broker:
        for loaded in (False, True):
            listening, registered, split = measure(broker.bootstrap_servers, args.runs, loaded)
            label = "under load" if loaded else "as found"
            splits[label] = split
            lines.append(
                f"| {label} | {statistics.median(listening):.2f} s ({min(listening):.2f}-"
                f"{max(listening):.2f}) | {statistics.median(registered):.2f} s "
                f"({min(registered):.2f}-{max(registered):.2f}) |"
            )
    lines += ["", "Phases of one in-process start (fresh interpreter):", ""]
    lines += ["| phase | as found | under load |", "| --- | --- | --- |"]
    for phase in splits["as found"]:
        lines.append(
            f"| {phase} | {splits['as found'][phase] * 1000:.0f} ms | "
            f"{splits['under load'][phase] * 1000:.0f} ms |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.append:
        with RESULTS.open("a") as results:
            results.write("\n" + text)


if __name__ == "__main__":
    main()
