"""Single benchmark runs against any Kafka bootstrap address: rdkafka_performance producer and consumer,
the paced latency run, topic set-up; with the CPU time of the server and the client for each run.

Every client run is bounded (RUN_TIMEOUT_S) and checked: a producer must have every record delivered,
a consumer must read exactly the records written; otherwise BenchError.
"""

from __future__ import annotations

import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.broker_support import BenchError, cpu_times, stop_process

RECORD_SIZE = 100
# rdkafka_performance sets linger.ms=1000; at these rates batches fill by count (batch.num.messages
# 10000) long before that, and 1000 ms only holds back the final partial batch, adding up to a second
# to the measured time. librdkafka's (and Kafka 4.0's) default, 5 ms, is used instead.
LINGER_MS = 5
WARM_UP_RECORDS = 20_000
LATENCY_RATE = 100_000
RUN_TIMEOUT_S = 180

_PRODUCED = re.compile(
    r"% (\d+) messages produced \((\d+) bytes\), (\d+) delivered .*?(\d+) failed\) in (\d+)ms"
)
_CONSUMED = re.compile(r"% (\d+) messages \((\d+) bytes\) consumed in (\d+)ms")


@dataclass
class Throughput:
    records: int
    seconds: float
    client_cpu_s: float | None = None
    server_user_s: float | None = None
    server_sys_s: float | None = None

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.rate * RECORD_SIZE / 1e6

    def text(self) -> str:
        return f"{_rate(self.rate)} rec/s, {self.mb_per_s:.0f} MB/s"

    def cpu_note(self) -> str:
        """Who was busy: CPU seconds of the server and of the client over the run's wall time."""
        parts = [f"{self.seconds:.1f} s wall"]
        if self.server_user_s is not None and self.server_sys_s is not None:
            busy = self.server_user_s + self.server_sys_s
            parts.append(
                f"server CPU {busy:.1f} s (user {self.server_user_s:.1f}, sys "
                f"{self.server_sys_s:.1f}; {busy / self.records * 1e6:.2f} µs/record)"
            )
        if self.client_cpu_s is not None:
            parts.append(f"client CPU {self.client_cpu_s:.1f} s")
        return ", ".join(parts)


@dataclass
class Series:
    """Repeated runs of one measurement; the machine is shared, so the best run and the median."""

    runs: list[Throughput]

    @property
    def best(self) -> Throughput:
        return max(self.runs, key=lambda run: run.rate)

    @property
    def median_rate(self) -> float:
        return statistics.median(run.rate for run in self.runs)

    def text(self) -> str:
        if len(self.runs) == 1:
            return self.best.text()
        return f"{self.best.text()} (median of {len(self.runs)}: {_rate(self.median_rate)})"

    def note(self) -> str:
        return f"best run: {self.best.cpu_note()}"


def _rate(rate: float) -> str:
    return f"{rate / 1e6:.2f}M" if rate >= 1e6 else f"{rate / 1e3:.0f}k"


@dataclass
class Latency:
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    samples: int
    sent_rate: float
    sent: int
    received: int
    queue_full: int
    unflushed: int
    sending_s: float
    server_cpu_s: float | None

    def text(self) -> str:
        return f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"

    def note(self) -> str:
        return (
            f"p99.9 {self.p999_ms:.1f}, max {self.max_ms:.1f} ms; "
            f"{self.samples:,} of {self.sent:,} records kept after the first second, "
            f"sent at {self.sent_rate / 1e3:.1f}k/s"
            + (f", producer queue full {self.queue_full:,} times" if self.queue_full else "")
            + (
                f", the consumer received only {self.received:,} of them"
                if self.received < self.sent
                else ""
            )
            + (f", {self.unflushed:,} never delivered within 30 s" if self.unflushed else "")
            + (
                f"; server CPU {self.server_cpu_s:.1f} s over {self.sending_s:.0f} s of sending"
                if self.server_cpu_s is not None
                else ""
            )
        )


def run_tool(cmd: list[str], timeout: float = RUN_TIMEOUT_S) -> tuple[str, float]:
    """Runs a client to completion: (its output, the CPU seconds it used)."""
    before = _children_cpu()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    out = done.stdout + done.stderr
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited {done.returncode}: {out[-800:]}")
    return out, _children_cpu() - before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def produce(perf: str, bootstrap: str, topic: str, records: int, acks: str) -> Throughput:
    cmd = [perf, "-P", "-t", topic, "-p", "0", "-b", bootstrap, "-s", str(RECORD_SIZE)]
    cmd += ["-c", str(records), "-a", acks, "-q", "-X", f"linger.ms={LINGER_MS}"]
    out, client_cpu = run_tool(cmd)
    match = _PRODUCED.search(out)
    if match is None:
        raise BenchError(f"no producer summary from {' '.join(cmd)}")
    sent, _, delivered, failed, millis = (int(g) for g in match.groups())
    if delivered != records or failed:
        raise BenchError(f"producer delivered {delivered}/{sent}, {failed} failed")
    return Throughput(delivered, millis / 1000, client_cpu_s=client_cpu)


