"""End-to-end latency of a word-count app at a fixed input rate: produce time to the time its count is read.

The app is the throughput benchmark's word count, fed one word per line, so each input record yields
exactly one output record, and the k-th occurrence of word w yields the output (w, k): the benchmark
knows which input each output answers without stamping anything into the values. This process sends
`rate` lines per second in 1 ms ticks (linger.ms 5, the client's default), noting `time.time_ns()` just before each
`produce()`; a read_committed reader thread notes the wall-clock time each output batch arrives. The
latency of an input is that arrival time minus its send time (same host, same clock), so it includes
the input producer's own send, the app, its output producer and the broker's fetch round trips.

Before the clock starts, one `__warmup__` line goes through the app, so group joins, topic creation and
the first fetches are not counted.
"""

from __future__ import annotations

import gc
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from threading import Event

from confluent_kafka import Message, Producer

from bench.streams_support import (
    LONG,
    SEED,
    AppProcess,
    Impl,
    OutputReader,
    create_topics,
    run_app,
    word_stream,
)

WARMUP = b"__warmup__"
WARMUP_WAIT_S = 180
DRAIN_WAIT_S = 20
TICK_S = 0.001


@dataclass(frozen=True)
class LatencyRow:
    impl: Impl
    status: str
    target_rate: int
    sent: int = 0
    send_seconds: float = 0.0
    matched: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    output_seconds: float = 0.0  # first send to last measured arrival

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.send_seconds if self.send_seconds else 0.0

    @property
    def output_rate(self) -> float:
        return self.matched / self.output_seconds if self.output_seconds else 0.0


