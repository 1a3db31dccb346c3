"""One broker in its own process (`python -m riverlog broker start ...`), for cluster tests.

Files: the broker's data dir (the broker's own) and `log_path` (its stdout and stderr, appended across
restarts, each start preceded by a `---` line with the command).

Invariants: the port is chosen once (a free one unless given) and kept across restarts. `paused` is true
between `pause()` (SIGSTOP) and `resume()` (SIGCONT); `stop()` resumes a paused broker before SIGTERM.

Crash behaviour: `kill()` is SIGKILL. The process gets SIGKILL when the process that started it dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from riverlog.testing.cluster_view import ClusterMetadata, fetch_metadata
from riverlog.testing.processes import die_with_parent, free_port, log_tail, port_accepts


class ClusterError(Exception):
    """A broker process failed to start, or a condition was not reached in time."""


class BrokerProcess:
    """One broker in its own process; output to `log_path`."""

    def __init__(
        self,
        broker_id: int,
        data_dir: Path,
        *,
        zookeeper: str | None,
        port: int = 0,
        host: str = "127.0.0.1",
        settings: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        command_prefix: Sequence[str] = (),
        python: str = sys.executable,
        start_timeout: float = 30.0,
    ) -> None:
        self.broker_id = broker_id
        self.data_dir = Path(data_dir)
        self.zookeeper = zookeeper
        self.host = host
        self._port = port
        self.settings = dict(settings or {})
        self.log_path = log_path or self.data_dir.with_name(f"{self.data_dir.name}.log")
        self.command_prefix = tuple(command_prefix)
        self.python = python
        self.start_timeout = start_timeout
        self.paused = False
        self._process: subprocess.Popen[bytes] | None = None

    # -- addresses and state ------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port == 0:
            self._port = free_port(self.host)
        return self._port

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def is_running(self) -> bool:
        """Started and not exited (a paused broker is running)."""
        return self._process is not None and self._process.poll() is None

    @property
    def is_live(self) -> bool:
        """Running and not paused."""
        return self.is_running and not self.paused

    @property
    def exit_code(self) -> int | None:
        return self._process.poll() if self._process is not None else None

    def command(self) -> list[str]:
        """The command line this broker runs with."""
        command = [*self.command_prefix, self.python, "-m", "riverlog", "broker", "start"]
        if self.zookeeper is not None:
            command += ["--zookeeper", self.zookeeper]
        command += ["--broker-id", str(self.broker_id)]
        if "listeners" not in self.settings:
            command += ["--listen", self.bootstrap]
        command += ["--data-dir", str(self.data_dir)]
        for key, value in self.settings.items():
            # Several listeners: `{bootstrap}` stands for this broker's own PLAINTEXT address,
            # e.g. listeners=PLAINTEXT://{bootstrap},SASL_SSL://127.0.0.1:0.
            command += ["--set", f"{key}={value.replace('{bootstrap}', self.bootstrap)}"]
        return command

    # -- life cycle -----------------------------------------------------------------------------

    def launch(self) -> None:
        """Start the process without waiting for it (see `wait_until_listening`)."""
        if self.is_running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} {' '.join(self.command())}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=broker_environment(),
                preexec_fn=die_with_parent,
                # its own process group: a terminal's Ctrl-C reaches only the harness, which then
                # stops brokers before ZooKeeper (they would otherwise retry a dead ZooKeeper)
                start_new_session=True,
            )
        self.paused = False

    def wait_until_listening(self, timeout: float | None = None) -> None:
        """Wait until the broker's port accepts connections; raise if the process exits first."""
        deadline = time.monotonic() + (self.start_timeout if timeout is None else timeout)
        while not port_accepts(self.host, self.port, timeout=0.5):
            self.check_alive()
            if time.monotonic() > deadline:
                raise ClusterError(f"broker {self.broker_id} not listening on {self.bootstrap}")
            time.sleep(0.05)

    def start(self) -> BrokerProcess:
        """Start and wait until the port accepts connections."""
        self.launch()
        self.wait_until_listening()
        return self

    def signal_stop(self) -> None:
        """Send SIGTERM (continuing a paused broker first) without waiting."""
        if self.is_running:
            assert self._process is not None
            self.resume()
            self._process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float) -> None:
        """Wait for the process to exit; SIGKILL it after `timeout` seconds."""
        process = self._process
        if process is None:
            return
        try:
            process.wait(max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (Kafka's controlled shutdown), wait; SIGKILL after `timeout` seconds."""
        self.signal_stop()
        self.wait_stopped(timeout)

    def kill(self) -> None:
        """SIGKILL: the broker stops at once, as after a crash."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
        self.paused = False

    def pause(self) -> None:
        """SIGSTOP: the process freezes, sockets stay open (a GC pause or a hung host)."""
        if self.is_running and not self.paused:
            assert self._process is not None
            self._process.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        """SIGCONT after `pause()`."""
        if self.is_running and self.paused:
            assert self._process is not None
            self._process.send_signal(signal.SIGCONT)
        self.paused = False

    def restart(self, timeout: float = 30.0) -> BrokerProcess:
        """Stop cleanly, then start again on the same port with the same data."""
        self.stop(timeout)
        return self.start()

    def check_alive(self) -> None:
        """Raise ClusterError (with the log's tail) when the process has exited."""
        if self._process is not None and self._process.poll() is not None:
            raise ClusterError(
                f"broker {self.broker_id} exited with code {self._process.returncode}; "
                f"{self.log_path} ends with:\n{log_tail(self.log_path)}"
            )

    def metadata(
        self, topics: Sequence[str] | None = None, timeout: float = 5.0
    ) -> ClusterMetadata:
        """Metadata as this broker sees it."""
        return fetch_metadata(self.host, self.port, topics, timeout=timeout)

    def __repr__(self) -> str:
        state = "paused" if self.paused else "running" if self.is_running else "stopped"
        return f"BrokerProcess(id={self.broker_id}, {self.bootstrap}, {state})"


def broker_environment() -> dict[str, str]:
    """This process's environment without RIVERLOG_* variables: the broker would read them as
    config (and refuse unknown ones such as RIVERLOG_CHAOS); a BrokerProcess is configured by flags."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RIVERLOG_")}
    environment["PYTHONUNBUFFERED"] = "1"
    return environment
