"""Word count on one riverlog broker: riverlog.streams against Quix Streams and Faust, same run.

One riverlog broker runs in a subprocess (`riverlog broker start`, Kafka's default settings). The input
topic gets `--lines` lines (default 200,000) of 10 words each, drawn with a fixed seed from a 10,000-word
vocabulary with Zipf weights, round-robin over `--partitions` partitions (default 2, so every framework
re-keys through a repartition topic: Quix Streams skips it on a single-partition input). Then each
implementation runs in turn as a subprocess (its own virtualenv for Quix Streams and Faust) with a
fresh application id and output topic, reading the input from the beginning, and every app emits every
updated count (riverlog with `statestore.cache.max.bytes=0`), so all produce one output record per word.

Throughput = input lines (and words) / seconds from the app's first tokenized line (it prints the time)
to the arrival, at a read_committed reader in this process, of the output record that makes the last
word's count equal the model's. Then the app keeps running `--grace` seconds, and the row is only a
result when every word's last count still equals the model (over-counting fails it too). A run that
makes no progress for 60 s, or exceeds `--timeout`, or whose app exits, is reported as such. Each
implementation runs `--repeats` times (default 3, in interleaved rounds; a first run longer than
`--repeat-under` seconds, Faust's, is not repeated) and the row is the median run.

The latency part (bench/streams_latency.py) feeds the same apps one-word lines at each of the
`--latency-rates` (records/s) for `--latency-seconds` and reports p50/p99/max produce-to-output latency,
and the rate at which outputs came (below the input rate: the app did not keep up, and its latency is
queueing).

    python -m bench.streams_bench [--only quix,faust,riverlog-alos,riverlog-eos] [--lines 200000]
        [--partitions 2] [--repeats 3] [--no-latency | --latency-only] [--no-write]

Also known to --only: quix-eos (Quix Streams' exactly-once). riverlog rows print "riverlog.streams not
available" until that package has its public API.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from threading import Event

import confluent_kafka
from confluent_kafka import Message

from bench.broker_report import write_results
from bench.broker_support import BenchError, cpu_seconds, load_average, riverlog_broker
from bench.streams_latency import BASELINE, LatencyRow, latency_table, measure_latency
from bench.streams_support import (
    DEFAULT_ORDER,
    DEFAULT_VENV_DIR,
    LONG,
    AppProcess,
    Impl,
    OutputReader,
    corpus,
    create_topics,
    decode_count,
    model_counts,
    package_version,
    produce_lines,
    resolve,
    run_app,
)

SECTION = "## Streams: word count (issue 11)"
STALL_S = 60
APPS = (
    "Apps (`bench/streams_apps/`), each writing counts as 8-byte big-endian longs: riverlog.streams, "
    "the issue's example with `statestore.cache.max.bytes=0` and Kafka Streams' other defaults "
    "(commit.interval.ms 30000 / 100 under EOS); Quix Streams, `group_by` (a repartition topic, string "
    "serializers) then a stateful `apply` on its RocksDB state with changelog, commit_interval 5 s; "
    "Faust, two agents (split and send by word to a repartition topic; count in a Table, in memory "
    "with its changelog), `producer_linger` 5 ms (its default is 0: one produce request per record) "
    "and its library loggers set to WARNING (its worker left them building DEBUG records per send)."
)
WORDS_PER_LINE = 10


class Completion:
    """Tracks, from the output records, how many words do not yet show their model count."""

    def __init__(self, model: dict[bytes, bytes]) -> None:
        self.model = model
        self.latest: dict[bytes, bytes] = {}
        self.remaining = len(model)
        self.records = 0
        self.unexpected = 0
        self.last_record_ns = 0
        self.done_ns = 0
        self.done = Event()

    def on_batch(self, batch: list[Message], now: int) -> None:
        model, latest, remaining = self.model, self.latest, self.remaining
        for message in batch:
            key, value = message.key(), message.value()
            want = model.get(key) if isinstance(key, bytes) else None
            if want is None or not isinstance(key, bytes) or not isinstance(value, bytes):
                self.unexpected += 1
                continue
            if latest.get(key) == want:
                remaining += 1  # was final, moved past it (a duplicate under at-least-once)
            if value == want:
                remaining -= 1
            latest[key] = value
        self.records += len(batch)
        self.remaining = remaining
        self.last_record_ns = now
        if remaining == 0 and not self.done.is_set():
            self.done_ns = now
            self.done.set()

    def wrong_words(self) -> tuple[int, int]:
        """(words counted too high, words counted too low or never) in the latest outputs."""
        high = low = 0
        for key, want in self.model.items():
            got = decode_count(self.latest.get(key))
            want_n = decode_count(want)
            high += got > want_n
            low += got < want_n
        return high, low


@dataclass(frozen=True)
class Row:
    impl: Impl
    version: str
    status: str
    seconds: float = 0.0
    lines: int = 0
    outputs: int = 0
    cpu_s: float = 0.0
    runs: tuple[float, ...] = ()  # words/s of every run, when the row is a median

    @property
    def ok(self) -> bool:
        return self.status == "correct"

    @property
    def lines_per_s(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def measure_throughput(
    impl: Impl,
    bootstrap: str,
    input_topic: str,
    partitions: int,
    lines: int,
    model: dict[bytes, bytes],
    args: argparse.Namespace,
    work: Path,
) -> Row:
    version = package_version(impl)
    if impl.missing:
        return Row(impl, version, impl.missing)
    tag = f"{impl.name}-{uuid.uuid4().hex[:6]}"
    output_topic = f"wc-out-{tag}"
    create_topics(bootstrap, [output_topic], partitions)
    completion = Completion(model)
    reader = OutputReader(bootstrap, output_topic, partitions, completion.on_batch)
    try:
        with run_app(
            impl, bootstrap, input_topic, output_topic, f"wc-{tag}", partitions, work
        ) as app:
            cpu_at_start = [0.0]
            app.on_first_read = lambda: cpu_at_start.__setitem__(0, cpu_seconds(app.proc.pid))
            failure = wait_until_done(app, completion, args.timeout)
            if failure:
                return Row(impl, version, failure, outputs=completion.records)
            cpu_s = cpu_seconds(app.proc.pid) - cpu_at_start[0]
            time.sleep(args.grace)  # anything still coming (a count past the model's) shows now
    finally:
        reader.stop()
    if not app.first_read_ns:
        return Row(
            impl, version, "the app never reported its first read", outputs=completion.records
        )
    seconds = (completion.done_ns - app.first_read_ns) / 1e9
    high, low = completion.wrong_words()
    status = "correct" if high == low == 0 else f"wrong: {high} words over, {low} under"
    return Row(impl, version, status, seconds, lines, completion.records, cpu_s)


def wait_until_done(app: AppProcess, completion: Completion, timeout: float) -> str:
    """ "" once every word shows its model count; else why the run ended without that."""
    start = time.monotonic()
    while not completion.done.wait(0.5):
        now = time.monotonic()
        if not app.alive():
            return f"app exited with {app.proc.returncode}: {app.log_tail()}"
        if now - start > timeout:
            return f"timeout after {timeout:.0f} s, {completion.remaining} words unfinished"
        started = app.first_read_ns or int(time.time_ns())
        last = max(completion.last_record_ns, started)
        if app.first_read.is_set() and time.time_ns() - last > STALL_S * 1e9:
            high, low = completion.wrong_words()
            return f"no output for {STALL_S} s: {high} words over, {low} under the model"
        if not app.first_read.is_set() and now - start > STALL_S * 3:
            return f"never read its input in {STALL_S * 3} s: {app.log_tail()}"
    return ""


def median_row(runs: list[Row]) -> Row:
    """The run with the median rate, naming every run's rate; the first failure if any run failed."""
    failed = [r for r in runs if not r.ok]
    if failed:
        return failed[0]
    ordered = sorted(runs, key=lambda r: r.lines_per_s)
    rates = tuple(r.lines_per_s * WORDS_PER_LINE for r in runs)
    return dataclasses.replace(ordered[(len(ordered) - 1) // 2], runs=rates)


def throughput_table(rows: list[Row]) -> list[str]:
    quix = next((r for r in rows if r.impl.name == "quix" and r.ok), None)
    alos = next((r for r in rows if r.impl.name == "riverlog-alos" and r.ok), None)
    lines = [
        "| implementation | version | result | seconds | input lines/s | words/s | vs Quix Streams "
        "| vs riverlog at_least_once | app CPU s | words per app CPU s | output records "
        "| every run, words/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        if not row.ok:
            lines.append(
                f"| {row.impl.label} | {row.version or '—'} | {row.status} | — | — | — | — | — | — | "
                f"— | {row.outputs or '—'} | — |"
            )
            continue
        vs_quix = f"{row.lines_per_s / quix.lines_per_s:.2f}x" if quix else "—"
        vs_alos = f"{row.lines_per_s / alos.lines_per_s:.2f}x" if alos else "—"
        per_cpu = f"{row.lines * WORDS_PER_LINE / row.cpu_s:,.0f}" if row.cpu_s else "—"
        lines.append(
            f"| {row.impl.label} | {row.version or '—'} | correct | {row.seconds:.1f} | "
            f"{row.lines_per_s:,.0f} | {row.lines_per_s * WORDS_PER_LINE:,.0f} | {vs_quix} | {vs_alos} | "
            f"{row.cpu_s:.1f} | {per_cpu} | {row.outputs:,} | "
            f"{', '.join(f'{r:,.0f}' for r in row.runs) or '—'} |"
        )
    return lines


def report(
    rows: list[Row], latency: list[LatencyRow], args: argparse.Namespace, load: tuple[str, str]
) -> str:
    stamp = time.strftime("%H:%M UTC", time.gmtime())
    lines = [
        SECTION,
        "",
        f"Run {args.started}-{stamp} by `python -m bench.streams_bench` on {platform.machine()}, 2 vCPUs shared with "
        f"other work; load average at start {load[0]}, at end {load[1]}. One riverlog broker "
        f"(subprocess, Kafka's default settings); the bench's own clients are confluent-kafka "
        f"{confluent_kafka.__version__}.",
    ]
    if rows:
        lines += [
            "",
            f"Throughput: {args.lines:,} lines, {args.lines * WORDS_PER_LINE:,} words (10 per line, "
            f"seeded, 10,000-word vocabulary, Zipf), input over {args.partitions} partition(s); "
            "seconds = the app's first tokenized line to the arrival of the output that completes the "
            "last word's count (read_committed reader); every app emits every updated count; a row is "
            f"a result only if every word's final count equals the model, checked again {args.grace:.0f} s "
            "later. App CPU = the app process's user+system seconds over the same span (words per app CPU "
            "second depends less on what else the machine runs than words/s does). Each row is the "
            f"median of {args.repeats} runs, interleaved (a run over {args.repeat_under:.0f} s is not "
            "repeated).",
            "",
            APPS,
            "",
            *throughput_table(rows),
        ]
    if latency:
        lines += [
            "",
            "Latency: the same apps (a fresh instance per rate) fed one-word lines (one output per "
            f"input) at a paced rate for {args.latency_seconds:.0f} s after a warm-up record, by a "
            f"confluent-kafka producer with linger.ms={args.latency_linger_ms:g}; latency "
            "= arrival of the input's output count at a read_committed reader minus the input's send "
            "time (same clock); outputs/s = inputs measured / (last arrival - first send): below the "
            "rate sent, the app fell behind and its latency is mostly queueing.",
            "",
            *latency_table(latency),
        ]
    return "\n".join(lines) + "\n"


def repeat(runs: list[Row], under_s: float) -> bool:
    """Another run only after correct runs that each took under `under_s` seconds."""
    return all(r.ok and r.seconds < under_s for r in runs)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(DEFAULT_ORDER), help="comma-separated names")
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="runs per implementation (median)")
    parser.add_argument(
        "--repeat-under", type=float, default=300.0, help="repeat only runs shorter than this (s)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--grace", type=float, default=3.0)
    parser.add_argument("--latency-rates", default="10000,1000", help="records/s, comma-separated")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--latency-linger-ms", type=float, default=5.0, help="input producer's")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument("--venv-dir", type=Path, default=DEFAULT_VENV_DIR)
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    args.started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    impls = resolve([n.strip() for n in args.only.split(",") if n.strip()], args.venv_dir)
    load_start = load_average()
    rows: list[Row] = []
    latency: list[LatencyRow] = []
    with tempfile.TemporaryDirectory(prefix="riverlog-streams-bench-") as tmp:
        work = Path(tmp)
        with riverlog_broker(work / "broker.log") as broker:
            if not args.latency_only:
                text = corpus(args.lines, WORDS_PER_LINE)
                model = {w.encode(): LONG.pack(n) for w, n in model_counts(text).items()}
                input_topic = f"wc-in-{uuid.uuid4().hex[:6]}"
                create_topics(broker.bootstrap, [input_topic], args.partitions)
                produce_lines(broker.bootstrap, input_topic, args.partitions, text)
                del text
                runs: dict[str, list[Row]] = {impl.name: [] for impl in impls}
                for round_ in range(args.repeats):
                    for impl in impls:
                        if round_ and not repeat(runs[impl.name], args.repeat_under):
                            continue
                        print(f"== throughput, run {round_ + 1}: {impl.label}", flush=True)
                        row = measure_throughput(
                            impl, broker.bootstrap, input_topic, args.partitions, args.lines,
                            model, args, work,
                        )  # fmt: skip
                        runs[impl.name].append(row)
                        print("\n".join(throughput_table([row])[2:]), flush=True)
                rows = [median_row(runs[impl.name]) for impl in impls]
            rates = [] if args.no_latency else [int(r) for r in args.latency_rates.split(",")]
            for rate in rates:
                for impl in [BASELINE, *impls]:
                    print(f"== latency at {rate:,} records/s: {impl.label}", flush=True)
                    lat = measure_latency(
                        impl, broker.bootstrap, args.partitions, rate, args.latency_seconds, work,
                        args.latency_linger_ms,
                    )  # fmt: skip
                    latency.append(lat)
                    print("\n".join(latency_table([lat])[2:]), flush=True)
    section = report(rows, latency, args, (load_start, load_average()))
    print(section)
    if not args.no_write:
        write_results(section, SECTION)


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        raise SystemExit(f"streams_bench: {exc}") from None
