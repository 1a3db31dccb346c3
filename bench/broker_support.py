"""Processes and tools for the broker benchmark: a riverlog broker subprocess, redis-server, the librdkafka
mock cluster, `rdkafka_performance`, and /proc readings (RSS, CPU time).

Every server started here listens on 127.0.0.1 on a free port and is stopped (SIGTERM, then SIGKILL) when
its context manager exits; data directories are temporary and removed afterwards.

Missing tools are installed the way a fresh machine needs them: `rdkafka_performance` is built by
`bench/librdkafka_build.sh` (Debian's librdkafka source), redis-server/redis-benchmark come from Debian's
`redis-server` package (`apt-get install`, only when running as root).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RIVERLOG = str(Path(sys.executable).parent / "riverlog")
LIBRDKAFKA_ENV = BENCH_DIR / "tools" / "librdkafka.env"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BUILD_WAIT_S = 900


class BenchError(RuntimeError):
    """A benchmark step could not run (missing tool, server that never came up, bad output)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> float:
    """Poll connect() every 2 ms until the port accepts; returns the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args!r} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return time.perf_counter() - start
        except OSError:
            time.sleep(0.002)
    raise BenchError(f"nothing accepted on port {port} within {timeout} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for pid {pid}")


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used so far (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    return sum(cpu_times(pid))


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class BrokerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    launch_to_accept_s: float
    data_dir: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid


def bytecode_env(cache_dir: Path | None) -> dict[str, str]:
    """The environment for a broker process with (`cache_dir`) or without a bytecode cache.

    With a directory: .pyc files are read from and written to it (PYTHONPYCACHEPREFIX), so after one
    launch every module, riverlog's included, loads as from a pip-installed, byte-compiled package.
    Without: PYTHONDONTWRITEBYTECODE=1, so modules without a .pyc beside them (an editable checkout's
    sources that were never byte-compiled) are compiled on every launch."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPYCACHEPREFIX",)}
    if cache_dir is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache_dir)
    return env


@contextmanager
def riverlog_broker(
    log_path: Path, launcher: list[str] | None = None, env: dict[str, str] | None = None
) -> Iterator[BrokerProcess]:
    """`riverlog broker start` on a free port with a temporary data dir, Kafka's default settings.
    `launcher`, when given, replaces `riverlog broker start` (it must take --listen and --data-dir);
    `env`, when given, is the process's environment."""
    with tempfile.TemporaryDirectory(prefix="riverlog-bench-") as tmp:
        port = free_port()
        if launcher is None:
            cmd = [RIVERLOG, "broker", "start", "--log-level", "WARNING"]
        else:
            cmd = list(launcher)
        cmd += ["--listen", f"127.0.0.1:{port}", "--data-dir", tmp]
        with log_path.open("ab") as log:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            try:
                wait_for_port(port, proc)
                launched = time.perf_counter() - start
                yield BrokerProcess(proc, port, launched, Path(tmp))
            finally:
                stop_process(proc)


@contextmanager
def redis_server() -> Iterator[tuple[int, int]]:
    """Debian's redis-server on a free loopback port, in memory only (no RDB, no AOF): (port, pid)."""
    ensure_redis()
    port = free_port()
    cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    cmd += ["--appendonly", "no", "--daemonize", "no", "--logfile", ""]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield port, proc.pid
    finally:
        stop_process(proc)


@contextmanager
def mock_cluster() -> Iterator[tuple[str, int]]:
    """librdkafka's mock cluster (one broker) from the confluent-kafka wheel, held by a child process:
    (bootstrap address, pid)."""
    cmd = [sys.executable, "-m", "bench.mock_cluster"]
    proc = subprocess.Popen(
        cmd, cwd=REPO_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        bootstrap = proc.stdout.readline().decode().strip()
        if ":" not in bootstrap:
            raise BenchError("mock cluster did not report its address")
        yield bootstrap, proc.pid
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        stop_process(proc, timeout=10)


def rdkafka_performance() -> tuple[str, str]:
    """(path, version) of librdkafka's rdkafka_performance, built by bench/librdkafka_build.sh on a
    machine that has never built it (no bench/tools/librdkafka.env).

    When the env file exists but the binary does not, a build is under way or was cleaned (the compat
    suite shares the build tree): wait for it rather than start a second build in the same tree."""
    found = _read_librdkafka_env()
    if found is None:
        print("building rdkafka_performance (bench/librdkafka_build.sh) ...", flush=True)
        subprocess.run(["bash", str(BENCH_DIR / "librdkafka_build.sh")], check=True)
        found = _read_librdkafka_env()
        if found is None:
            raise BenchError(f"{LIBRDKAFKA_ENV} names no LIBRDKAFKA_PERF")
    deadline = time.monotonic() + BUILD_WAIT_S
    while not os.access(found[0], os.X_OK):
        if time.monotonic() > deadline:
            raise BenchError(f"{found[0]} is missing: run 'bash bench/librdkafka_build.sh'")
        print(f"waiting for {found[0]} (a librdkafka build is under way?) ...", flush=True)
        time.sleep(15)
    return found


def _read_librdkafka_env() -> tuple[str, str] | None:
    if not LIBRDKAFKA_ENV.exists():
        return None
    values = dict(
        line.split("=", 1) for line in LIBRDKAFKA_ENV.read_text().splitlines() if "=" in line
    )
    if "LIBRDKAFKA_PERF" not in values:
        return None
    return values["LIBRDKAFKA_PERF"], values.get("LIBRDKAFKA_VERSION", "?")


def ensure_redis() -> None:
    if shutil.which("redis-server") and shutil.which("redis-benchmark"):
        return
    if os.geteuid() != 0:
        raise BenchError("redis-server is missing: run 'sudo apt-get install redis-server'")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    # Debian's package starts a system service on 6379 where an init system runs; we use our own.
    subprocess.run(["service", "redis-server", "stop"], check=False, capture_output=True)


def ensure_py_spy() -> str:
    """Path of py-spy in this virtualenv, installed from PyPI when missing (only for --profile)."""
    path = Path(sys.executable).parent / "py-spy"
    if not path.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return str(path)
