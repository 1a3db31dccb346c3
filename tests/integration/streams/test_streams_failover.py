"""Two app instances (separate processes) share the work; one is SIGKILLed mid-stream and restarted.

Under exactly_once_v2 the read_committed output ends equal to a model computed here, and no key's
sequence of counts repeats a value (an uncommitted effect would show as a repeat after the restart);
under at_least_once every count ends at least as high as the truth.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

APP = Path(__file__).with_name("streams_app.py")
WORDS = [f"w{i}" for i in range(12)]
KEYS = [f"k{i}" for i in range(24)]
BASE_TS = 1_700_000_000_000  # a multiple of the 10 s window
STEP_MS = 40


class App:
    """One instance of streams_app.py in its own process."""

    def __init__(
        self,
        broker: RunningBroker,
        app_id: str,
        kind: str,
        guarantee: str,
        state_dir: Path,
        source: str,
        sink: str,
        log_path: Path,
    ) -> None:
        self.args = [
            sys.executable,
            str(APP),
            broker.bootstrap_servers,
            app_id,
            kind,
            guarantee,
            str(state_dir),
            source,
            sink,
        ]
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> App:
        src = str(Path(__file__).resolve().parents[3] / "src")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=env)
        return self

    def wait_running(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if text.count("RUNNING") > self._runs_seen:
                self._runs_seen = text.count("RUNNING")
                return
            assert self.proc is not None and self.proc.poll() is None, text[-3000:]
            time.sleep(0.1)
        raise AssertionError(
            f"app not RUNNING in {timeout_s}s:\n{self.log_path.read_text()[-3000:]}"
        )

    _runs_seen = 0

    def processed(self) -> int:
        """The last records-processed figure the app printed (0 before any)."""
        text = self.log_path.read_text(errors="replace")
        lines = [ln for ln in text.splitlines() if ln.startswith("PROCESSED ")]
        return int(lines[-1].split()[1]) if lines else 0

    def wait_processed_beyond(self, count: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.processed() <= count:
            assert time.monotonic() < deadline, self.log_path.read_text()[-3000:]
            time.sleep(0.02)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def apps() -> Iterator[list[App]]:
    started: list[App] = []
    yield started
    for app in started:
        app.stop()


def _produce(broker: RunningBroker, topic: str, records: list[tuple[str, str, int]]) -> None:
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap_servers, "partitioner": "murmur2_random"}
    )
    for key, value, ts in records:
        producer.produce(topic, key=key.encode(), value=value.encode(), timestamp=ts)
    assert producer.flush(30) == 0


def _wordcount_input(rng: random.Random, n: int, start: int) -> list[tuple[str, str, int]]:
    return [
        (
            f"line{start + i}",
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))),
            BASE_TS + (start + i) * STEP_MS,
        )
        for i in range(n)
    ]


def _windowed_input(rng: random.Random, n: int, start: int) -> list[tuple[str, str, int]]:
    return [(rng.choice(KEYS), "x", BASE_TS + (start + i) * STEP_MS) for i in range(n)]


def _wordcount_model(records: list[tuple[str, str, int]]) -> dict[str, int]:
    return dict(Counter(word for _, line, _ in records for word in line.lower().split()))


def _windowed_model(records: list[tuple[str, str, int]]) -> dict[str, int]:
    return dict(Counter(f"{key}@{ts - ts % 10_000}" for key, _, ts in records))


def _read_until(
    broker: RunningBroker,
    topic: str,
    done: Callable[[dict[str, int]], bool],
    timeout_s: float = 120,
) -> tuple[dict[str, int], dict[str, list[int]]]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"check-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    last: dict[str, int] = {}
    sequences: dict[str, list[int]] = defaultdict(list)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error():
                    continue
                key = message.key().decode()
                (count,) = struct.unpack(">q", message.value())
                last[key] = count
                sequences[key].append(count)
            if done(last):
                return last, sequences
    finally:
        consumer.close()
    return last, sequences


CASES = {
    "wordcount": (_wordcount_input, _wordcount_model),
    "windowed": (_windowed_input, _windowed_model),
}


@pytest.mark.parametrize(
    ("kind", "guarantee", "wipe"),
    [
        ("wordcount", "exactly_once_v2", False),
        ("windowed", "exactly_once_v2", False),
        ("wordcount", "at_least_once", False),
        ("windowed", "at_least_once", False),
        # restarted with its state.dir deleted: every store comes back from its changelog
        ("wordcount", "exactly_once_v2", True),
    ],
)
def test_two_instances_one_killed_and_restarted(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    apps: list[App],
    tmp_path: Path,
    kind: str,
    guarantee: str,
    wipe: bool,
) -> None:
    make_input, model_of = CASES[kind]
    source, sink = make_topic(partitions=4, prefix="in"), make_topic(partitions=2, prefix="out")
    app_id = f"{kind}-{guarantee}-{uuid.uuid4().hex[:6]}"
    rng = random.Random(11)
    first = App(
        broker, app_id, kind, guarantee, tmp_path / "a", source, sink, tmp_path / "a.log"
    ).start()
    second = App(
        broker, app_id, kind, guarantee, tmp_path / "b", source, sink, tmp_path / "b.log"
    ).start()
    apps.extend([first, second])
    first.wait_running()
    second.wait_running()

    sent: list[tuple[str, str, int]] = []
    for phase in range(3):
        before = first.processed()
        batch = make_input(rng, 1000, len(sent))
        _produce(broker, source, batch)
        sent.extend(batch)
        if phase == 1:
            # Kill the first instance mid-stream, once it has processed part of this batch (1000
            # records over 4 partitions, committed every 200 ms: it has not finished).
            first.wait_processed_beyond(before)
            first.kill()
            if wipe:
                shutil.rmtree(tmp_path / "a")
            first.start()
            first.wait_running()
    model = model_of(sent)

    if guarantee == "exactly_once_v2":
        last, sequences = _read_until(broker, sink, lambda got: got == model)
        assert last == model
        for key, counts in sequences.items():
            assert counts == sorted(set(counts)), f"{key}: a count repeats or goes back: {counts}"
    else:
        last, _ = _read_until(
            broker, sink, lambda got: all(got.get(k, 0) >= v for k, v in model.items())
        )
        assert set(last) == set(model)
        low = {k: (last[k], v) for k, v in model.items() if last[k] < v}
        assert not low, f"counts below the truth: {low}"
