"""The toll lab's stream processing, all rules on: sustained passages/s and passage-to-charge latency.

    python -m bench.bench_labs_toll [--passages 30000] [--rates 1000,2000] [--seconds 20] [--no-write]

Each phase runs on a fresh riverlog broker subprocess (`riverlog broker start`, Kafka's defaults) with
the toll topics at `--partitions` partitions, and the apps (`python -m riverlog.labs.toll.apps`: the
charging and billing apps, exactly_once_v2, commit.interval.ms 100) in a subprocess of their own. The
reference tables and opening top-ups of `generate(seed, N)` are produced first, then the apps are
started and warmed up (they are RUNNING and have charged a first small batch).

- Throughput: the world's passages are produced as fast as the producer goes (murmur2 partitioner,
  linger.ms 5); passages/s = distinct passages / (first send to the arrival, at a read_committed reader,
  of the output that completes the set of charges and dead letters). Every distinct passage id must
  arrive exactly once (charge or dlq), or the row says why not.
- Latency: passages sent at a paced rate for `--seconds`; the latency of a passage is the arrival of its
  charge at the read_committed reader minus its send time (same host, same clock): it includes the
  producer, the app, the 100 ms EOS commit and the reader's fetch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from bench.broker_report import write_results
from bench.broker_support import (
    BENCH_DIR,
    BenchError,
    cpu_seconds,
    load_average,
    riverlog_broker,
    stop_process,
)
from riverlog.labs.toll.apps import create_topics
from riverlog.labs.toll.generator import TollWorld, generate
from riverlog.labs.toll.model import REFERENCE_TOPICS, TOPICS, Passage, to_json

SECTION = "## Labs: toll processing (issue 18)"
KEYS = {
    "gantries": "gantry_id",
    "tariffs": "gantry_id",
    "vehicles": "plate",
    "tags": "tag_id",
    "accounts": "account_id",
}
PRODUCER = {"partitioner": "murmur2_random", "linger.ms": 5}
WARMUP_PASSAGES = 200


@dataclass(frozen=True)
class Row:
    kind: str  # "throughput" or "latency @ R/s"
    status: str
    passages: int = 0
    seconds: float = 0.0
    rate_sent: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    app_cpu_s: float = 0.0

    @property
    def per_s(self) -> float:
        return self.passages / self.seconds if self.seconds else 0.0


class Reader:
    """Reads toll.charges and toll.dlq (read_committed) from the start, noting each id's arrival."""

    def __init__(self, bootstrap: str, partitions: int) -> None:
        self.arrivals: dict[str, int] = {}  # passage id -> first arrival (time.time_ns())
        self.repeats = 0
        self.charged_at: dict[str, int] = {}
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "toll-bench-reader",  # never joined: partitions are assigned
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
            }
        )
        self._consumer.assign(
            [
                TopicPartition(topic, p, -2)
                for topic in (TOPICS["charges"], TOPICS["dlq"])
                for p in range(partitions)
            ]
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                first = self._consumer.poll(0.05)
                if first is None:
                    continue
                now = time.time_ns()
                for m in [first, *self._consumer.consume(10_000, 0)]:
                    if m.error() is not None or m.key() is None:
                        continue
                    pid = m.key().decode()
                    if pid in self.arrivals:
                        self.repeats += 1
                    else:
                        self.arrivals[pid] = now
        finally:
            self._consumer.close()

    def wait_for(self, ids: set[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ids <= self.arrivals.keys():
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@contextmanager
def toll_apps(bootstrap: str, work: Path) -> Iterator[subprocess.Popen[bytes]]:
    state = work / f"state-{uuid.uuid4().hex[:6]}"
    log_path = work / "apps.log"
    env = dict(os.environ)
    src = str(BENCH_DIR.parent / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "riverlog.labs.toll.apps", bootstrap, str(state)]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=env)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:  # RUNNING, then PROCESSED lines we no longer need
            if raw.startswith(b"RUNNING"):
                break
        else:
            raise BenchError(f"the toll apps exited: {log_path.read_text()[-2000:]}")
        threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
        yield proc
    finally:
        stop_process(proc, timeout=60)


def produce_reference(bootstrap: str, world: TollWorld) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER})
    for name in REFERENCE_TOPICS:
        for row in getattr(world, name):
            key = getattr(row, KEYS[name]).encode()
            producer.produce(TOPICS[name], key=key, value=json.dumps(to_json(row)).encode())
    for pay in world.payments:
        value = json.dumps(to_json(pay)).encode()
        producer.produce(
            TOPICS["payments"], key=pay.account_id.encode(), value=value, timestamp=pay.paid_at
        )
    if producer.flush(60):
        raise BenchError("reference data not delivered")


