"""Scrape a `GET /metrics` endpoint into {(name, labels): value} for tests."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Sample = tuple[str, tuple[tuple[str, str], ...]]


def scrape(base_url: str) -> dict[Sample, float]:
    r = httpx.get(base_url.rstrip("/") + "/metrics", timeout=30)
    r.raise_for_status()
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[Sample, float] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict[Sample, float], name: str, **labels: str) -> float:
    """One sample's value (0.0 when absent)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
