"""Single-node broker benchmark (issue 3): Kreps-style throughput, end-to-end latency, start time, RSS.

One run measures, on this machine, against `riverlog broker start` in a subprocess (Kafka's defaults,
topics with one partition, replication factor 1):

1. Producer throughput: librdkafka's `rdkafka_performance -P` (built from Debian's librdkafka source by
   bench/librdkafka_build.sh), one producer, `--records` records of 100 bytes, acks=1 (`-a 1`) and
   acks=all (`-a -1`). The tool's producer settings (batch.num.messages=10000, batch.size=1000000,
   queue.buffering.max.messages=100000, no compression) except linger.ms: 5 (librdkafka's and Kafka
   4.0's default) instead of the tool's 1000, which only holds back the last partial batch. The rate is
   the tool's: records delivered / time until the last delivery report. A 20,000-record produce and
   read first warms the broker up (kio loads message schemas on first use).
2. Consumer throughput: `rdkafka_performance -C -o beginning -c N` reads the acks=1 topic back (the
   tool sets queued.min.messages=1000000; fetch settings are librdkafka's defaults), timed by the tool from
   the first record to the Nth. Not `-e`: end-of-partition needs one more Fetch, which the broker holds
   for fetch.wait.max.ms (500 ms) as Kafka does. The data was just written, so it is read from the page
   cache, as in Kreps' test.
3. End-to-end latency at 100k records/s: bench.paced_producer (confluent-kafka) sends 100 records every
   1 ms, each stamped with its send time; `rdkafka_performance -C -l -A FILE` records receive time minus
   stamp per record. The first second is dropped as warm-up. Run with linger.ms=0 (Kreps' Java producer
   default) and linger.ms=1. See bench/paced_producer.py for why not `rdkafka_performance -P -l -r`.
4. Start time: process launch to the port accepting, median of 5 fresh starts each: as installed
   (modules byte-compiled, `riverlog broker start` keeping hypothesis out of the process), the same with
   hypothesis imported first (bench.broker_launch: what kio's hypothesis hooks cost in a dev venv), and
   without a bytecode cache (an editable checkout under PYTHONDONTWRITEBYTECODE=1 compiles riverlog's
   sources on every launch); and the in-process `riverlog.testing.RunningBroker.start()` (median of
   3, fresh interpreter each, import time apart).
5. Idle RSS: VmRSS of the broker process 2 s after start-up with five topics created.

Throughput runs are repeated (`--repeat`, default 3) because the machine is shared; the table shows the
best run and the median, with the server's and the client's CPU time for the best run.

Reference points in the same run, with the same client and settings: librdkafka's mock cluster from the
confluent-kafka wheel (held open by bench.mock_cluster; `rdkafka_performance` reaches it over loopback)
and Debian's redis-server, `redis-benchmark -c 1 -P 100 -n N XADD bench * f <100-byte value>` (in memory,
no persistence). Results are printed and written to bench/RESULTS.md (section "Single-node broker").

    python -m bench.broker_bench [--records 3000000] [--repeat 3] [--no-profile] [--no-write]

After the measured runs (unless `--no-profile`) come profiles of the broker under a producer load, a consumer load
and the linger.ms=1 and linger.ms=0 latency loads: py-spy sampling a `riverlog broker start`, then cProfile on the CPU
clock inside a second broker (bench.broker_profile); extra runs, so profiling never perturbs the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import broker_profile
from bench.broker_report import (
    MockResult,
    RedisResult,
    Report,
    RiverlogResult,
    StartTimes,
    build_report,
    machine_header,
    write_results,
)
from bench.broker_runs import (
    RECORD_SIZE,
    Latency,
    Series,
    Throughput,
    auto_create_topics,
    consume,
    create_topics,
    latency,
    measured,
    produce,
    run_tool,
    warm_up,
)
from bench.broker_support import (
    REPO_DIR,
    BenchError,
    BrokerProcess,
    bytecode_env,
    ensure_py_spy,
    ensure_redis,
    load_average,
    mock_cluster,
    rdkafka_performance,
    redis_server,
    riverlog_broker,
    rss_mb,
)

LATENCY_LINGERS_MS = (0, 1)
# The mock answers an empty Fetch only after the full fetch.wait.max.ms (500 ms by default) and is not
# woken by new data, so its latency consumer polls every 1 ms instead.
MOCK_LATENCY_CONSUMER = ("fetch.wait.max.ms=1",)
REDIS_RECORDS = 2_000_000
HYPOTHESIS_LAUNCHER = [sys.executable, "-m", "bench.broker_launch"]


def repeated(times: int, run: Callable[[int], Throughput], label: str) -> Series:
    runs = []
    for i in range(times):
        result = run(i)
        print(f"  {label} #{i + 1}: {result.text()}; {result.cpu_note()}", flush=True)
        runs.append(result)
    return Series(runs)


# --- start time and memory ----------------------------------------------------------------------


def start_times(log: Path, rounds: int = 5) -> StartTimes:
    """Launch → accepting, three ways (see StartTimes), then the in-process start."""
    with tempfile.TemporaryDirectory(prefix="riverlog-pyc-") as pyc:
        cached = bytecode_env(Path(pyc))
        _launch(log, None, cached)  # fills the bytecode cache, as `pip install` would have
        launches = [_launch(log, None, cached) for _ in range(rounds)]
        with_hypothesis = [_launch(log, HYPOTHESIS_LAUNCHER, cached) for _ in range(rounds)]
    uncached = [_launch(log, None, bytecode_env(None)) for _ in range(rounds)]
    probes = [_probe_start(hide_hypothesis=False) for _ in range(3)]
    bare = _probe_start(hide_hypothesis=True)
    result = StartTimes(
        launch_s=launches,
        launch_with_hypothesis_s=with_hypothesis,
        launch_uncached_s=uncached,
        inprocess_s=[p["start_s"] for p in probes],
        import_s=[p["import_s"] for p in probes],
        import_without_hypothesis_s=bare["import_s"],
    )
    print(f"  {result}", flush=True)
    return result


def _launch(log: Path, launcher: list[str] | None, env: dict[str, str]) -> float:
    with riverlog_broker(log, launcher, env) as broker:
        return broker.launch_to_accept_s


def _probe_start(hide_hypothesis: bool) -> dict[str, float]:
    cmd = [sys.executable, "-m", "bench.broker_bench", "--probe-start"]
    if hide_hypothesis:
        cmd.append("--probe-hide-hypothesis")
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_DIR, timeout=60, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def probe_start(hide_hypothesis: bool) -> None:
    """In a fresh interpreter: time importing the test kit, then RunningBroker.start()."""
    if hide_hypothesis:
        # kio registers hypothesis strategies at import when hypothesis is installed (dev venvs);
        # this shows what start-up costs where it is not.
        sys.modules["hypothesis"] = None  # type: ignore[assignment]
    t0 = time.perf_counter()
    from riverlog.testing.broker import RunningBroker

    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="riverlog-start-") as tmp:
        broker = RunningBroker(Path(tmp)).start()
        t2 = time.perf_counter()
        broker.stop()
    print(json.dumps({"import_s": t1 - t0, "start_s": t2 - t1}))


def idle_rss(broker: BrokerProcess) -> float:
    create_topics(broker.bootstrap, [f"idle-{i}" for i in range(5)], partitions=3)
    time.sleep(2.0)
    return rss_mb(broker.pid)


# --- riverlog and the reference systems ---------------------------------------------------------


def riverlog_runs(
    perf: str, records: int, repeats: int, latency_seconds: float, log: Path
) -> RiverlogResult:
    with riverlog_broker(log) as broker:
        bs, pid = broker.bootstrap, broker.pid
        idle = idle_rss(broker)
        print(f"  idle RSS {idle:.1f} MB", flush=True)
        lat_topics = [f"lat-{linger}" for linger in LATENCY_LINGERS_MS]
        names = [f"acks{acks}-{i}" for acks in ("1", "all") for i in range(repeats)]
        create_topics(bs, [*names, *lat_topics])
        warm_up(perf, bs)
        acks1 = repeated(
            repeats,
            lambda i: measured(pid, lambda: produce(perf, bs, f"acks1-{i}", records, "1")),
            "producer acks=1",
        )
        acks_all = repeated(
            repeats,
            lambda i: measured(pid, lambda: produce(perf, bs, f"acksall-{i}", records, "-1")),
            "producer acks=all",
        )
        consumer = repeated(
            repeats,
            lambda _: measured(pid, lambda: consume(perf, bs, "acks1-0", records)),
            "consumer",
        )
        lat = {}
        for linger, topic in zip(LATENCY_LINGERS_MS, lat_topics, strict=True):
            lat[linger] = latency(perf, bs, topic, linger, latency_seconds, server_pid=pid)
            print(f"  latency linger.ms={linger}: {lat[linger].text()}", flush=True)
        after = rss_mb(pid)
    return RiverlogResult(acks1, acks_all, consumer, lat, idle, after)


def mock_reference(perf: str, records: int, repeats: int, latency_seconds: float) -> MockResult:
    with mock_cluster() as (bs, pid):
        lat_topics = [f"mock-lat-{linger}" for linger in LATENCY_LINGERS_MS]
        names = [f"mock-acks{acks}-{i}" for acks in ("1", "all") for i in range(repeats)]
        auto_create_topics(bs, [*names, *lat_topics])
        acks1 = repeated(
            repeats,
            lambda i: measured(pid, lambda: produce(perf, bs, f"mock-acks1-{i}", records, "1")),
            "mock acks=1",
        )
        acks_all = repeated(
            repeats,
            lambda i: measured(pid, lambda: produce(perf, bs, f"mock-acksall-{i}", records, "-1")),
            "mock acks=all",
        )
        lat = {}
        for linger, topic in zip(LATENCY_LINGERS_MS, lat_topics, strict=True):
            lat[linger] = latency(
                perf, bs, topic, linger, latency_seconds, MOCK_LATENCY_CONSUMER, server_pid=pid
            )
            print(f"  mock latency linger.ms={linger}: {lat[linger].text()}", flush=True)
    return MockResult(acks1, acks_all, lat, MOCK_LATENCY_CONSUMER)


def redis_xadd(records: int, repeats: int) -> RedisResult:
    ensure_redis()
    version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[2]
    with redis_server() as (port, pid):
        idle = rss_mb(pid)

        def xadd(i: int) -> Throughput:
            key = f"bench-{i}"
            cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "1", "-P", "100"]
            cmd += ["-n", str(records), "--csv", "XADD", key, "*", "f", "x" * RECORD_SIZE]
            out, client_cpu = run_tool(cmd)
            rps = float(out.strip().splitlines()[-1].split(",")[1].strip('"'))
            _check_stream_length(port, key, records)
            return Throughput(records, records / rps, client_cpu_s=client_cpu)

        series = repeated(repeats, lambda i: measured(pid, lambda: xadd(i)), "redis XADD")
    return RedisResult(series, idle, version)


def _check_stream_length(port: int, key: str, expected: int) -> None:
    cmd = ["redis-cli", "-p", str(port), "XLEN", key]
    length = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    if int(length) != expected:
        raise BenchError(f"redis stream {key} holds {length} entries, expected {expected}")


def profile_runs(perf: str, records: int, latency_seconds: float, log: Path) -> list[str]:
    """The broker under a producer load, a consumer load and the two latency loads, profiled
    by py-spy from outside and, in a second broker, by cProfile on the CPU clock."""
    py_spy = ensure_py_spy()
    rendered = []
    for title, raw, stats in _profiled_loads(py_spy, perf, records, latency_seconds, log):
        rendered.append(broker_profile.analyse(raw).render(f"{title}, py-spy"))
        rendered.append(f"### {title}, cProfile\n\n{broker_profile.analyse_pstats(stats)}")
    for text in rendered:
        print(text, flush=True)
    print(f"raw profiles (py-spy collapsed stacks, cProfile .pstats) kept in {stats.parent}")
    return rendered


PROFILE_TITLES = (
    "Produce (rdkafka_performance -P, acks=1)",
    "Fetch (rdkafka_performance -C from the beginning)",
    "Produce + fetch at 100k rec/s, linger.ms=1 (the latency run)",
    "Produce + fetch at 100k rec/s, linger.ms=0 (the latency run)",
)


def _profiled_loads(
    py_spy: str, perf: str, records: int, latency_seconds: float, log: Path
) -> list[tuple[str, Path, Path]]:
    """Each load twice: on a `riverlog broker start` under py-spy, then on the cProfile harness."""
    tmp = (
        Path(tempfile.gettempdir()) / "riverlog-broker-profiles"
    )  # the last run's, for a closer look
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with riverlog_broker(log) as broker:
        for i, load in enumerate(_loads(broker, perf, records, latency_seconds)):
            with broker_profile.py_spy_record(py_spy, broker.pid, tmp / f"spy-{i}.txt"):
                print(f"  py-spy, {PROFILE_TITLES[i]}: {load()}", flush=True)
    launcher = [sys.executable, "-m", "bench.broker_profile", "--out-prefix", str(tmp / "cpu")]
    with riverlog_broker(log, launcher) as broker:
        for i, load in enumerate(_loads(broker, perf, records, latency_seconds)):
            os.kill(broker.pid, signal.SIGUSR1)
            print(f"  cProfile, {PROFILE_TITLES[i]}: {load()}", flush=True)
            os.kill(broker.pid, signal.SIGUSR2)
            _wait_for(tmp / f"cpu-{i}.pstats")
    return [
        (t, tmp / f"spy-{i}.txt", tmp / f"cpu-{i}.pstats") for i, t in enumerate(PROFILE_TITLES)
    ]


def _loads(
    broker: BrokerProcess, perf: str, records: int, latency_seconds: float
) -> list[Callable[[], str]]:
    """The three profiled loads (PROFILE_TITLES) on a warmed-up broker."""
    bs, pid = broker.bootstrap, broker.pid
    create_topics(bs, ["profile", "profile-lat", "profile-lat0"])
    warm_up(perf, bs)
    return [
        lambda: _summary(measured(pid, lambda: produce(perf, bs, "profile", records, "1"))),
        lambda: _summary(measured(pid, lambda: consume(perf, bs, "profile", records))),
        lambda: _summary(latency(perf, bs, "profile-lat", 1, latency_seconds, server_pid=pid)),
        lambda: _summary(latency(perf, bs, "profile-lat0", 0, latency_seconds, server_pid=pid)),
    ]


def _wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise BenchError(f"the profiled broker wrote no {path.name}")
        time.sleep(0.1)


def _summary(run: Throughput | Latency) -> str:
    return f"{run.text()}; {run.cpu_note() if isinstance(run, Throughput) else run.note()}"


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=3_000_000, help="records per throughput run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each throughput figure")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--no-profile", action="store_true", help="skip the broker profiles")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument("--probe-start", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--probe-hide-hypothesis", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.probe_start:
        probe_start(args.probe_hide_hypothesis)
        return
    began = time.perf_counter()
    perf, perf_version = rdkafka_performance()
    ensure_redis()
    report = Report(header=machine_header(perf_version, args.records, args.repeat))
    log = Path(tempfile.gettempdir()) / "riverlog-broker-bench.log"
    log.write_text("")
    print(f"riverlog broker logs: {log}", flush=True)
    print("start time ...", flush=True)
    starts = start_times(log)
    print("riverlog ...", flush=True)
    river = riverlog_runs(perf, args.records, args.repeat, args.latency_seconds, log)
    print("librdkafka mock cluster ...", flush=True)
    mock = mock_reference(perf, args.records, args.repeat, args.latency_seconds)
    print("redis ...", flush=True)
    redis = redis_xadd(min(args.records, REDIS_RECORDS), args.repeat)
    build_report(report, river, mock, redis, starts)
    if not args.no_profile:
        print("profiling the broker ...", flush=True)
        try:
            report.profiles = profile_runs(perf, args.records, args.latency_seconds, log)
        except (BenchError, OSError, subprocess.SubprocessError) as exc:
            # py-spy needs ptrace rights; the figures above stand without the profiles.
            print(f"profiling failed: {exc!r}", flush=True)
            report.profiles = [f"Profiling failed: `{exc!r}`."]
    report.header[0] += f" Load average at end {load_average()}; whole run "
    report.header[0] += f"{time.perf_counter() - began:.0f} s."
    section = report.markdown()
    if not args.no_write:
        write_results(section)
    print()
    print(section)


if __name__ == "__main__":
    main()
