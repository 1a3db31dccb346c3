"""Record validation before/after (issue 19, bug 2): producer throughput of two source trees, same run.

The broker's cost of walking every record a client produces, measured the way bench.broker_bench
measures "Producer, acks=1" (rdkafka_performance -P, 100-byte records, one partition, linger.ms=5,
the tool's other settings) and against the same reference, Redis XADD (redis-benchmark -P 100), all in
one run: each round runs every row once, Redis included, so that the load on the shared machine is
the same for every row. Producing runs uncompressed
and with lz4 and zstd (`-z`); rdkafka_performance's payload is one repeated byte, so compressed
batches are tiny and the broker decompresses ~1 MB per request.

The two trees are a `git archive` of the commit before the change (`--before`, default the merge base
of HEAD and main) and this checkout; each broker is `python -m riverlog broker start` with that tree's
`src` first on PYTHONPATH. Runs alternate before/after, `--repeat` times each; the best and the median
are reported with the broker's CPU per record. `--pure` adds a third broker running the committed
sources without the mypyc-compiled walk (what an install without a C compiler gets).

    python -m bench.validation_bench [--before REV] [--records 3000000] [--repeat 3] [--pure]

It prints a table for bench/RESULTS.md ("Record validation"); it does not edit the file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

from bench.broker_bench import _check_stream_length
from bench.broker_runs import (
    _PRODUCED,
    LINGER_MS,
    RECORD_SIZE,
    Throughput,
    create_topics,
    measured,
    run_tool,
    warm_up,
)
from bench.broker_support import (
    REPO_DIR,
    BenchError,
    BrokerProcess,
    ensure_redis,
    load_average,
    rdkafka_performance,
    redis_server,
    riverlog_broker,
)

CODECS = ("none", "lz4", "zstd")


def produce(perf: str, bootstrap: str, topic: str, records: int, codec: str) -> Throughput:
    """rdkafka_performance -P as bench.broker_runs.produce (acks=1), with `-z codec`."""
    cmd = [perf, "-P", "-t", topic, "-p", "0", "-b", bootstrap, "-s", str(RECORD_SIZE)]
    cmd += ["-c", str(records), "-a", "1", "-q", "-X", f"linger.ms={LINGER_MS}", "-z", codec]
    out, client_cpu = run_tool(cmd)
    match = _PRODUCED.search(out)
    if match is None:
        raise BenchError(f"no producer summary from {' '.join(cmd)}")
    sent, _, delivered, failed, millis = (int(g) for g in match.groups())
    if delivered != records or failed:
        raise BenchError(f"producer delivered {delivered}/{sent}, {failed} failed")
    return Throughput(delivered, millis / 1000, client_cpu_s=client_cpu)


@contextmanager
def tree_at(rev: str) -> Iterator[Path]:
    """The sources of `rev`, unpacked in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="riverlog-before-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(REPO_DIR), "archive", rev, "src"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


@contextmanager
def broker_of(tree: Path, log: Path) -> Iterator[BrokerProcess]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    launcher = [sys.executable, "-m", "riverlog", "broker", "start", "--log-level", "WARNING"]
    with riverlog_broker(log, launcher, env) as broker:
        yield broker


def xadd(port: int, key: str, records: int) -> Throughput:
    """One redis-benchmark XADD run, as bench.broker_bench's Redis reference row."""
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "1", "-P", "100"]
    cmd += ["-n", str(records), "--csv", "XADD", key, "*", "f", "x" * RECORD_SIZE]
    out, client_cpu = run_tool(cmd)
    rps = float(out.strip().splitlines()[-1].split(",")[1].strip('"'))
    _check_stream_length(port, key, records)
    return Throughput(records, records / rps, client_cpu_s=client_cpu)


