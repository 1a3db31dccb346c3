"""`riverlog platform start` from the command line: every service it starts answers on its port, the broker
serves real clients, and Ctrl-C stops every child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from confluent_kafka import Consumer, Producer

from riverlog.common.processes import free_port, port_accepts
from riverlog.testing.processes import child_processes, process_alive

SERVICES = ("broker", "registry", "connect", "sql", "console")


def test_platform_starts_every_service_and_ctrl_c_stops_them(tmp_path: Path) -> None:
    ports = {name: free_port() for name in SERVICES}
    metrics_port = free_port()
    command = [
        sys.executable,
        "-m",
        "riverlog",
        "platform",
        "start",
        "--data-dir",
        str(tmp_path / "data"),
        "--host",
        "127.0.0.1",
        "--metrics-port",
        str(metrics_port),
    ]
    command += [arg for name in SERVICES for arg in (f"--{name}-port", str(ports[name]))]
    began = time.monotonic()
    platform = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        assert platform.stdout is not None
        lines: list[str] = []
        for line in platform.stdout:
            lines.append(line)
            if "Ctrl-C stops them all" in line:
                break
        output = "".join(lines)
        ready_after = time.monotonic() - began
        started = [
            name
            for name in SERVICES
            if any(line.startswith(name) and "skipped" not in line for line in lines)
        ]
        assert "broker" in started, output
        for name in SERVICES:  # each service is either started or skipped with a reason
            assert any(line.startswith(name) for line in lines), output
        for name in started:
            assert port_accepts("127.0.0.1", ports[name]), f"{name} does not answer\n{output}"
        children = list(child_processes(platform.pid))
        assert len(children) >= len(started)

        bootstrap = f"127.0.0.1:{ports['broker']}"
        topic = f"platform-{uuid.uuid4().hex[:8]}"
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce(topic, b"hello")
        assert producer.flush(15) == 0
        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest"}
        )
        consumer.subscribe([topic])
        message = None
        deadline = time.monotonic() + 20
        while message is None and time.monotonic() < deadline:
            candidate = consumer.poll(0.5)
            if candidate is not None and candidate.error() is None:
                message = candidate
        consumer.close()
        assert message is not None and message.value() == b"hello"
        if "console" in started:  # the console reads the same cluster (and the broker's metrics)
            topics = httpx.get(f"http://127.0.0.1:{ports['console']}/topics?q={topic}", timeout=20)
            assert topics.status_code == 200 and topic in topics.text
            rates = httpx.get(f"http://127.0.0.1:{ports['console']}/api/throughput", timeout=20)
            assert rates.status_code == 200 and rates.json()["error"] is None
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        assert f'kafka_server_brokertopicmetrics_messagesin_total{{topic="{topic}"}} 1.0' in scraped

        os.killpg(platform.pid, signal.SIGINT)  # the terminal's Ctrl-C
        rest = platform.communicate(timeout=60)[0]
    finally:
        if platform.poll() is None:
            os.killpg(platform.pid, signal.SIGKILL)
    assert platform.returncode == 0, output + rest
    assert "stopping" in rest
    assert all(not process_alive(pid) for pid in children), "a service outlived the platform"
    print(f"platform ready in {ready_after:.1f} s: {', '.join(started)}")


def test_a_service_slower_than_the_start_timeout_stops_the_platform(tmp_path: Path) -> None:
    """--start-timeout bounds each service's start: a broker cannot start in a millisecond (a new
    Python process alone takes longer), so the platform reports it, stops it and exits non-zero."""
    ports = {name: free_port() for name in SERVICES}
    command = [
        sys.executable, "-m", "riverlog", "platform", "start", "--data-dir", str(tmp_path / "data"),
        "--host", "127.0.0.1", "--metrics-port", str(free_port()), "--start-timeout", "0.001",
        *[arg for name in SERVICES for arg in (f"--{name}-port", str(ports[name]))],
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "broker did not listen on port" in done.stderr
    assert "within 0.001 s (--start-timeout)" in done.stderr
    assert not port_accepts("127.0.0.1", ports["broker"])  # stopped, not left behind

    bad = subprocess.run(
        [sys.executable, "-m", "riverlog", "platform", "start", "--start-timeout", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode != 0
    assert bad.stderr.strip() == (
        "riverlog: error: --start-timeout must be a positive number of seconds, not 0"
    )
