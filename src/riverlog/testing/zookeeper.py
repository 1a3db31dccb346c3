"""A standalone ZooKeeper server (Debian's `zookeeper` package) as a subprocess, for tests and `make cluster`.

    with ZooKeeperServer(tmp_path / "zk") as zk:
        KazooClient(hosts=zk.connect_string)

Files under `data_dir` (ours):
- `zoo.cfg`: generated on every start (client port, tickTime, admin server off, `ruok`/`srvr` allowed).
- `data/`: ZooKeeper's own snapshots and transaction logs (`version-2/`), untouched by us.
- `zookeeper.log`: the JVM's stdout and stderr (slf4j-simple logs to stderr), appended across restarts.

Invariants: the client port is chosen once (a free one when `port=0`) and kept for the server's life, so
`restart()` comes back at the same address with the same data, as a real ensemble member would. `start()`
returns only once the server answers `srvr` with a `Mode:` line (it is serving; `ruok` answers `imok`
before the database is loaded, so it is not enough).

Crash behaviour: `kill()` is SIGKILL; ZooKeeper recovers from its snapshot and transaction log on the
next start. With `force_sync=False` (the default, for speed) ZooKeeper does not fsync its log: a process
kill loses nothing (the page cache survives it), a machine crash may.

Start-up speed: the JVM runs with the serial GC, the C1 compiler only, a small heap and a dynamic
class-data-sharing archive (`-XX:SharedArchiveFile`, under ~/.cache/riverlog), written at the exit of
the first server that runs without one and reused from then on. Measured with `measure_startup`
(launch until `srvr` reports a mode, median of 7 interleaved runs on two shared cores): default JVM
0.74 s wall / 0.97 s CPU; these flags 0.60 s / 0.81 s; flags and archive 0.44 s / 0.60 s.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from riverlog.testing.processes import die_with_parent, free_port, log_tail

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
# ZooKeeper logs through slf4j; without a binding it logs nothing at all.
SLF4J_BINDINGS = (Path("/usr/share/java/slf4j-simple.jar"), Path("/usr/share/java/slf4j-nop.jar"))
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"
FAST_JVM_FLAGS = (
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xshare:auto",
    "-Xms16m",
    "-Xmx256m",
    "-XX:-UsePerfData",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
)


class ZooKeeperError(Exception):
    """The ZooKeeper server could not be started or did not answer."""


class ZooKeeperNotInstalled(ZooKeeperError):
    """Debian's `zookeeper` package (or java) is missing."""


