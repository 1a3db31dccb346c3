"""Prometheus metrics for the broker: `GET /metrics` on `metrics.port` (0: off), named after Kafka's JMX
metrics in Prometheus form (`kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=t` becomes
`kafka_server_brokertopicmetrics_messagesin_total{topic="t"}`), plus prometheus-client's process metrics.

Invariants:
- The hot path only adds integers to plain dicts and lists (`BrokerMetrics.produced` once per appended
  batch, `fetched` once per partition read, `request` once per request); nothing there touches
  prometheus-client. Gauges (under-replicated partitions, log sizes, lags, controller) are computed from
  the broker's own state when scraped.
- prometheus-client is imported only by `metrics_http` (when `metrics.port` is set), not at start-up.
- The HTTP endpoint runs on the broker's event loop, so a scrape reads the state between two requests,
  never in the middle of one; counters only grow while the broker runs (a restart starts them at zero,
  as Kafka's do).
"""

from __future__ import annotations

import bisect

# Request latency buckets (seconds): Kafka's TotalTimeMs spans sub-millisecond answers to long polls.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Topic counters: messages in, bytes in, bytes out, produce requests, fetch requests (per partition).
MSG_IN, BYTES_IN, BYTES_OUT, PRODUCE_REQS, FETCH_REQS = range(5)


class ApiStats:
    """Requests of one API: how many, and their total time as a histogram."""

    __slots__ = ("buckets", "count", "sum_s")

    def __init__(self) -> None:
        self.count = 0
        self.sum_s = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf


class BrokerMetrics:
    """The broker's counters, cheap to bump (turned into metric families by `metrics_http`)."""

    def __init__(self) -> None:
        self.topics: dict[str, list[int]] = {}
        self.apis: dict[int, ApiStats] = {}

    # --- the hot path ---

    def produced(self, topic: str, records: int, size: int) -> None:
        counters = self.topics.get(topic)
        if counters is None:
            counters = self.topics[topic] = [0, 0, 0, 0, 0]
        counters[MSG_IN] += records
        counters[BYTES_IN] += size
        counters[PRODUCE_REQS] += 1

    def fetched(self, topic: str, size: int) -> None:
        counters = self.topics.get(topic)
        if counters is None:
            counters = self.topics[topic] = [0, 0, 0, 0, 0]
        counters[BYTES_OUT] += size
        counters[FETCH_REQS] += 1

    def request(self, api_key: int, seconds: float) -> None:
        stats = self.apis.get(api_key)
        if stats is None:
            stats = self.apis[api_key] = ApiStats()
        stats.count += 1
        stats.sum_s += seconds
        stats.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
