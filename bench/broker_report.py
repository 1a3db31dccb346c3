"""The broker benchmark's figures as a table: printed, and kept in bench/RESULTS.md.

bench/RESULTS.md holds one `## ` section per benchmark; `write_results` replaces only the section
"## Single-node broker (issue 3)" (appending it when missing) and leaves every other section as it is.
"""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.broker_runs import LATENCY_RATE, LINGER_MS, RECORD_SIZE, WARM_UP_RECORDS, Latency, Series
from bench.broker_support import REPO_DIR, load_average

RESULTS = REPO_DIR / "bench" / "RESULTS.md"
SECTION = "## Single-node broker (issue 3)"
GOAL_PRODUCER = 1_400_000
GOAL_CONSUMER = 2_300_000


@dataclass
class StartTimes:
    launch_s: list[float]  # byte-compiled, hypothesis kept out (as installed)
    launch_with_hypothesis_s: list[float]  # byte-compiled, hypothesis imported first
    launch_uncached_s: list[float]  # no bytecode cache (riverlog's sources compiled each launch)
    inprocess_s: list[float]
    import_s: list[float]
    import_without_hypothesis_s: float


@dataclass
class RedisResult:
    xadd: Series
    idle_rss_mb: float
    version: str


@dataclass
class MockResult:
    acks1: Series
    acks_all: Series
    latency: dict[int, Latency]
    consumer_settings: tuple[str, ...]


@dataclass
class RiverlogResult:
    acks1: Series
    acks_all: Series
    consumer: Series
    latency: dict[int, Latency]
    idle_rss_mb: float
    rss_after_mb: float


@dataclass
class Row:
    metric: str
    riverlog: str
    reference: str
    goal: str
    notes: str


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)

    def add(self, metric: str, riverlog: str, reference: str, goal: str, notes: str) -> None:
        self.rows.append(Row(metric, riverlog, reference, goal, notes))

    def markdown(self) -> str:
        table = [
            "| metric | riverlog | reference | goal | notes |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in self.rows:
            table.append(f"| {r.metric} | {r.riverlog} | {r.reference} | {r.goal} | {r.notes} |")
        parts = [SECTION, "", *self.header, "", *table, ""]
        if self.profiles:
            parts += ["Broker profiles (see bench/broker_profile.py for how to read them):", ""]
            parts += self.profiles
        return "\n".join(parts).rstrip() + "\n"


def machine_header(perf_version: str, records: int, repeats: int) -> list[str]:
    import confluent_kafka

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"Run {date} by `python -m bench.broker_bench` on {os.cpu_count()} cores ({model}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        f"load average at start {load_average()}. The machine is shared with other work: "
        f"throughput runs are repeated {repeats} times, best shown with the median.",
        "",
        f"Throughput: `rdkafka_performance` from Debian's librdkafka {perf_version}, one producer, "
        f"{records:,} records of {RECORD_SIZE} bytes per run, one partition (RF 1), settings of the "
        f"tool except linger.ms={LINGER_MS} for its 1000 (batch.num.messages=10000, "
        "batch.size=1000000, queue.buffering.max.messages=100000, no compression; consumer "
        f"queued.min.messages=1000000); the broker is warmed up with {WARM_UP_RECORDS:,} records. "
        f"Latency: `bench.paced_producer` (confluent-kafka {confluent_kafka.version()[0]}, "
        f"librdkafka {confluent_kafka.libversion()[0]}, acks=1) at {LATENCY_RATE // 1000}k rec/s, "
        "each record stamped at send, into `rdkafka_performance -C -l -A` (receive minus stamp). "
        "MB/s = payload bytes / 10^6. Server CPU = the broker's (or redis-server's) user + system "
        "time during the run; client CPU = the benchmark client's.",
    ]


def build_report(
    report: Report, river: RiverlogResult, mock: MockResult, redis: RedisResult, starts: StartTimes
) -> None:
    _throughput_rows(report, river, mock, redis)
    _latency_rows(report, river, mock)
    _start_rows(report, starts)
    report.add(
        "Idle RSS (after start, 5 topics x 3 partitions)",
        f"{river.idle_rss_mb:.0f} MB",
        f"redis-server idle {redis.idle_rss_mb:.0f} MB",
        "≤ 60 MB",
        f"{_meets(river.idle_rss_mb <= 60)}; VmRSS 2 s after start-up; "
        f"{river.rss_after_mb:.0f} MB after all the runs above",
    )