def consume(perf: str, bootstrap: str, topic: str, records: int) -> Throughput:
    # `-c N`, not `-e`: the end-of-partition event needs one more Fetch, which the broker rightly
    # holds for fetch.wait.max.ms (500 ms) as there is nothing new; that is no part of reading N records.
    cmd = [perf, "-C", "-t", topic, "-p", "0", "-b", bootstrap, "-o", "beginning", "-q"]
    cmd += ["-c", str(records)]
    out, client_cpu = run_tool(cmd)
    match = _CONSUMED.search(out)
    if match is None:
        raise BenchError(f"no consumer summary from {' '.join(cmd)}")
    got, _, millis = (int(g) for g in match.groups())
    if got != records:
        raise BenchError(f"consumer read {got} records, expected {records}")
    return Throughput(got, millis / 1000, client_cpu_s=client_cpu)


def measured(pid: int | None, action: Callable[[], Throughput]) -> Throughput:
    """Runs `action`, adding the CPU time process `pid` (the server) spent meanwhile."""
    if pid is None:
        return action()
    user, system = cpu_times(pid)
    result = action()
    user_after, system_after = cpu_times(pid)
    result.server_user_s, result.server_sys_s = user_after - user, system_after - system
    return result


def latency(
    perf: str,
    bootstrap: str,
    topic: str,
    linger_ms: int,
    seconds: float,
    consumer_settings: tuple[str, ...] = (),
    server_pid: int | None = None,
) -> Latency:
    """bench.paced_producer at LATENCY_RATE with a `rdkafka_performance -C -l -A` consumer, started
    first at the end of the topic; the first second of records is dropped as warm-up."""
    total = int(LATENCY_RATE * seconds)
    with tempfile.TemporaryDirectory(prefix="riverlog-lat-") as tmp:
        samples_file = Path(tmp) / "latency.txt"
        consumer_cmd = [perf, "-C", "-t", topic, "-p", "0", "-b", bootstrap, "-o", "end", "-l"]
        consumer_cmd += ["-A", str(samples_file), "-c", str(total), "-q"]
        consumer_cmd += [arg for setting in consumer_settings for arg in ("-X", setting)]
        consumer = subprocess.Popen(
            consumer_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(2.0)  # metadata, ListOffsets(latest), first long-poll Fetch in flight
            producer_cmd = [sys.executable, "-m", "bench.paced_producer", "--bootstrap", bootstrap]
            producer_cmd += [
                "--topic",
                topic,
                "--rate",
                str(LATENCY_RATE),
                "--seconds",
                str(seconds),
            ]
            producer_cmd += ["--linger-ms", str(linger_ms), "--size", str(RECORD_SIZE)]
            server_before = sum(cpu_times(server_pid)) if server_pid else 0.0
            out, _ = run_tool(producer_cmd, timeout=4 * seconds + 60)
            server_cpu = sum(cpu_times(server_pid)) - server_before if server_pid else None
            stats = dict(re.findall(r"(\w+)=(\d+)", out))
            try:
                consumer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                consumer.send_signal(signal.SIGINT)  # flushes the -A file on the way out
                consumer.wait(timeout=10)
        finally:
            stop_process(consumer, timeout=5)
        values = [int(v) for v in samples_file.read_text().split()]
    kept = sorted(values[LATENCY_RATE:])
    sent = int(stats.get("sent", total))
    if not kept:
        raise BenchError(f"latency consumer saw only {len(values)} of {sent} records")
    return Latency(
        p50_ms=_percentile(kept, 0.50),
        p99_ms=_percentile(kept, 0.99),
        p999_ms=_percentile(kept, 0.999),
        max_ms=kept[-1] / 1000,
        samples=len(kept),
        sent_rate=float(stats.get("rate", "nan")),
        sent=sent,
        received=len(values),
        queue_full=int(stats.get("queue_full", "0")),
        unflushed=int(stats.get("unflushed", "0")),
        sending_s=float(re.search(r"seconds=([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        server_cpu_s=server_cpu,
    )


def _percentile(sorted_us: list[int], q: float) -> float:
    return sorted_us[min(len(sorted_us) - 1, int(q * len(sorted_us)))] / 1000


def warm_up(perf: str, bootstrap: str) -> None:
    """A small produce and read back, so first-use costs (kio loads message schemas lazily) stay
    out of the figures."""
    create_topics(bootstrap, ["warm-up"])
    produce(perf, bootstrap, "warm-up", WARM_UP_RECORDS, "1")
    consume(perf, bootstrap, "warm-up", WARM_UP_RECORDS)


def create_topics(bootstrap: str, names: list[str], partitions: int = 1) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    for future in futures.values():
        future.result(timeout=30)


def auto_create_topics(bootstrap: str, names: list[str]) -> None:
    """Topic creation through Metadata auto-creation (the mock cluster does not answer CreateTopics;
    it auto-creates with 4 partitions, of which every run here uses partition 0)."""
    from confluent_kafka import Producer

    client = Producer({"bootstrap.servers": bootstrap})
    for name in names:
        topic = client.list_topics(topic=name, timeout=30).topics[name]
        if topic.error is not None or 0 not in topic.partitions:
            raise BenchError(f"could not create {name} on {bootstrap}: {topic.error}")
