"""`riverlog console` as a command: serves the pages for a real broker until SIGTERM (exit 0), binds
to localhost by default; a bad --listen or a port in use is a one-line error."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
RIVERLOG = [sys.executable, "-m", "riverlog"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_console_serves_until_sigterm(broker: RunningBroker) -> None:
    port = free_port()
    command = [*RIVERLOG, "console", "--bootstrap-server", broker.bootstrap_servers]
    command += ["--listen", f"http://127.0.0.1:{port}", "--read-only"]
    command += ["--command-config", "client.id=riverlog-console-test"]  # librdkafka settings
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith(f"console on http://127.0.0.1:{port}") and "read-only" in first
        page = httpx.get(f"http://127.0.0.1:{port}/topics", timeout=20)
        assert page.status_code == 200 and "<h1>Topics</h1>" in page.text
        assert "app;dur=" in page.headers["server-timing"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_listens_on_localhost_by_default(broker: RunningBroker) -> None:
    from riverlog.cli.console import console

    defaults = console.__defaults__ or ()
    assert "http://localhost:8080" in defaults


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("8080", "not of the form http://host:port"),
        ("http://127.0.0.1:{busy}", "port in use"),
        ("http://127.0.0.1:0 --command-config no.such.setting=1", "--command-config"),
        ("http://127.0.0.1:0 --command-config nonsense", "KEY=VALUE"),
    ],
)
def test_bad_option_is_one_line(broker: RunningBroker, listen: str, expected: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        target, *more = listen.format(busy=busy.getsockname()[1]).split()
        started = time.monotonic()
        command = [*RIVERLOG, "console", "--bootstrap-server", broker.bootstrap_servers]
        result = subprocess.run(
            [*command, "--listen", target, *more],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("riverlog: error:"), result.stderr
    assert expected in lines[0]
    assert time.monotonic() - started < 60
