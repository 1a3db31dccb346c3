"""Quota resolution (Kafka's precedence), the sampled rate and the throttle time."""

from __future__ import annotations

from riverlog.security.quota import (
    PRODUCER_BYTE_RATE,
    Rate,
    bucket,
    entity,
    resolve,
    throttle_ms,
)

P = PRODUCER_BYTE_RATE


def test_the_most_specific_entity_wins() -> None:
    quotas = {
        entity(client_id=None): {P: 1.0},
        entity(client_id="etl"): {P: 2.0},
        entity(None): {P: 3.0},
        entity(None, "etl"): {P: 4.0},
        entity("alice"): {P: 5.0},
        entity("alice", "etl"): {P: 6.0},
    }
    assert resolve(quotas, "alice", "etl", P) == (entity("alice", "etl"), 6.0)
    assert resolve(quotas, "alice", "other", P) == (entity("alice"), 5.0)
    assert resolve(quotas, "bob", "etl", P) == (entity(None, "etl"), 4.0)
    assert resolve(quotas, "bob", "other", P) == (entity(None), 3.0)
    only_clients = {k: v for k, v in quotas.items() if all(t == "client-id" for t, _ in k)}
    assert resolve(only_clients, "bob", "etl", P) == (entity(client_id="etl"), 2.0)
    assert resolve(only_clients, "bob", "x", P) == (entity(client_id=None), 1.0)
    assert resolve({}, "bob", "x", P) is None


def test_buckets_follow_the_matched_entity() -> None:
    assert bucket(entity(None), "alice", "c1") == ("alice", "")
    assert bucket(entity(client_id="etl"), "alice", "etl") == ("", "etl")
    assert bucket(entity("alice", None), "alice", "c1") == ("alice", "c1")


def test_rate_counts_at_least_ten_full_windows() -> None:
    rate = Rate()
    rate.record(10_000, now_ms=0)
    assert rate.rate(now_ms=0) == 1000.0  # 10,000 over the minimum 10 s


def test_throttle_brings_the_rate_back_to_the_quota() -> None:
    rate = Rate()
    for second in range(11):
        rate.record(1500, now_ms=second * 1000)
    now = 10_000
    observed = rate.rate(now)
    wait = throttle_ms(rate, 1000.0, now)
    assert wait > 0
    # Waiting that long with no traffic makes the rate the quota (Kafka's formula).
    assert abs(observed * rate.elapsed_ms(now) / (rate.elapsed_ms(now) + wait) - 1000.0) < 1.0
    assert throttle_ms(rate, 10**9, now) == 0
