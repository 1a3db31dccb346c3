"""The taxi lab's benchmark (issue 18): Hourly Tips over one simulated month, end to end.

One riverlog broker runs in a subprocess (`riverlog broker start`, Kafka's defaults except
`group.initial.rebalance.delay.ms=0`, as Kafka's shipped server.properties sets it). The month's fares
(flink-training's `TaxiFareGenerator.runFor(30 days)`: rides 1..129,599) are generated first (not
timed). Then, for the streams version and for the SQL version in turn, `riverlog.labs.taxi.runner`
runs the exercise as `riverlog labs taxi run hourly-tips` does: fresh topics, the input written
(timed separately), the app started, and the clock stopped when every consumer group of the app has
committed the end of every topic it reads. fares/s = fares / (app start → all input processed);
the figure includes the app's start-up (group join, internal topic creation). The output is checked
against the plain-Python reference; a mismatch fails the run.

Run: PYTHONPATH=src python -m bench.bench_labs_taxi [--hours 720] [--append-results]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.broker_support import load_average, riverlog_broker
from riverlog.labs.taxi import local, reference
from riverlog.labs.taxi.data import BEGINNING_MS
from riverlog.labs.taxi.exercises import EXERCISES
from riverlog.labs.taxi.generators import taxi_fares
from riverlog.labs.taxi.runner import run_on_cluster

GOAL = 50_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=int, default=720, help="simulated hours (default: 30 days)")
    ap.add_argument("--append-results", action="store_true")
    args = ap.parse_args()

    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_start = load_average()
    t0 = time.perf_counter()
    fares = list(taxi_fares(BEGINNING_MS + args.hours * 3_600_000))
    gen_s = time.perf_counter() - t0
    expected = reference.hourly_tips(fares)
    print(f"{len(fares)} fares generated in {gen_s:.1f} s; {len(expected)} hourly results")

    exercise = EXERCISES["hourly-tips"]
    t0 = time.perf_counter()
    driver_lines = local.run_streams(exercise, fares=fares)
    driver_s = time.perf_counter() - t0
    if driver_lines != expected:
        sys.exit("the TopologyTestDriver run differs from the reference")
    rows: list[tuple[str, str]] = [
        (
            "streams topology in the TopologyTestDriver (no broker)",
            f"{len(fares) / driver_s:,.0f} fares/s ({driver_s:.1f} s)",
        )
    ]
    work = Path(os.environ.get("TMPDIR", "/tmp"))
    launcher = [
        sys.executable,
        "-m",
        "riverlog",
        "broker",
        "start",
        "--log-level",
        "WARNING",
        "--set",
        "group.initial.rebalance.delay.ms=0",
    ]
    with riverlog_broker(work / "bench-labs-taxi-broker.log", launcher=launcher) as broker:
        for label, use_sql in (("streams", False), ("SQL", True)):
            t0 = time.perf_counter()
            result = run_on_cluster(
                exercise, broker.bootstrap, [], fares, use_sql=use_sql, timeout_s=3600
            )
            total_s = time.perf_counter() - t0
            if result.lines != expected:
                sys.exit(f"the {label} run's output differs from the reference")
            rate = len(fares) / result.seconds
            rows.append(
                (
                    f"Hourly Tips, {label} version, on the broker",
                    f"{rate:,.0f} fares/s ({result.seconds:.1f} s, of which app CPU "
                    f"{result.cpu_seconds:.1f} s = {len(fares) / result.cpu_seconds:,.0f} fares per "
                    f"CPU-second; whole run incl. writing the input {total_s:.1f} s)",
                )
            )
            print(rows[-1][0], "—", rows[-1][1], flush=True)
    load_end = load_average()

    lines = [
        "",
        "## Taxi lab: Hourly Tips over a month (issue 18)",
        "",
        f"Run {started_at} by `python -m bench.bench_labs_taxi --hours {args.hours}` on 2 cores "
        f"shared with other work; load average at start {load_start}, at end {load_end}. "
        f"{len(fares):,} fares ({args.hours} simulated hours, {len(expected)} hourly results, "
        "each run's output equal to the plain-Python reference). One riverlog broker in a "
        "subprocess; the app (or the SQL server with its queries) in the bench process, "
        "at_least_once, commit.interval.ms=1000, main consumer fetch.wait.max.ms=10, "
        "one partition per topic (flink-training's "
        f"sources are single and ordered). Goal ≥ {GOAL:,} fares/s.",
        "",
        "| measurement | result |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
    ]
    print("\n".join(lines))
    if args.append_results:
        with open(Path(__file__).parent / "RESULTS.md", "a") as f:
            f.write("\n".join(lines))


if __name__ == "__main__":
    main()