class ZooKeeperServer:
    """One standalone ZooKeeper server in its own JVM, listening on `host` (127.0.0.1 by default;
    a Network's gateway when brokers run in network namespaces)."""

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        tick_time_ms: int = 500,
        force_sync: bool = False,
        start_timeout: float = 30.0,
        settings: Mapping[str, str] | None = None,
        cds_dir: Path | None = None,
        class_sharing: bool = True,
        jvm_flags: Sequence[str] = FAST_JVM_FLAGS,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self._port = port
        self._port_chosen = port == 0
        self.tick_time_ms = tick_time_ms
        self.force_sync = force_sync
        self.start_timeout = start_timeout
        self.settings = dict(settings or {})
        self.cds_dir = cds_dir if cds_dir is not None else default_cds_dir()
        self.class_sharing = class_sharing
        self.jvm_flags = tuple(jvm_flags)
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._archive_being_written: Path | None = None

    # -- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port == 0:
            raise ZooKeeperError("ZooKeeper has no port yet: start it first")
        return self._port

    @property
    def connect_string(self) -> str:
        """`HOST:PORT`, as Kafka's `zookeeper.connect` takes it (append `/chroot` for a chroot)."""
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "zookeeper.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> ZooKeeperServer:
        """Start the server and wait until it serves; retries on a new port if a chosen one was taken."""
        if self.is_running:
            return self
        for attempt in range(3):
            if self._port == 0 or (self._port_chosen and attempt > 0):
                self._port = free_port(self.host)
            try:
                self._start_once()
                self._port_chosen = False  # from now on the port is this server's address
                return self
            except ZooKeeperError:
                if not (self._port_chosen and self._port_in_use()):
                    raise
        raise ZooKeeperError(f"no free port for ZooKeeper after 3 attempts; see {self.log_path}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait (SIGKILL after `timeout`)."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None
        self._maybe_publish_archive()

    def kill(self) -> None:
        """SIGKILL: the server stops at once, as after a crash."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        self._process = None
        self._discard_partial_archive()

    def restart(self) -> ZooKeeperServer:
        """Stop cleanly and start again on the same port with the same data."""
        self.stop()
        return self.start()

    def __enter__(self) -> ZooKeeperServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- four-letter words ---------------------------------------------------------------------

    def four_letter_word(self, word: str, timeout: float = 2.0) -> str:
        """Send `ruok` or `srvr` (the two allowed by our zoo.cfg); return the answer."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as conn:
            conn.sendall(word.encode("ascii"))
            chunks = []
            while chunk := conn.recv(4096):
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def is_serving(self) -> bool:
        """True when the server answers `srvr` with its mode (standalone)."""
        try:
            return "Mode:" in self.four_letter_word("srvr", timeout=1.0)
        except OSError:
            return False

    # -- internals -----------------------------------------------------------------------------

    def _start_once(self) -> ZooKeeperServer:
        # Write the config, launch the JVM, then poll `srvr` until it serves or the JVM exits.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "data").mkdir(exist_ok=True)
        config_path = self.data_dir / "zoo.cfg"
        config_path.write_text(render_config(self.zoo_cfg()))
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(config_path),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
                # its own process group: a terminal's Ctrl-C reaches only the harness, which then
                # stops brokers before ZooKeeper (they would otherwise retry a dead ZooKeeper)
                start_new_session=True,
            )
        self._wait_until_serving()
        self.startup_seconds = time.monotonic() - began
        return self

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not self.is_serving():
            assert self._process is not None
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                self._discard_partial_archive()
                raise ZooKeeperError(
                    f"ZooKeeper exited with code {code} while starting; "
                    f"{self.log_path} ends with:\n{log_tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise ZooKeeperError(
                    f"ZooKeeper did not serve within {self.start_timeout} s; "
                    f"{self.log_path} ends with:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.02)

    def zoo_cfg(self) -> dict[str, str]:
        """The zoo.cfg settings this server starts with."""
        config = {
            "tickTime": str(self.tick_time_ms),
            "dataDir": str((self.data_dir / "data").resolve()),
            "clientPort": str(self._port),
            "clientPortAddress": self.host,
            "admin.enableServer": "false",
            "4lw.commands.whitelist": "ruok,srvr",
            # Kafka's zookeeper.session.timeout.ms default (18 s) exceeds 20 ticks of 500 ms.
            "maxSessionTimeout": "60000",
            "forceSync": "yes" if self.force_sync else "no",
            # Transaction log files are preallocated in blocks of this many KiB (default 64 MiB).
            "preAllocSize": "4096",
            "maxClientCnxns": "0",
        }
        config.update(self.settings)
        return config

    def _command(self, config_path: Path) -> list[str]:
        flags = [*self.jvm_flags, *(self._cds_flags() if self.class_sharing else [])]
        return [java_binary(), *flags, "-cp", classpath(), MAIN_CLASS, str(config_path)]

    def _cds_flags(self) -> list[str]:
        # Use the shared archive when one exists; otherwise have this JVM write one at its exit.
        archive = self._archive_path()
        if archive is None:
            return []
        if archive.exists():
            return [f"-XX:SharedArchiveFile={archive}"]
        partial = archive.with_name(f"{archive.name}.{os.getpid()}.{id(self)}.partial")
        self._archive_being_written = partial
        return [f"-XX:ArchiveClassesAtExit={partial}"]

    def _archive_path(self) -> Path | None:
        try:
            self.cds_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        return self.cds_dir / f"zookeeper-{runtime_fingerprint()}.jsa"

    def _maybe_publish_archive(self) -> None:
        # The JVM wrote the archive at its exit; rename it into place unless another got there first.
        partial, self._archive_being_written = self._archive_being_written, None
        archive = self._archive_path()
        if partial is None or archive is None or not partial.exists():
            return
        if archive.exists():
            partial.unlink(missing_ok=True)
        else:
            partial.replace(archive)

    def _discard_partial_archive(self) -> None:
        partial, self._archive_being_written = self._archive_being_written, None
        if partial is not None:
            partial.unlink(missing_ok=True)

    def _port_in_use(self) -> bool:
        return "Address already in use" in log_tail(self.log_path, lines=40)


def render_config(config: Mapping[str, str]) -> str:
    """zoo.cfg text: one `key=value` a line."""
    return "".join(f"{key}={value}\n" for key, value in config.items())


def java_binary() -> str:
    java = shutil.which("java")
    if java is None:
        raise ZooKeeperNotInstalled("java is not installed: run `make system-deps` as root")
    return java


def classpath() -> str:
    """ZooKeeper's jar (its manifest names its dependencies) plus an slf4j binding."""
    if not ZOOKEEPER_JAR.exists():
        raise ZooKeeperNotInstalled(
            f"{ZOOKEEPER_JAR} is missing: install Debian's zookeeper package (`make system-deps`)"
        )
    binding = next((str(jar) for jar in SLF4J_BINDINGS if jar.exists()), None)
    return os.pathsep.join([str(ZOOKEEPER_JAR), *([binding] if binding else [])])


def runtime_fingerprint() -> str:
    """Names the CDS archive after the JVM and jars it was made with, so an upgrade makes a new one."""
    parts = [os.path.realpath(java_binary())]
    for entry in [Path(java_binary()).resolve(), *map(Path, classpath().split(os.pathsep))]:
        stat = entry.resolve().stat()
        parts.append(f"{entry.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def default_cds_dir() -> Path:
    """`$XDG_CACHE_HOME/riverlog`, else `~/.cache/riverlog`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "riverlog"


def measure_startup(base_dir: Path, runs: int = 5, **options: Any) -> list[float]:
    """Start and stop a server `runs` times on fresh data (`options` go to ZooKeeperServer);
    the wall seconds from launch until each served."""
    timings = []
    for run in range(runs):
        server = ZooKeeperServer(base_dir / f"zk-{run}", **options)
        with server:
            assert server.startup_seconds is not None
            timings.append(server.startup_seconds)
    return timings
