"""The built-in IQ HTTP endpoint for window and session stores, across two KafkaStreams instances on
a real broker: a key's windows / sessions in a time range from either instance (answered locally or
forwarded to the owner), time-range queries merged over both, ISO-8601 bounds and bad parameters."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from riverlog.streams import (
    Consumed,
    Grouped,
    KafkaStreams,
    Materialized,
    Serdes,
    SessionWindows,
    StreamsBuilder,
    TimeWindows,
)
from riverlog.streams.runtime.kafka_streams import State
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
S = Serdes.String()
KEYS = [f"user{i}" for i in range(10)]
# per key: two records 2 s apart, then one 20 s later -> windows of 10 s: [0,10 s) = 2,
# [20 s,30 s) = 1; sessions with a 5 s gap: [1 s, 3 s] = 2 and [21 s, 21 s] = 1
TIMES = [1_000, 3_000, 21_000]
WINDOWS = [{"start": 0, "end": 10_000, "value": 2}, {"start": 20_000, "end": 30_000, "value": 1}]
SESSIONS = [
    {"start": 1_000, "end": 3_000, "value": 2},
    {"start": 21_000, "end": 21_000, "value": 1},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _wait(check: Callable[[], bool], timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return check()


@pytest.fixture
def two_instances(
    broker: RunningBroker, make_topic: Callable[..., str], tmp_path: Path
) -> Iterator[list[int]]:
    source = make_topic(partitions=4, prefix="iqhttp")
    app_id = f"iqhttp-{uuid.uuid4().hex[:6]}"
    ports = [_free_port(), _free_port()]
    apps: list[KafkaStreams] = []
    try:
        for i, port in enumerate(ports):
            b = StreamsBuilder()
            grouped = b.stream(source, Consumed.with_(S, S)).group_by_key(Grouped.with_(S, S))
            grouped.windowed_by(
                TimeWindows.of_size_and_grace(timedelta(seconds=10), timedelta(hours=1))
            ).count(Materialized.as_("windowed"))
            grouped.windowed_by(
                SessionWindows.of_inactivity_gap_and_grace(timedelta(seconds=5), timedelta(hours=1))
            ).count(Materialized.as_("sessions"))
            app = KafkaStreams(
                b.build(),
                {
                    "application.id": app_id,
                    "bootstrap.servers": broker.bootstrap_servers,
                    "state.dir": str(tmp_path / str(i)),
                    "commit.interval.ms": 100,
                    "application.server": f"127.0.0.1:{port}",
                },
            )
            apps.append(app)
            app.start()
        assert all(app.wait_for_state(State.RUNNING, 60) for app in apps)
        p = Producer(
            {"bootstrap.servers": broker.bootstrap_servers, "partitioner": "murmur2_random"}
        )
        for key in KEYS:
            for ts in TIMES:
                p.produce(source, key=key.encode(), value=b"x", timestamp=ts)
        assert p.flush(30) == 0
        yield ports
    finally:
        for app in apps:
            app.close(timedelta(seconds=30))


def _windows_everywhere(ports: list[int]) -> bool:
    for port in ports:
        for key in KEYS:
            url = f"http://127.0.0.1:{port}/stores/windowed/keys/{key}?from=0&to=30000"
            status, body = _get(url)
            if status != 200 or body != {"key": key, "windows": WINDOWS}:
                return False
    return True


def test_window_and_session_queries_over_http(two_instances: list[int]) -> None:
    ports = two_instances
    # both instances own partitions, and every key is answered from either one
    assert _wait(lambda: _windows_everywhere(ports)), _get(
        f"http://127.0.0.1:{ports[0]}/stores/windowed/keys/user1?from=0&to=30000"
    )
    base = [f"http://127.0.0.1:{port}/stores" for port in ports]
    for url in base:
        for key in KEYS:
            # window starts in [from, to]; ISO-8601 bounds are accepted too
            status, body = _get(f"{url}/windowed/keys/{key}?from=10000")
            assert (status, body) == (200, {"key": key, "windows": WINDOWS[1:]})
            status, body = _get(f"{url}/windowed/keys/{key}?to=1970-01-01T00:00:05Z")
            assert (status, body) == (200, {"key": key, "windows": WINDOWS[:1]})
            # sessions ending at or after `from` and starting at or before `to`
            status, body = _get(f"{url}/sessions/keys/{key}")
            assert (status, body) == (200, {"key": key, "sessions": SESSIONS})
            status, body = _get(f"{url}/sessions/keys/{key}?from=4000")
            assert (status, body) == (200, {"key": key, "sessions": SESSIONS[1:]})
        # a time range over every key, merged over both instances
        status, rows = _get(f"{url}/windowed/range?from=0&to=0")
        assert status == 200
        assert rows == [{"key": k, "start": 0, "end": 10_000, "value": 2} for k in sorted(KEYS)]
        status, rows = _get(f"{url}/sessions/range?from=20000")
        assert status == 200
        assert rows == [
            {"key": k, "start": 21_000, "end": 21_000, "value": 1} for k in sorted(KEYS)
        ]
        status, rows = _get(f"{url}/sessions/range")
        assert status == 200 and len(rows) == 2 * len(KEYS)
    # each instance holds part of the keys: `local=true` answers are a split of the whole
    local = [_get(f"{url}/windowed/range?local=true&from=0&to=0")[1] for url in base]
    assert all(local) and sorted(r["key"] for part in local for r in part) == sorted(KEYS)
    status, body = _get(f"{base[0]}/windowed/keys/user1?from=yesterday")
    assert status == 400 and "from" in body["error"]
    status, body = _get(f"{base[0]}/windowed/keys/nobody?from=0")
    assert (status, body) == (200, {"key": "nobody", "windows": []})
