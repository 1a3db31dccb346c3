"""Console and metrics benchmark (issue 17).

1. Console page times against a `riverlog broker start` subprocess (metrics on) holding 1,000 topics
   and one topic with a 1,000,000-record partition (JSON values of ~70 bytes): server time (the console's
   `Server-Timing: app` header: request in to response head out, Kafka calls included; median of
   `--repeat` requests after one warm-up) and full load in headless Chromium (navigation start to the
   load event, plus, for the topic page, until its message table has arrived through htmx).
2. Metrics overhead on produce throughput: the same broker with `metrics.port=0` and with metrics on,
   alternating runs (off, on, off, on, ...) with one confluent-kafka producer (100-byte records,
   acks=1, linger.ms=5, batch.size=1000000); rate = records / time from first send to last delivery.
   A Prometheus scrape runs every second during the "on" runs, as a real deployment would. The
   broker's CPU time per record (/proc) is shown too: on a shared machine it is steadier than the rate.

    python -m bench.console_bench [--records 1000000] [--topics 1000] [--repeat 5] [--runs 3]
        [--screenshot docs/console.png] [--no-write]

Results are printed and appended to bench/RESULTS.md ("Console and metrics").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from riverlog.common.service import HttpService
from riverlog.console.app import ConsoleSettings, build_app

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
BIG = "console-bench-big"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


PIDS: dict[str, int] = {}


@contextmanager
def broker(metrics_port: int) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="riverlog-console-bench-") as tmp:
        port = free_port()
        cmd = [sys.executable, "-m", "riverlog", "broker", "start", "--log-level", "WARNING"]
        cmd += ["--listen", f"127.0.0.1:{port}", "--data-dir", tmp]
        cmd += ["--set", f"metrics.port={metrics_port}"]
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        proc = subprocess.Popen(cmd, env=env)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("the broker did not start") from None
                    time.sleep(0.05)
            PIDS[f"127.0.0.1:{port}"] = proc.pid
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(30)


def produce(bootstrap: str, topic: str, records: int, value: bytes | None = None) -> float:
    """Records per second for one producer (value None: JSON orders of ~70 bytes)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 500_000,
            "acks": 1,
        }
    )
    failed = []

    def report(error: object, _msg: object) -> None:
        if error is not None:
            failed.append(error)

    started = time.perf_counter()
    for i in range(records):
        payload = value or json.dumps({"order": i, "item": "widget", "qty": i % 7 + 1}).encode()
        while True:
            try:
                producer.produce(topic, payload, key=f"order-{i}".encode(), on_delivery=report)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)
    elapsed = time.perf_counter() - started
    if failed:
        raise SystemExit(f"{len(failed)} records failed: {failed[0]}")
    return records / elapsed


