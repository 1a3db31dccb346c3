"""Transactional producer throughput against the same producer without transactions (idempotent).

A riverlog broker runs in a subprocess (`riverlog broker start`, Kafka's default settings: durability
`kafka`, 50 `__transaction_state` partitions) and one confluent-kafka producer in this process writes
100-byte records (linger.ms=5, the client's other defaults) into a fresh topic:

- idempotent, streaming: `enable.idempotence=true`, every record produced, one flush at the end — the
  producer's ceiling;
- idempotent, flush every N: the same producer waiting for its acknowledgements every N records — the
  round-trip pattern of a transaction without the transaction protocol;
- transactional: begin, N records, commit (AddPartitionsToTxn, Produce, EndTxn; the coordinator writes
  PrepareCommit, one COMMIT marker per partition, CompleteCommit before answering EndTxn).

N is 100 (the issue's figure) and 1000; records go round-robin over 1 or 4 partitions (a transaction
writes one marker per partition it touched). Each figure is the median of `--repeats` runs; the broker's
CPU time per transaction is measured from /proc over the same runs.

    python -m bench.txn_bench [--records 20000] [--repeats 3] [--no-write]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import confluent_kafka
from confluent_kafka import Producer

from bench.broker_report import write_results
from bench.broker_runs import create_topics
from bench.broker_support import cpu_seconds, load_average, riverlog_broker

SECTION = "## Transactions (issue 5)"
VALUE = b"x" * 100
TIMEOUT_S = 60


@dataclass(frozen=True)
class Run:
    """One measured run: records written, seconds, transactions (0 when none), broker CPU seconds."""

    records: int
    seconds: float
    transactions: int
    broker_cpu_s: float

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds

    @property
    def transactions_per_s(self) -> float:
        return self.transactions / self.seconds


Workload = Callable[[Producer, str, int, int, int], int]  # -> transactions committed


def streaming(producer: Producer, topic: str, partitions: int, records: int, size: int) -> int:
    for i in range(records):
        _produce(producer, topic, i % partitions)
    _flush(producer)
    return 0


def flush_every(producer: Producer, topic: str, partitions: int, records: int, size: int) -> int:
    for start in range(0, records, size):
        for i in range(start, min(start + size, records)):
            _produce(producer, topic, i % partitions)
        _flush(producer)
    return 0


def transactional(producer: Producer, topic: str, partitions: int, records: int, size: int) -> int:
    count = 0
    for start in range(0, records, size):
        producer.begin_transaction()
        for i in range(start, min(start + size, records)):
            _produce(producer, topic, i % partitions)
        producer.commit_transaction(TIMEOUT_S)  # flushes first
        count += 1
    return count


def _produce(producer: Producer, topic: str, partition: int) -> None:
    while True:
        try:
            producer.produce(topic, VALUE, partition=partition)
            return
        except BufferError:
            producer.poll(0.01)


def _flush(producer: Producer) -> None:
    if producer.flush(TIMEOUT_S) != 0:
        raise RuntimeError("records left unacknowledged")


def measure(
    bootstrap: str,
    pid: int,
    workload: Workload,
    partitions: int,
    records: int,
    size: int,
) -> Run:
    """One run into a fresh topic with a fresh producer (set up before the clock starts)."""
    topic = f"txn-bench-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, [topic], partitions)
    config: dict[str, str | int | bool] = {"bootstrap.servers": bootstrap, "linger.ms": 5}
    if workload is transactional:
        config["transactional.id"] = f"bench-{uuid.uuid4().hex[:8]}"
    else:
        config["enable.idempotence"] = True
    producer = Producer(config)
    warm_up(producer, topic, partitions, workload is transactional)
    cpu_before = cpu_seconds(pid)
    start = time.perf_counter()
    transactions = workload(producer, topic, partitions, records, size)
    seconds = time.perf_counter() - start
    return Run(records, seconds, transactions, cpu_seconds(pid) - cpu_before)


def warm_up(producer: Producer, topic: str, partitions: int, transactions: bool) -> None:
    """A producer id, metadata and a connection before the clock starts: one record per partition
    (in one transaction for the transactional producer)."""
    if transactions:
        producer.init_transactions(TIMEOUT_S)
        transactional(producer, topic, partitions, partitions, partitions)
    else:
        streaming(producer, topic, partitions, partitions, partitions)


@dataclass(frozen=True)
class Row:
    label: str
    partitions: int
    runs: list[Run]

    def median(self, value: Callable[[Run], float]) -> float:
        return statistics.median(value(r) for r in self.runs)


CASES: tuple[tuple[str, Workload, int], ...] = (
    ("idempotent, streaming", streaming, 0),
    ("idempotent, flush every 100", flush_every, 100),
    ("transactional, 100 records per transaction", transactional, 100),
    ("idempotent, flush every 1000", flush_every, 1000),
    ("transactional, 1000 records per transaction", transactional, 1000),
)


def run_all(records: int, repeats: int, work: Path) -> list[Row]:
    rows = []
    with riverlog_broker(work / "broker.log") as broker:
        measure(broker.bootstrap, broker.pid, transactional, 1, 1000, 100)  # warm up, state topic
        for partitions in (1, 4):
            for label, workload, size in CASES:
                runs = [
                    measure(broker.bootstrap, broker.pid, workload, partitions, records, size or 1)
                    for _ in range(repeats)
                ]
                rows.append(Row(label, partitions, runs))
                print(f"{label}, {partitions} partition(s): {_summary(rows[-1])}", flush=True)
    return rows


def _summary(row: Row) -> str:
    rate = row.median(lambda r: r.records_per_s)
    txns = row.median(lambda r: r.transactions_per_s)
    return f"{rate:,.0f} records/s" + (f", {txns:,.1f} transactions/s" if txns else "")


def report(rows: list[Row], args: argparse.Namespace, started: str) -> str:
    baseline = {r.partitions: r for r in rows if r.label == "idempotent, streaming"}
    lines = [
        SECTION,
        "",
        f"`bench/txn_bench.py` — broker in a subprocess (`riverlog broker start`, uvloop, Kafka's default "
        f"settings, durability `kafka`); one confluent-kafka {confluent_kafka.__version__} / librdkafka "
        f"{confluent_kafka.libversion()[0]} producer in the bench process, 100-byte records, linger.ms=5; "
        f"{args.records:,} records per run into a fresh topic, median of {args.repeats} runs. "
        f"{platform.machine()}, 2 shared vCPUs; load average before: {started}.",
        "",
        "| producer | partitions | records/s | transactions/s | vs idempotent streaming | broker CPU per transaction (all its requests) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        rate = row.median(lambda r: r.records_per_s)
        txns = row.median(lambda r: r.transactions_per_s)
        ratio = rate / baseline[row.partitions].median(lambda r: r.records_per_s)
        cpu = row.median(lambda r: r.broker_cpu_s / max(r.transactions, 1))
        lines.append(
            f"| {row.label} | {row.partitions} | {rate:,.0f} | {f'{txns:,.1f}' if txns else '—'} | "
            f"{ratio:.2f}x | {f'{cpu * 1000:.2f} ms' if txns else '—'} |"
        )
    lines += ["", READING]
    return "\n".join(lines) + "\n"


READING = (
    "Reading the figures: a transaction of N records costs the producer one AddPartitionsToTxn round "
    "trip before its first record to each new partition, the produce round trips, and EndTxn — which "
    "riverlog answers once PrepareCommit, the markers and CompleteCommit are written — so at 100 records "
    "per transaction throughput is bounded by those serial round trips, not by the broker's append path; "
    "the 'flush every N' rows show how much of the gap is the waiting alone. At 1000 records per "
    "transaction the protocol's cost is largely amortised (0.6-0.8x of the idempotent producer here). More partitions per transaction add one marker and one AddPartitionsToTxn entry each."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args()
    started = load_average()
    with tempfile.TemporaryDirectory(prefix="riverlog-txn-bench-") as tmp:
        rows = run_all(args.records, args.repeats, Path(tmp))
    section = report(rows, args, started)
    print(section)
    if not args.no_write:
        write_results(section, SECTION)


if __name__ == "__main__":
    main()
