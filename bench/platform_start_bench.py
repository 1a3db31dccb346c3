"""How long `riverlog platform start` takes from a fresh data directory until every service answers
(issue 17's "every service answers on its port within 5 s").

Runs the real command `--runs` times, each with a fresh data dir and free ports, and measures from the
process start until: the broker answers a Metadata request (confluent-kafka's list_topics), the
registry answers `GET /subjects`, Connect `GET /`, the SQL server `GET /info` and the console `GET /`.
Run: `python -m bench.platform_start_bench [--runs N] [--append]`. Figures are measurements, never test
assertions.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from confluent_kafka.admin import AdminClient

from riverlog.common.processes import free_port

RESULTS = Path(__file__).with_name("RESULTS.md")
SERVICES = ("broker", "registry", "connect", "sql", "console")


def _http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def _broker_ok(bootstrap: str) -> Callable[[], bool]:
    def check() -> bool:
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        try:
            admin.list_topics(timeout=1)
            return True
        except Exception:
            return False

    return check


def one_run(timeout_s: float) -> dict[str, float]:
    ports = {name: free_port() for name in (*SERVICES, "metrics")}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "riverlog", "platform", "start", "--data-dir", tmp,
               "--host", "127.0.0.1", "--broker-port", str(ports["broker"]),
               "--registry-port", str(ports["registry"]), "--connect-port", str(ports["connect"]),
               "--sql-port", str(ports["sql"]), "--console-port", str(ports["console"]),
               "--metrics-port", str(ports["metrics"])]  # fmt: skip
        checks = {
            "broker": _broker_ok(f"127.0.0.1:{ports['broker']}"),
            "registry": _http_ok(f"http://127.0.0.1:{ports['registry']}/subjects"),
            "connect": _http_ok(f"http://127.0.0.1:{ports['connect']}/"),
            "sql": _http_ok(f"http://127.0.0.1:{ports['sql']}/info"),
            "console": _http_ok(f"http://127.0.0.1:{ports['console']}/"),
        }
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        ready: dict[str, float] = {}
        try:
            while len(ready) < len(checks) and time.monotonic() - t0 < timeout_s:
                for name, check in checks.items():
                    if name not in ready and check():
                        ready[name] = time.monotonic() - t0
                time.sleep(0.05)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        ready["all"] = max(ready.values()) if len(ready) == len(checks) else float("nan")
        return ready


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument(
        "--append", action="store_true", help="append the table to bench/RESULTS.md"
    )
    args = parser.parse_args()
    load = os.getloadavg()
    runs = [one_run(args.timeout) for _ in range(args.runs)]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "",
        f"## riverlog platform start, fresh data dir, until each service answers ({when})",
        "",
        f"`python -m bench.platform_start_bench --runs {args.runs}`; x86_64, 2 shared vCPUs; load average "
        f"before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}. Seconds from the process start; median "
        "(min-max) of the runs. Goal (issue 17): every service within 5 s.",
        "",
        "| service | answers after, s |",
        "| --- | --- |",
    ]
    for name in (*SERVICES, "all"):
        values = [r[name] for r in runs if name in r]
        lines.append(
            f"| {name} | {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f}) |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.append:
        with RESULTS.open("a") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