def run(args: argparse.Namespace) -> list[str]:
    perf, _ = rdkafka_performance()
    ensure_redis()
    log = Path(tempfile.gettempdir()) / "riverlog-validation-bench.log"
    log.write_text("")
    rows: dict[tuple[str, str], list[Throughput]] = {}
    redis_runs: list[Throughput] = []
    redis_records = min(args.records, 2_000_000)
    with ExitStack() as stack:
        trees = {"before": stack.enter_context(tree_at(args.before)), "after": REPO_DIR}
        if args.pure:  # the committed sources only: no compiled walk beside them
            trees["pure"] = stack.enter_context(tree_at("HEAD"))
        redis_port, redis_pid = stack.enter_context(redis_server())
        brokers = {name: stack.enter_context(broker_of(tree, log)) for name, tree in trees.items()}
        for name, broker in brokers.items():
            topics = [f"{codec}-{i}" for codec in args.codecs for i in range(args.repeat)]
            create_topics(broker.bootstrap, topics)
            warm_up(perf, broker.bootstrap)
            print(f"{name}: broker from {trees[name]} on {broker.bootstrap}", flush=True)
        # Each round runs every row once, Redis included, so all rows see the same load.
        for i in range(args.repeat):
            for codec in args.codecs:
                for name, broker in brokers.items():
                    topic = f"{codec}-{i}"
                    action = partial(produce, perf, broker.bootstrap, topic, args.records, codec)
                    result = measured(broker.pid, action)
                    rows.setdefault((codec, name), []).append(result)
                    print(f"  {codec} {name} #{i + 1}: {result.text()}; {result.cpu_note()}")
            redis = measured(redis_pid, partial(xadd, redis_port, f"bench-{i}", redis_records))
            redis_runs.append(redis)
            print(f"  redis XADD #{i + 1}: {redis.text()}; {redis.cpu_note()}", flush=True)
    return table(rows, redis_runs, args.codecs)


def table(
    rows: dict[tuple[str, str], list[Throughput]], redis: list[Throughput], codecs: list[str]
) -> list[str]:
    redis_best = max(r.rate for r in redis)
    redis_median = statistics.median(r.rate for r in redis)
    lines = [
        "| producer, acks=1, 100-byte records | before: best (median) | after: best (median) "
        "| vs Redis XADD, before and after: best (median) | broker CPU per record, before → after "
        "(best runs) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for codec in codecs:
        old, new = rows[(codec, "before")], rows[(codec, "after")]
        label = "uncompressed" if codec == "none" else codec
        lines.append(
            f"| {label} | {_rates(old)} | {_rates(new)} "
            f"| {_ratio(old, redis_best, redis_median)}, {_ratio(new, redis_best, redis_median)} "
            f"| {_cpu(old)} → {_cpu(new)} µs |"
        )
        if (codec, "pure") in rows:
            pure = rows[(codec, "pure")]
            lines.append(
                f"| {label}, walk as pure Python (no compiler) | | {_rates(pure)} "
                f"| {_ratio(pure, redis_best, redis_median)} | {_cpu(old)} → {_cpu(pure)} µs |"
            )
    lines.append(
        f"| Redis XADD, pipelined (reference) | {_k(redis_best)} rec/s ({_k(redis_median)}) | | | |"
    )
    return lines


def _ratio(runs: list[Throughput], redis_best: float, redis_median: float) -> str:
    best = max(r.rate for r in runs) / redis_best
    median = statistics.median(r.rate for r in runs) / redis_median
    return f"{best:.1f}x ({median:.1f}x)"


def _rates(runs: list[Throughput]) -> str:
    return f"{_k(max(r.rate for r in runs))} ({_k(statistics.median(r.rate for r in runs))})"


def _cpu(runs: list[Throughput]) -> str:
    best = max(runs, key=lambda r: r.rate)
    busy = (best.server_user_s or 0.0) + (best.server_sys_s or 0.0)
    return f"{busy / best.records * 1e6:.2f}"


def _k(rate: float) -> str:
    return f"{rate / 1e6:.2f}M" if rate >= 1e6 else f"{rate / 1e3:.0f}k"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--before", default=None, help="the tree to compare against (a git rev)")
    parser.add_argument("--records", type=int, default=3_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--pure", action="store_true", help="also a broker whose walk runs as pure Python"
    )
    parser.add_argument(
        "--codecs", default=",".join(CODECS), help="comma-separated, of none,lz4,zstd"
    )
    args = parser.parse_args(argv)
    args.codecs = args.codecs.split(",")
    if args.before is None:
        args.before = subprocess.run(
            ["git", "-C", str(REPO_DIR), "merge-base", "HEAD", "main"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()[:10]  # fmt: skip
    began, load = time.perf_counter(), load_average()
    lines = run(args)
    header = (
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python -m "
        f"bench.validation_bench --before {args.before}`, {args.records:,} records per run, "
        f"{args.repeat} runs of each, alternating; load average {load} at start, "
        f"{load_average()} at end; {time.perf_counter() - began:.0f} s."
    )
    print("\n".join([header, "", *lines]))


if __name__ == "__main__":
    main()
