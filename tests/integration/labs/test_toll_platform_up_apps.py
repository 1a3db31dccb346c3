"""`riverlog labs toll up` with the streams apps, as a process, against a bare broker: it starts the
missing Connect worker, SQL server and console in its own process, runs the apps until `labs toll
down` stops it; generated passages end up as charges in PostgreSQL and balances in the console.

It needs the toll-app branch: without `riverlog.labs.toll.apps` it fails saying so (never skips)."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psycopg
import pytest

from riverlog.testing.broker import RunningBroker
from riverlog.testing.postgres import RunningPostgres
from riverlog.testing.toll_lab import wait_until

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "riverlog", "labs", "toll", *args]


ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3] / "src")}


def test_up_starts_what_is_missing_and_runs_the_apps(broker: RunningBroker, tmp_path: Path) -> None:
    try:
        importlib.import_module("riverlog.labs.toll.apps")
    except ImportError as exc:
        pytest.fail(
            f"riverlog.labs.toll.apps is missing (the toll-app branch is not merged): {exc}"
        )
    urls = {name: f"http://127.0.0.1:{free_port()}" for name in ("connect", "sql", "console")}
    common = ["--bootstrap-server", broker.bootstrap_servers, "--data-dir", str(tmp_path / "lab")]
    with RunningPostgres() as pg:
        process = subprocess.Popen(
            command(
                "up",
                *common,
                "--connect-url",
                urls["connect"],
                "--sql-url",
                urls["sql"],
                "--console-url",
                urls["console"],
                "--postgres-url",
                pg.dsn,
                "--seed",
                "5",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=ENV,
        )
        lines: list[str] = []
        threading.Thread(
            target=lambda: lines.extend(iter(process.stdout.readline, "")),  # type: ignore[union-attr]
            daemon=True,
        ).start()
        try:
            wait_until(
                lambda: (
                    any("the toll lab runs" in line for line in lines) or process.poll() is not None
                ),
                timeout_s=180,
                what="`labs toll up` running",
            )
            assert process.poll() is None, "".join(lines)
            output = "".join(lines)
            for name in ("connect", "sql", "console"):
                assert "not running" in output and urls[name] in output
            generate = subprocess.run(
                command("generate", *common, "--seed", "5", "--passages", "300"),
                capture_output=True,
                text=True,
                timeout=120,
                env=ENV,
            )
            assert generate.returncode == 0, generate.stderr

            def charges_in_postgres() -> int:
                with psycopg.connect(pg.dsn) as conn:
                    row = conn.execute("SELECT count(*) FROM charges").fetchone()
                    return int(row[0]) if row else 0

            wait_until(
                lambda: charges_in_postgres() > 0, timeout_s=180, what="charges in PostgreSQL"
            )
            wait_until(
                lambda: (
                    httpx.get(f"{urls['console']}/api/labs/toll/balances").json()["accounts"] > 0
                ),
                what="balances in the console",
            )
            down = subprocess.run(
                command(
                    "down",
                    *common,
                    "--connect-url",
                    urls["connect"],
                    "--sql-url",
                    urls["sql"],
                    "--postgres-url",
                    pg.dsn,
                ),
                capture_output=True,
                text=True,
                timeout=120,
                env=ENV,
            )
            assert down.returncode == 0, down.stderr
            assert process.wait(60) == 0, "".join(lines)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)