def percentile(sorted_values: list[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


BASELINE = Impl("baseline", "no app: producer -> reader directly (broker and client floor)", "", "")


def measure_latency(
    impl: Impl,
    bootstrap: str,
    partitions: int,
    rate: int,
    seconds: float,
    work: Path,
    linger_ms: float = 5.0,
) -> LatencyRow:
    """One app at one rate; `BASELINE` sends the expected outputs straight to the output topic."""
    if impl.missing:
        return LatencyRow(impl, impl.missing, rate)
    words = [w.encode() for w in word_stream(int(rate * seconds), seed=SEED + 7)]
    # (word, k) -> index of the input line that makes the count of `word` reach k
    seen: Counter[bytes] = Counter()
    index: dict[bytes, int] = {}
    outputs: list[tuple[bytes, bytes]] = []
    for i, word in enumerate(words):
        seen[word] += 1
        outputs.append((word, LONG.pack(seen[word])))
        index[word + outputs[-1][1]] = i
    tag = f"{impl.name}-{uuid.uuid4().hex[:6]}"
    in_topic, out_topic = f"lat-in-{tag}", f"lat-out-{tag}"
    create_topics(bootstrap, [in_topic, out_topic], partitions)

    arrivals: list[tuple[list[Message], int]] = []
    warmed = Event()

    def on_batch(batch: list[Message], now: int) -> None:
        arrivals.append((batch, now))
        if not warmed.is_set() and any(m.key() == WARMUP for m in batch):
            warmed.set()

    reader = OutputReader(bootstrap, out_topic, partitions, on_batch)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": linger_ms})
    # The measuring process keeps every output message (GC-tracked objects): its own full
    # collections would pause the sender and the reader (up to ~0.2 s seen) and be counted as
    # latency. Nothing here is cyclic, so collection waits until the measurement is over.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        if impl is BASELINE:
            while not warmed.wait(1):  # the reader's first fetch is not counted either
                producer.produce(out_topic, b"", WARMUP, partition=0)
                producer.flush(10)
            send_ns, send_seconds = paced_send(producer, out_topic, partitions, outputs, rate)
            wait_for_outputs(arrivals, len(words), lambda: True)
        else:
            with run_app(
                impl, bootstrap, in_topic, out_topic, f"lat-{tag}", partitions, work
            ) as app:
                failure = warm_up(producer, in_topic, app, warmed)
                if failure:
                    return LatencyRow(impl, failure, rate)
                lines = [(None, word) for word in words]
                send_ns, send_seconds = paced_send(producer, in_topic, partitions, lines, rate)
                wait_for_outputs(arrivals, len(words) + 1, app.alive)
    finally:
        reader.stop()
        gc.enable()
        gc.unfreeze()
    latencies = []
    last_arrival = 0
    for batch, now in arrivals:
        for message in batch:
            i = index.pop((message.key() or b"") + (message.value() or b""), -1)
            if i >= 0:  # first arrival only; the warm-up and duplicates have none
                latencies.append(now - send_ns[i])
                last_arrival = now
    if not latencies:
        return LatencyRow(impl, "no outputs", rate, len(words), send_seconds)
    latencies.sort()
    ms = 1e-6
    missing = len(words) - len(latencies)
    status = "ok" if missing == 0 else f"{missing} outputs missing after {DRAIN_WAIT_S} s"
    return LatencyRow(
        impl,
        status,
        rate,
        len(words),
        send_seconds,
        len(latencies),
        percentile(latencies, 0.50) * ms,
        percentile(latencies, 0.99) * ms,
        latencies[-1] * ms,
        (last_arrival - send_ns[0]) / 1e9,
    )


def warm_up(producer: Producer, topic: str, app: AppProcess, warmed: Event) -> str:
    """ "" once a warm-up line's count came out of the app; else why not."""
    deadline = time.monotonic() + WARMUP_WAIT_S
    while not warmed.is_set():
        if not app.alive():
            return f"app exited: {app.log_tail()}"
        if time.monotonic() > deadline:
            return f"no output for the warm-up record in {WARMUP_WAIT_S} s"
        producer.produce(topic, WARMUP, partition=0)
        producer.flush(10)
        warmed.wait(5)
    return ""


def paced_send(
    producer: Producer,
    topic: str,
    partitions: int,
    records: Sequence[tuple[bytes | None, bytes]],
    rate: int,
) -> tuple[list[int], float]:
    """Sends (key, value) `records` at `rate` per second in 1 ms ticks, round-robin over the
    partitions; returns each record's send time (epoch ns) and the seconds the sending took."""
    send_ns = [0] * len(records)
    per_tick = max(1, rate // 1000)
    start = time.perf_counter()
    i = 0
    tick = 0
    while i < len(records):
        delay = start + tick * TICK_S - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        for _ in range(min(per_tick, len(records) - i)):
            key, value = records[i]
            send_ns[i] = time.time_ns()
            while True:
                try:
                    producer.produce(topic, value, key, partition=i % partitions)
                    break
                except BufferError:
                    producer.poll(0.001)
            i += 1
        producer.poll(0)
        tick += 1
    seconds = time.perf_counter() - start
    producer.flush(30)
    return send_ns, seconds


def wait_for_outputs(
    arrivals: list[tuple[list[Message], int]], expected: int, alive: Callable[[], bool]
) -> None:
    """Until `expected` outputs arrived, the app died, or DRAIN_WAIT_S passed without progress."""
    last, last_change = -1, time.monotonic()
    while time.monotonic() - last_change < DRAIN_WAIT_S:
        got = sum(len(batch) for batch, _ in list(arrivals))
        if got >= expected or not alive():
            return
        if got != last:
            last, last_change = got, time.monotonic()
        time.sleep(0.2)


def latency_table(rows: list[LatencyRow]) -> list[str]:
    lines = [
        "| implementation | target rate | rate sent | outputs/s | inputs measured | p50 | p99 | max "
        "| result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        if not row.matched:
            lines.append(
                f"| {row.impl.label} | {row.target_rate:,} rec/s | — | — | — | — | — | — | "
                f"{row.status} |"
            )
            continue
        lines.append(
            f"| {row.impl.label} | {row.target_rate:,} rec/s | {row.achieved_rate:,.0f} rec/s | "
            f"{row.output_rate:,.0f} | {row.matched:,} | {row.p50_ms:.1f} ms | {row.p99_ms:.1f} ms | "
            f"{row.max_ms:.1f} ms | {row.status} |"
        )
    return lines
