"""BrokerMetrics counters: per-topic sums per batch, per-API request counts and latency buckets."""

from __future__ import annotations

from riverlog.broker.metrics import BYTES_IN, BYTES_OUT, LATENCY_BUCKETS, MSG_IN, BrokerMetrics


def test_topic_counters_add_per_batch() -> None:
    metrics = BrokerMetrics()
    metrics.produced("t", 10, 700)
    metrics.produced("t", 5, 300)
    metrics.fetched("t", 1000)
    assert metrics.topics["t"][MSG_IN] == 15
    assert metrics.topics["t"][BYTES_IN] == 1000
    assert metrics.topics["t"][BYTES_OUT] == 1000


def test_request_latency_lands_in_the_first_bucket_that_holds_it() -> None:
    metrics = BrokerMetrics()
    metrics.request(0, 0.0004)
    metrics.request(0, LATENCY_BUCKETS[1])  # a bound is inclusive (Prometheus' `le`)
    metrics.request(0, 100.0)
    stats = metrics.apis[0]
    assert stats.count == 3
    assert stats.buckets[0] == 1 and stats.buckets[1] == 1 and stats.buckets[-1] == 1
    assert abs(stats.sum_s - (0.0004 + LATENCY_BUCKETS[1] + 100.0)) < 1e-9