def _throughput_rows(
    report: Report, river: RiverlogResult, mock: MockResult, redis: RedisResult
) -> None:
    xadd = redis.xadd
    twice_redis = 2 * xadd.best.rate
    goal = f"≥ 2x Redis XADD (issue: ≈ 1.4M rec/s; 2x Redis here: {twice_redis / 1e6:.2f}M)"
    for label, series, ref in (
        ("acks=1", river.acks1, mock.acks1),
        ("acks=all", river.acks_all, mock.acks_all),
    ):
        report.add(
            f"Producer, {label}",
            series.text(),
            f"mock {ref.text()}; Redis XADD {xadd.best.text()}",
            goal,
            f"{_producer_verdict(series.best.rate, twice_redis)}; {series.note()}",
        )
    report.add(
        "Consumer (read back from the beginning)",
        river.consumer.text(),
        "mock: not measurable (it keeps only the newest 5 MB of a partition)",
        "≥ 2.3M rec/s",
        f"{_meets(river.consumer.best.rate >= GOAL_CONSUMER)}; {river.consumer.note()}; "
        "data in the page cache",
    )
    report.add(
        "Redis Streams XADD, pipelined (reference)",
        "—",
        xadd.text(),
        "—",
        f"redis-server {redis.version}, `redis-benchmark -c 1 -P 100 -n N XADD bench * f "
        f"<{RECORD_SIZE} B value>`, in memory (no RDB/AOF); {xadd.note()}",
    )


def _latency_rows(report: Report, river: RiverlogResult, mock: MockResult) -> None:
    # A consumer more than 5 MB behind loses records on the mock (it keeps only its newest 5 MB).
    settings = ", ".join(mock.consumer_settings)
    for linger, lat in river.latency.items():
        ref = mock.latency[linger]
        report.add(
            f"End-to-end latency at {LATENCY_RATE // 1000}k rec/s, linger.ms={linger}",
            lat.text(),
            f"mock {ref.text()} (its consumer with {settings}; {ref.note()})",
            "p50 ≤ 2 ms, p99 ≤ 5 ms",
            f"{_meets(lat.p50_ms <= 2 and lat.p99_ms <= 5)}; {lat.note()}",
        )


def _start_rows(report: Report, starts: StartTimes) -> None:
    launch = statistics.median(starts.launch_s)
    report.add(
        "Start: `riverlog broker start` launch → port accepting",
        f"{launch:.2f} s",
        "—",
        "≤ 0.5 s",
        f"{_meets(launch <= 0.5)}; {_spread(starts.launch_s)}, byte-compiled as pip installs it, "
        "hypothesis kept out of the process (riverlog.cli.startup); mostly imports. With hypothesis "
        f"imported first (a dev venv without that guard): {_spread(starts.launch_with_hypothesis_s)}. "
        "Without a bytecode cache (PYTHONDONTWRITEBYTECODE=1 on a never-compiled checkout): "
        f"{_spread(starts.launch_uncached_s)}",
    )
    inproc, imp = statistics.median(starts.inprocess_s), statistics.median(starts.import_s)
    report.add(
        "Start: in-process `RunningBroker.start()`",
        f"{inproc * 1000:.0f} ms",
        "—",
        "≤ 0.5 s",
        f"{_meets(inproc <= 0.5)}; median of {len(starts.inprocess_s)}; importing "
        f"riverlog.testing.broker first takes {imp:.2f} s, {starts.import_without_hypothesis_s:.2f} s "
        "with hypothesis hidden (kio registers hypothesis strategies at import when it is installed)",
    )


def _spread(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s of {len(values)} "
        f"(min {min(values):.2f}, max {max(values):.2f})"
    )


def _meets(ok: bool) -> str:
    return "meets goal" if ok else "misses goal"


def _producer_verdict(rate: float, twice_redis: float) -> str:
    if rate >= max(GOAL_PRODUCER, twice_redis):
        return "meets goal"
    if rate >= twice_redis:
        return "≥ 2x Redis on this machine, below the issue's 1.4M"
    return "misses goal"


def write_results(section: str, heading: str = SECTION) -> None:
    """Replaces the `heading` section of bench/RESULTS.md (or appends it), leaving the others alone.

    Hand-written notes in the old section between NOTES_BEGIN and NOTES_END (analysis, before/after
    tables) are carried over into the new one, after its table and before the profiles."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = text.find(heading)
    if start < 0:
        text = text.rstrip() + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(heading))
        tail = "" if nxt < 0 else "\n" + text[nxt + 1 :]
        section = with_notes(section, kept_notes(text[start : len(text) - len(tail)]))
        text = text[:start] + section + tail
    RESULTS.write_text(text)


NOTES_BEGIN = "<!-- notes: kept by bench.broker_report.write_results -->"
NOTES_END = "<!-- /notes -->"
_PROFILES_HEADING = "Broker profiles ("


def kept_notes(old_section: str) -> str:
    """The notes block of a section (markers included), or "" when it has none."""
    begin = old_section.find(NOTES_BEGIN)
    end = old_section.find(NOTES_END, begin)
    if begin < 0 or end < 0:
        return ""
    return old_section[begin : end + len(NOTES_END)]


def with_notes(section: str, notes: str) -> str:
    """`section` with `notes` inserted before its profiles (at its end when it has none)."""
    if not notes:
        return section
    at = section.find(_PROFILES_HEADING)
    if at < 0:
        return section.rstrip() + "\n\n" + notes + "\n"
    return section[:at] + notes + "\n\n" + section[at:]
