"""Short time series kept in memory for the console's charts: consumer lag per group and partition,
and cluster throughput from the brokers' Prometheus metrics.

Invariants: each series holds at most MAX_POINTS samples (about 12 minutes at one every 2 s); samples
are added when a chart asks (the page polls), so an unwatched group costs nothing; everything is lost
when the console restarts. Guarded by one lock: Starlette's thread pool calls in from several threads.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import deque

import httpx

MAX_POINTS = 360
MIN_SAMPLE_INTERVAL_S = 1.0
THROUGHPUT_METRICS = {
    "kafka_server_brokertopicmetrics_messagesin_total": "messages_in",
    "kafka_server_brokertopicmetrics_bytesin_total": "bytes_in",
    "kafka_server_brokertopicmetrics_bytesout_total": "bytes_out",
}


WANTED = (*THROUGHPUT_METRICS, "kafka_log_log_size")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def wanted_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of WANTED metrics in Prometheus' text format, read line by line: cheaper than
    prometheus-client's full parser on a broker with thousands of partitions' samples."""
    out = []
    for line in text.splitlines():
        if not line.startswith(WANTED):
            continue
        name, _, rest = line.partition("{")
        if name not in WANTED:
            continue
        labels_text, _, value_text = rest.rpartition("}")
        try:
            value = float(value_text.split()[0])
        except (ValueError, IndexError):
            continue
        out.append((name, dict(_LABEL.findall(labels_text)), value))
    return out


class LagHistory:
    """(time, {partition label: lag}) per group."""

    def __init__(self) -> None:
        self._series: dict[str, deque[tuple[float, dict[str, int]]]] = {}
        self._lock = threading.Lock()

    def add(self, group: str, lags: dict[str, int], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            series = self._series.setdefault(group, deque(maxlen=MAX_POINTS))
            if series and now - series[-1][0] < MIN_SAMPLE_INTERVAL_S:
                series[-1] = (series[-1][0], lags)
            else:
                series.append((now, lags))

    def chart(self, group: str) -> dict[str, object]:
        """uPlot's data layout: times, then one list per partition label (None where unknown)."""
        with self._lock:
            points = list(self._series.get(group, ()))
        labels = sorted({label for _, lags in points for label in lags})
        return {
            "labels": labels,
            "data": [[t for t, _ in points]]
            + [[lags.get(label) for _, lags in points] for label in labels],
        }


class ThroughputSampler:
    """Scrapes the brokers' /metrics and turns counter deltas into per-second rates; keeps each
    topic's log size from the same scrape (the largest replica of each partition, summed)."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self._samples: deque[tuple[float, dict[str, float]]] = deque(maxlen=MAX_POINTS + 1)
        self._lock = threading.Lock()
        self.error: str | None = None
        self.sizes: dict[str, float] = {}
        self.sizes_at = 0.0  # time.monotonic() of the last scrape

    def sample(self) -> None:
        totals = dict.fromkeys(THROUGHPUT_METRICS.values(), 0.0)
        partition_sizes: dict[tuple[str, str], float] = {}
        errors = []
        for url in self.urls:
            try:
                text = httpx.get(url, timeout=1).text
            except httpx.HTTPError as exc:
                errors.append(f"{url}: {exc}")
                continue
            for name, labels, value in wanted_samples(text):
                key = THROUGHPUT_METRICS.get(name)
                if key is not None:
                    totals[key] += value
                elif "topic" in labels and "partition" in labels:  # kafka_log_log_size
                    tp = (labels["topic"], labels["partition"])
                    partition_sizes[tp] = max(partition_sizes.get(tp, 0.0), value)
        self.error = "; ".join(errors) or None
        sizes: dict[str, float] = {}
        for (topic, _), size in partition_sizes.items():
            sizes[topic] = sizes.get(topic, 0.0) + size
        self.sizes, self.sizes_at = sizes, time.monotonic()
        now = time.time()
        with self._lock:
            if self._samples and now - self._samples[-1][0] < MIN_SAMPLE_INTERVAL_S:
                return
            self._samples.append((now, totals))

    def chart(self, kind: str | None = None) -> dict[str, object]:
        """Rates between consecutive samples (a counter that went down, a restart, counts from 0);
        `kind` "messages" or "bytes" keeps those series only."""
        with self._lock:
            samples = list(self._samples)
        times: list[float] = []
        rates: dict[str, list[float]] = {key: [] for key in THROUGHPUT_METRICS.values()}
        for (t0, before), (t1, after) in itertools.pairwise(samples):
            elapsed = max(t1 - t0, 1e-6)
            times.append(t1)
            for key in rates:
                delta = after[key] - before[key]
                rates[key].append((delta if delta >= 0 else after[key]) / elapsed)
        if kind:
            rates = {key: series for key, series in rates.items() if key.startswith(kind[:-1])}
        return {"labels": list(rates), "data": [times, *rates.values()], "error": self.error}