def create_topics(bootstrap: str, names: list[str], partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for start in range(0, len(names), 100):
        futures = admin.create_topics(
            [NewTopic(n, partitions, 1) for n in names[start : start + 100]], request_timeout=60
        )
        for future in futures.values():
            future.result(60)


def server_ms(client: httpx.Client, url: str, repeat: int, uncached: object = None) -> float:
    """Median server time; `uncached` (the console) has its metadata cache dropped before each."""
    client.get(url).raise_for_status()  # warm-up
    times = []
    for _ in range(repeat):
        if uncached is not None:  # metadata and topic sizes fetched again
            uncached.kafka._cluster = None  # type: ignore[attr-defined]
            uncached.throughput.sizes_at = 0.0  # type: ignore[attr-defined]
        response = client.get(url)
        response.raise_for_status()
        timing = response.headers["server-timing"]
        times.append(float(timing.split("dur=")[1]))
    return statistics.median(times)


def chromium_ms(urls: dict[str, str], repeat: int, screenshot: Path | None) -> dict[str, float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,900")
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    results = {}
    try:
        for name, url in urls.items():
            samples = []
            for _ in range(repeat + 1):
                started = time.perf_counter()
                driver.get(url)
                if "/topics/" in url:
                    WebDriverWait(driver, 30).until(
                        lambda d: d.find_elements(By.CSS_SELECTOR, "#message-rows tr")
                    )
                samples.append((time.perf_counter() - started) * 1000)
            results[name] = statistics.median(samples[1:])
        if screenshot is not None:
            driver.get(urls["topic page + newest 20 messages"])
            WebDriverWait(driver, 30).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#message-rows tr")
            )
            time.sleep(0.3)
            driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()
    return results


def console_figures(args: argparse.Namespace) -> list[str]:
    rows = []
    metrics_port = free_port()
    with broker(metrics_port) as bootstrap:
        print(f"creating {args.topics} topics ...", flush=True)
        create_topics(bootstrap, [f"topic-{i:04d}" for i in range(args.topics)])
        create_topics(bootstrap, [BIG])
        print(f"producing {args.records} records to {BIG} ...", flush=True)
        rate = produce(bootstrap, BIG, args.records)
        print(f"  {rate:,.0f} records/s", flush=True)
        # With the broker's metrics, as `riverlog platform start` runs it: the topics list shows
        # sizes from a scrape at most every 10 s, the overview charts throughput.
        settings = ConsoleSettings(
            bootstrap, metrics_urls=[f"http://127.0.0.1:{metrics_port}/metrics"]
        )
        with (
            HttpService(build_app(settings), "127.0.0.1", 0, name="console") as service,
            httpx.Client(base_url=service.url, timeout=60) as client,
        ):
            middle = args.records // 2
            pages = {
                f"topics list ({args.topics} topics, page 1)": "/topics",
                "topics search (q=topic-09)": "/topics?q=topic-09",
                "topic page (partitions, offsets, configs)": f"/topics/{BIG}",
                "browser: newest 50": f"/topics/{BIG}/messages?mode=newest&limit=50",
                f"browser: offset {middle}, 50": f"/topics/{BIG}/messages?mode=offset&offset={middle}&limit=50",
                "browser: by timestamp (now - 1 s), 50": f"/topics/{BIG}/messages?mode=timestamp&timestamp={int(time.time() * 1000) - 1000}&limit=50",
                "browser: key filter (scans 2,000)": f"/topics/{BIG}/messages?mode=offset&offset={middle}&limit=50&q=order-none",
            }
            console = service.app.state.console
            for name, path in pages.items():
                ms = server_ms(client, path, args.repeat, console)
                print(f"  server {name}: {ms:.1f} ms", flush=True)
                rows.append(f"| {name} | server, nothing cached | {ms:.1f} |")
            for name in list(pages)[:2]:
                ms = server_ms(client, pages[name], args.repeat)  # sizes cached too
                print(f"  server {name} (cached): {ms:.1f} ms", flush=True)
                rows.append(
                    f"| {name} | server, metadata (2 s) and sizes (10 s) cached | {ms:.1f} |"
                )
            browser = chromium_ms(
                {
                    f"topics list ({args.topics} topics)": service.url + "/topics",
                    "topic page + newest 20 messages": f"{service.url}/topics/{BIG}",
                },
                args.repeat,
                args.screenshot,
            )
            for name, ms in browser.items():
                print(f"  chromium {name}: {ms:.0f} ms", flush=True)
                rows.append(f"| {name} | Chromium full load | {ms:.0f} |")
    return rows


def metrics_overhead(args: argparse.Namespace) -> list[str]:
    rates: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    value = b"x" * 100
    for run in range(args.runs):
        for mode in ("off", "on"):
            port = 0 if mode == "off" else free_port()
            with broker(port) as bootstrap:
                create_topics(bootstrap, ["bench"])
                produce(bootstrap, "bench", 20_000, value)  # warm-up
                stop = threading.Event()
                scraper = None
                if port:
                    url = f"http://127.0.0.1:{port}/metrics"

                    def scrape(url: str = url, stop: threading.Event = stop) -> None:
                        while not stop.wait(1.0):
                            httpx.get(url, timeout=5)

                    scraper = threading.Thread(target=scrape, daemon=True)
                    scraper.start()
                before = cpu_seconds(PIDS[bootstrap])
                rate = produce(bootstrap, "bench", args.overhead_records, value)
                used = cpu_seconds(PIDS[bootstrap]) - before
                cpu[mode].append(used / args.overhead_records * 1e6)
                stop.set()
                if scraper is not None:
                    scraper.join()
                rates[mode].append(rate)
                print(
                    f"  run {run + 1} metrics {mode}: {rate:,.0f} records/s, "
                    f"broker CPU {cpu[mode][-1]:.2f} µs/record",
                    flush=True,
                )
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    cpu_off, cpu_on = statistics.median(cpu["off"]), statistics.median(cpu["on"])

    def runs(values: list[float], fmt: str) -> str:
        return ", ".join(format(v, fmt) for v in values)

    return [
        f"| produce, metrics off (metrics.port=0) | {off:,.0f} | {runs(rates['off'], ',.0f')} "
        f"| {cpu_off:.2f} | {runs(cpu['off'], '.2f')} |",
        f"| produce, metrics on (scraped every 1 s) | {on:,.0f} | {runs(rates['on'], ',.0f')} "
        f"| {cpu_on:.2f} | {runs(cpu['on'], '.2f')} |",
        f"| overhead (medians, off → on) | {(off - on) / off * 100:+.1f} % | "
        f"| {(cpu_on - cpu_off) / cpu_off * 100:+.1f} % | |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--overhead-records", type=int, default=500_000)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--skip-console", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    header = (
        f"\n## Console and metrics ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other work; python -m bench.console_bench)\n"
    )
    out = [header]
    if not args.skip_console:
        out += [
            f"Console pages, {args.topics} topics and a {args.records:,}-record partition "
            f"(median of {args.repeat}, ms):\n",
            "| page | measured | ms |",
            "|---|---|---|",
            *console_figures(args),
            "",
        ]
    if not args.skip_overhead:
        out += [
            f"Metrics overhead on produce throughput ({args.overhead_records:,} records of 100 B, "
            f"one confluent-kafka producer, {args.runs} alternating runs each):\n",
            "| broker | median records/s | runs | broker CPU µs/record (median) | runs |",
            "|---|---|---|---|---|",
            *metrics_overhead(args),
            "",
        ]
    text = "\n".join(out)
    print(text)
    if not args.no_write:
        with RESULTS.open("a") as results:
            results.write(text)


if __name__ == "__main__":
    main()
