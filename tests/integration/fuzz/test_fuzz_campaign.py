"""Issue 19's fuzzing campaign, short and seeded here; `make chaos` runs the long one.

Two drivers over the same structure-aware mutator (`riverlog.testing.fuzz`): the decode path in a
memory-limited worker process (a native abort kills the worker, not pytest, and names the frame),
and a socket campaign against a broker process with real clients alongside. The checks are the
issue's: the broker stays up; every acknowledged record is read back; no connection but a garbage
one is closed; the witness connection's pipelined valid requests are answered in order; every
partition is read to its end by a real consumer; no handler or timer fails (no ERROR in the
broker's log). The canary's latency, RSS and descriptors are reported, not asserted (2 shared
cores: timing is a measurement). Figures go to stdout (`pytest -s`) and, for the chaos run, to
bench/RESULTS.md by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from riverlog.testing.fuzz.decode_worker import run_decode_campaign
from riverlog.testing.fuzz.socket_campaign import CampaignReport, run_campaign

pytestmark = pytest.mark.integration

CHAOS = os.environ.get("RIVERLOG_CHAOS") == "1"


def check(report: CampaignReport) -> None:
    print(report.summary())
    assert report.broker_alive
    assert report.log_findings == [], report.log_findings[:20]
    assert report.witness_failures == []
    assert report.witness_requests > 0
    assert report.client_errors == [] and report.producer_errors == []
    assert report.produced_acked > 0
    assert report.records_missing == 0
    assert report.partitions_unreadable == []
    assert report.closed_by_broker > 0  # the garbage did reach the broker
    # Every garbage connection is gone: the broker holds no more sockets than when it started
    # (the listener; the clients' connections are closed too by then).
    assert report.socket_fds[-1] <= report.socket_fds[0], report.socket_fds


def test_decode_campaign_seeded() -> None:
    result = run_decode_campaign(19, 20_000)
    print(f"decode campaign: {result}")
    assert result.frames == 20_000
    assert set(result.outcomes) <= {"decoded", "invalid", "unsupported"}, result.first_other
    assert result.outcomes["invalid"] > 0 and result.outcomes["decoded"] > 0


def test_decode_campaign_atheris() -> None:
    result = run_decode_campaign(19, 2_000, atheris=True)
    print(f"atheris decode campaign: {result}")
    assert result.frames >= 2_000
    assert set(result.outcomes) <= {"decoded", "invalid", "unsupported"}, result.first_other


def test_socket_campaign_seeded(tmp_path: Path) -> None:
    check(run_campaign(tmp_path, seed=19, frames=12_000))


@pytest.mark.chaos
@pytest.mark.timeout(1800)
@pytest.mark.skipif(not CHAOS, reason="long run: make chaos")
def test_decode_campaign_chaos() -> None:
    result = run_decode_campaign(1919, 1_000_000)
    print(f"decode campaign (chaos): {result}")
    assert result.frames == 1_000_000
    assert set(result.outcomes) <= {"decoded", "invalid", "unsupported"}, result.first_other


@pytest.mark.chaos
@pytest.mark.timeout(7200)
@pytest.mark.skipif(not CHAOS, reason="long run: make chaos")
def test_socket_campaign_chaos(tmp_path: Path) -> None:
    frames = int(os.environ.get("RIVERLOG_FUZZ_FRAMES", "1000000"))
    check(run_campaign(tmp_path, seed=1919, frames=frames))
