"""Starts the platform's services as child processes and stops them in reverse order.

Invariants: a child is started only after every service before it in the plan accepts connections on
its port (the broker first, since everything needs it); the services after the broker start together.
On stop (Ctrl-C, SIGTERM, or a child that died) children get SIGTERM in reverse start order, each
waited for up to `stop_timeout_s`, then SIGKILL. Children die with the platform if it is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from riverlog.common.processes import die_with_parent, port_accepts
from riverlog.platform.services import ServiceSpec


class PlatformError(RuntimeError):
    """A service did not start or stopped on its own; the message names it and its log."""


@dataclass
class RunningService:
    spec: ServiceSpec
    process: subprocess.Popen[bytes]
    log_path: Path


class Platform:
    def __init__(
        self,
        specs: Sequence[ServiceSpec],
        log_dir: Path,
        *,
        host: str = "localhost",
        start_timeout_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.specs = list(specs)
        self.log_dir = log_dir
        self.host = host
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.echo = echo
        self.running: list[RunningService] = []

    def start(self) -> None:
        """Start the broker, then the other services together; raise PlatformError if one fails."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.specs:
            if spec.skipped is not None:
                self.echo(f"{spec.name:<9} skipped: {spec.skipped}")
        wanted = [spec for spec in self.specs if spec.skipped is None]
        first, rest = wanted[:1], wanted[1:]
        for wave in (first, rest):
            started = [self._launch(spec) for spec in wave]
            for service in started:
                self._wait_ready(service)
                self.echo(f"{service.spec.name:<9} {service.spec.url:<24} log {service.log_path}")

    def _launch(self, spec: ServiceSpec) -> RunningService:
        if spec.data_dir is not None:
            spec.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{spec.name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "riverlog", *spec.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
                start_new_session=True,  # Ctrl-C reaches the platform only; it stops them in order
            )
        service = RunningService(spec, process, log_path)
        self.running.append(service)
        return service

    def _wait_ready(self, service: RunningService) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while not port_accepts(self.host, service.spec.port, timeout=0.2):
            if service.process.poll() is not None:
                raise PlatformError(
                    f"{service.spec.name} exited with code {service.process.returncode} "
                    f"while starting: see {service.log_path}\n{_tail(service.log_path)}"
                )
            if time.monotonic() > deadline:
                raise PlatformError(
                    f"{service.spec.name} did not listen on port {service.spec.port} within "
                    f"{self.start_timeout_s:g} s (--start-timeout): see {service.log_path}"
                )
            time.sleep(0.05)

    def watch(self, poll_s: float = 0.5) -> None:
        """Block until a service exits on its own (raises PlatformError naming it)."""
        while True:
            for service in self.running:
                if service.process.poll() is not None:
                    raise PlatformError(
                        f"{service.spec.name} stopped on its own (exit code "
                        f"{service.process.returncode}): see {service.log_path}"
                    )
            time.sleep(poll_s)

    def stop(self) -> None:
        """SIGTERM each service in reverse start order, waiting for each; SIGKILL stragglers."""
        for service in reversed(self.running):
            process = service.process
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.running.clear()


def _tail(path: Path, lines: int = 10) -> str:
    try:
        text = path.read_bytes()[-16 * 1024 :].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
