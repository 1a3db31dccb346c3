"""The parts of the streams benchmarks: the input corpus, the implementations and their virtualenvs, the
app subprocess, and the output reader.

- Corpus: `lines` lines of `words_per_line` words drawn (seeded) from a fixed vocabulary with Zipf
  weights; the model is the exact count per word. The same seed gives the same lines on every machine.
- Implementations: riverlog.streams runs on this interpreter; Quix Streams and Faust pin their own
  confluent-kafka / aiokafka, so each runs from its own virtualenv (`<venv dir>/quix`, `<venv dir>/faust`),
  created here from PyPI when missing — never in the project's venv.
- Each app is a subprocess (`bench/streams_apps/*.py`) that prints `FIRST_READ <epoch ns>` when it
  tokenizes its first line; its stderr goes to a log file, the last lines of which are shown if it fails.
- The output reader assigns itself every partition of the output topic from the beginning
  (read_committed, no group) and hands each batch to a callback with the batch's receive time.
"""

from __future__ import annotations

import importlib
import os
import random
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from bench.broker_support import BenchError, stop_process

BENCH_DIR = Path(__file__).resolve().parent
APPS_DIR = BENCH_DIR / "streams_apps"
DEFAULT_VENV_DIR = Path(os.environ.get("RIVERLOG_BENCH_VENVS", "/work/venvs"))
LONG = struct.Struct(">q")
SEED = 11
VOCABULARY = 10_000
RIVERLOG_NAMES = (
    "StreamsBuilder",
    "KafkaStreams",
    "Serdes",
    "Consumed",
    "Grouped",
    "Materialized",
    "Produced",
)


# --- the corpus ---------------------------------------------------------------------------------


def vocabulary(size: int = VOCABULARY, seed: int = SEED) -> list[str]:
    """`size` distinct lower-case words of 3-10 letters, the same for the same seed."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: dict[str, None] = {}
    while len(words) < size:
        words["".join(rng.choices(letters, k=rng.randint(3, 10)))] = None
    return list(words)


def word_stream(count: int, seed: int = SEED) -> list[str]:
    """`count` words drawn from the vocabulary with Zipf (1/rank) weights."""
    vocab = vocabulary(seed=seed)
    cum: list[float] = []
    total = 0.0
    for rank in range(1, len(vocab) + 1):
        total += 1.0 / rank
        cum.append(total)
    return random.Random(seed + 1).choices(vocab, cum_weights=cum, k=count)


def corpus(lines: int, words_per_line: int = 10, seed: int = SEED) -> list[str]:
    words = word_stream(lines * words_per_line, seed)
    return [" ".join(words[i : i + words_per_line]) for i in range(0, len(words), words_per_line)]


def model_counts(lines: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(line.lower().split())
    return counts


def produce_lines(bootstrap: str, topic: str, partitions: int, lines: list[str]) -> None:
    """The lines into `topic`, round-robin over its partitions, no key; waits for every ack."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for i, line in enumerate(lines):
        while True:
            try:
                producer.produce(topic, line.encode(), partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120) != 0:
        raise BenchError(f"input records left unacknowledged in {topic}")


# --- implementations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Impl:
    """One implementation: `python` runs `script` with `--guarantee guarantee`; `missing` says why it
    cannot run here (then python is empty)."""

    name: str
    label: str
    script: str
    guarantee: str
    python: str = ""
    missing: str = ""


SPECS = {
    "riverlog-alos": ("riverlog.streams, at_least_once", "riverlog_wordcount.py", "alos", ""),
    "riverlog-eos": ("riverlog.streams, exactly_once_v2", "riverlog_wordcount.py", "eos", ""),
    "quix": ("Quix Streams, at-least-once", "quix_wordcount.py", "alos", "quixstreams"),
    "quix-eos": ("Quix Streams, exactly-once", "quix_wordcount.py", "eos", "quixstreams"),
    "faust": (
        "Faust (faust-streaming), at-least-once",
        "faust_wordcount.py",
        "alos",
        "faust-streaming",
    ),
}
DEFAULT_ORDER = ("quix", "faust", "riverlog-alos", "riverlog-eos")
VENV_NAMES = {"quixstreams": "quix", "faust-streaming": "faust"}
IMPORT_NAMES = {"quixstreams": "quixstreams", "faust-streaming": "faust"}


def resolve(names: list[str], venv_dir: Path) -> list[Impl]:
    impls = []
    for name in names:
        if name not in SPECS:
            raise BenchError(f"unknown implementation {name!r} (known: {', '.join(SPECS)})")
        label, script, guarantee, package = SPECS[name]
        if not package:
            missing = riverlog_streams_missing()
            python = "" if missing else sys.executable
        else:
            python, missing = ensure_venv(venv_dir / VENV_NAMES[package], package)
        impls.append(Impl(name, label, script, guarantee, python, missing))
    return impls