def send_passages(
    producer: Producer, passages: list[Passage], rate: float | None
) -> dict[str, int]:
    """Send `passages` (at `rate` per second, or as fast as possible); their first send times."""
    sent: dict[str, int] = {}
    start = time.perf_counter()
    for n, p in enumerate(passages):
        if rate is not None:
            due = start + n / rate
            while (now := time.perf_counter()) < due:
                time.sleep(min(0.001, due - now))
        sent.setdefault(p.passage_id, time.time_ns())
        value = json.dumps(to_json(p)).encode()
        while True:
            try:
                producer.produce(
                    TOPICS["passages"], key=p.plate.encode(), value=value, timestamp=p.captured_at
                )
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    if producer.flush(120):
        raise BenchError("passages not delivered")
    return sent


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def run_phase(args: argparse.Namespace, work: Path, rate: float | None) -> Row:
    """One broker, one world, one run of the apps; `rate` None = throughput."""
    kind = "throughput" if rate is None else f"latency @ {rate:,.0f}/s"
    count = args.passages if rate is None else int(rate * args.seconds)
    world = generate(args.seed, count + WARMUP_PASSAGES, vehicles=args.vehicles)
    warmup, passages = world.passages[:WARMUP_PASSAGES], world.passages[WARMUP_PASSAGES:]
    row = Row(kind, "")
    with riverlog_broker(work / f"broker-{kind.split()[0]}.log") as broker:
        bootstrap = f"127.0.0.1:{broker.port}"
        create_topics(bootstrap, args.partitions)
        produce_reference(bootstrap, world)
        reader = Reader(bootstrap, args.partitions)
        producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER})
        try:
            with toll_apps(bootstrap, work) as proc:
                send_passages(producer, warmup, None)
                if not reader.wait_for({p.passage_id for p in warmup}, 180):
                    return replace(row, status="warm-up outputs never arrived")
                cpu0 = cpu_seconds(proc.pid)
                first_send = time.time_ns()
                sent = send_passages(producer, passages, rate)
                ids = set(sent)
                done = reader.wait_for(ids, args.timeout)
                cpu = cpu_seconds(proc.pid) - cpu0
                missing = len(ids - reader.arrivals.keys())
                status = "ok" if done and not reader.repeats else "incomplete"
                if missing or reader.repeats:
                    status += f" ({missing} missing, {reader.repeats} repeated)"
                last = max((reader.arrivals[i] for i in ids if i in reader.arrivals), default=0)
                send_span = (max(sent.values()) - first_send) / 1e9
                lat = sorted(
                    (reader.arrivals[i] - t) / 1e6 for i, t in sent.items() if i in reader.arrivals
                )
                return Row(
                    kind,
                    status,
                    len(ids),
                    (last - first_send) / 1e9 if last else 0.0,
                    len(ids) / send_span if send_span else 0.0,
                    percentile(lat, 0.50),
                    percentile(lat, 0.99),
                    lat[-1] if lat else 0.0,
                    cpu,
                )
        finally:
            reader.stop()


def table(rows: list[Row]) -> list[str]:
    out = [
        "| measurement | result | passages | seconds | passages/s | sent/s | passage→charge p50 "
        "| p99 | max | apps CPU s | passages per apps CPU s | goal |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if r.kind == "throughput":
            goal = "≥ 5,000 passages/s: " + ("met" if r.per_s >= 5000 else "not met")
        else:
            goal = "p99 ≤ 500 ms: " + ("met" if r.p99_ms <= 500 else "not met")
        out.append(
            f"| {r.kind} | {r.status} | {r.passages:,} | {r.seconds:.1f} | {r.per_s:,.0f} "
            f"| {r.rate_sent:,.0f} | {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms | {r.max_ms:.1f} ms "
            f"| {r.app_cpu_s:.1f} | {r.passages / r.app_cpu_s if r.app_cpu_s else 0:,.0f} | {goal} |"
        )
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=30_000)
    parser.add_argument("--vehicles", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--rates", default="1000,2000", help="latency phases, passages/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="per latency phase")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    load_start = load_average()
    rates: list[float | None] = [] if args.no_throughput else [None]
    rates += [float(r) for r in args.rates.split(",") if r.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="riverlog-toll-bench-") as tmp:
        for rate in rates:
            print(f"== {'throughput' if rate is None else f'latency at {rate:,.0f}/s'}", flush=True)
            rows.append(run_phase(args, Path(tmp), rate))
            print("\n".join(table(rows[-1:])[2:]), flush=True)
    ended = time.strftime("%H:%M", time.gmtime())
    section = "\n".join(
        [
            SECTION,
            "",
            f"Run {started}-{ended} UTC by `python -m bench.bench_labs_toll` on {os.uname().machine}, "
            f"{os.cpu_count()} vCPUs shared with other work; load average at start {load_start}, at "
            f"end {load_average()}. Each row: a fresh riverlog broker subprocess, the toll topics at "
            f"{args.partitions} partitions, `generate({args.seed}, N, vehicles={args.vehicles})`, "
            "the charging and billing apps (`python -m riverlog.labs.toll.apps`, exactly_once_v2, "
            "commit.interval.ms 100, every rule on) in one process, warmed up with 200 passages. "
            "Throughput = distinct passages / (first send to the arrival at a read_committed reader "
            "of the last charge or dead letter); latency = a charge's arrival minus its passage's "
            "send time. Apps CPU = the apps process's user+system seconds over the row.",
            "",
            *table(rows),
            "",
        ]
    )
    print(section)
    if not args.no_write:
        write_results(section, SECTION)


if __name__ == "__main__":
    main()