def riverlog_streams_missing() -> str:
    """ "" when riverlog.streams has the public API the app uses, else why not."""
    try:
        module = importlib.import_module("riverlog.streams")
    except ImportError as exc:
        return f"riverlog.streams not available ({exc})"
    absent = [n for n in RIVERLOG_NAMES if not hasattr(module, n)]
    if absent:
        return f"riverlog.streams not available (no {', '.join(absent)})"
    return ""


def ensure_venv(path: Path, package: str) -> tuple[str, str]:
    """(python, "") of a virtualenv at `path` holding `package` from PyPI, created when missing;
    ("", why) when it cannot be made."""
    python = path / "bin" / "python"
    check = [str(python), "-c", f"import {IMPORT_NAMES[package]}"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return str(python), ""
    print(f"creating {path} with {package} from PyPI ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(path)],
        [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "-q", package],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
            return "", f"could not install {package}: {tail[0]}"
    if subprocess.run(check, capture_output=True).returncode != 0:
        return "", f"{package} installed but does not import"
    return str(python), ""


def package_version(impl: Impl) -> str:
    """The framework's version as its interpreter reports it ("" for riverlog)."""
    package = SPECS[impl.name][3]
    if not package or not impl.python:
        return ""
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    done = subprocess.run([impl.python, "-c", code], capture_output=True, text=True)
    return done.stdout.strip()


# --- the app subprocess ---------------------------------------------------------------------------


class AppProcess:
    """A running word-count app: its FIRST_READ time, and its process for /proc readings."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self.first_read_ns = 0
        self.first_read = threading.Event()
        self.on_first_read: Callable[[], None] | None = None
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("FIRST_READ ") and not self.first_read.is_set():
                self.first_read_ns = int(line.split()[1])
                if self.on_first_read is not None:
                    self.on_first_read()
                self.first_read.set()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " / ".join(line.replace("|", "/") for line in text[-lines:] if line.strip())


@contextmanager
def run_app(
    impl: Impl,
    bootstrap: str,
    input_topic: str,
    output_topic: str,
    app_id: str,
    partitions: int,
    work: Path,
) -> Iterator[AppProcess]:
    """The app running as a subprocess; stopped with SIGTERM (then SIGKILL after 30 s) on exit."""
    state_dir = work / f"{app_id}-state"
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = work / f"{app_id}.log"
    cmd = [impl.python, str(APPS_DIR / impl.script)]
    cmd += ["--bootstrap", bootstrap, "--input", input_topic, "--output", output_topic]
    cmd += ["--app-id", app_id, "--guarantee", impl.guarantee, "--state-dir", str(state_dir)]
    cmd += ["--partitions", str(partitions)]
    env = dict(os.environ)
    if impl.name.startswith("riverlog"):
        src = str(BENCH_DIR.parent / "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    else:
        env.pop("PYTHONPATH", None)  # the framework's own venv only
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=env, cwd=work)
        try:
            yield AppProcess(proc, log_path)
        finally:
            stop_process(proc, timeout=30)


# --- the output reader ----------------------------------------------------------------------------

Batch = Callable[[list[Message], int], None]  # messages, receive time (time.time_ns())


class OutputReader:
    """A thread reading every partition of `topic` from the beginning (read_committed), calling
    `on_batch(messages, receive_ns)` for each non-empty batch until `stop()`."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, on_batch: Batch) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "streams-bench-reader",  # required by the client; never joined
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
            }
        )
        self._consumer.assign([TopicPartition(topic, p, -2) for p in range(partitions)])
        self._on_batch = on_batch
        self._stopping = threading.Event()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                # poll() returns as soon as one record is there; consume() with a timeout would
                # wait for the whole batch or the whole timeout, so it only drains what is queued
                first = self._consumer.poll(0.05)
                if first is None:
                    continue
                now = time.time_ns()
                batch = [first, *self._consumer.consume(num_messages=10_000, timeout=0)]
                good = [m for m in batch if m.error() is None]
                if len(good) != len(batch):
                    self.errors += [str(m.error()) for m in batch if m.error() is not None]
                self._on_batch(good, now)
        finally:
            self._consumer.close()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    from bench.broker_runs import create_topics as create

    create(bootstrap, names, partitions)


def decode_count(value: bytes | None) -> int:
    if value is None or len(value) != LONG.size:
        return -1
    return int(LONG.unpack(value)[0])
