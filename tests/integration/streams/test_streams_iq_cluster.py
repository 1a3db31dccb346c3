"""Interactive queries across three KafkaStreams instances on a real broker: every key answered
from every instance (locally or forwarded over the built-in HTTP endpoint), the metadata API, and
recovery after one instance stops."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from riverlog.streams import Consumed, Grouped, KafkaStreams, Materialized, Serdes, StreamsBuilder
from riverlog.streams.runtime.kafka_streams import State
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
S = Serdes.String()


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


def _topology(source: str) -> Any:
    b = StreamsBuilder()
    b.stream(source, Consumed.with_(S, S)).group_by_key(Grouped.with_(S, S)).count(
        Materialized.as_("counts")
    )
    return b.build()


def _all_answer(ports: list[int], want: dict[str, int]) -> bool:
    for port in ports:
        for key, n in want.items():
            status, body = _get(f"http://127.0.0.1:{port}/stores/counts/keys/{key}")
            if status != 200 or body.get("value") != n:
                return False
    return True


def _wait(check: Callable[[], bool], timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def test_three_instances_answer_every_key_and_recover(
    broker: RunningBroker, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    source = make_topic(partitions=6, prefix="iq")
    app_id = f"iq3-{uuid.uuid4().hex[:6]}"
    ports = [_free_port() for _ in range(3)]
    apps = [
        KafkaStreams(
            _topology(source),
            {
                "application.id": app_id,
                "bootstrap.servers": broker.bootstrap_servers,
                "state.dir": str(tmp_path / str(i)),
                "commit.interval.ms": 100,
                "application.server": f"127.0.0.1:{port}",
                "session.timeout.ms": 6000,
            },
        )
        for i, port in enumerate(ports)
    ]
    try:
        for app in apps:
            app.start()
        assert all(app.wait_for_state(State.RUNNING, 60) for app in apps)
        p = Producer(
            {"bootstrap.servers": broker.bootstrap_servers, "partitioner": "murmur2_random"}
        )
        want = {f"key{i}": i % 3 + 1 for i in range(24)}
        for key, n in want.items():
            for _ in range(n):
                p.produce(source, key=key.encode(), value=b"x")
        assert p.flush(30) == 0
        assert _wait(lambda: _all_answer(ports, want), 90)
        # the metadata API agrees with where the keys are
        owners = {apps[0].query_metadata_for_key("counts", k, S).active_host.port for k in want}
        assert owners <= set(ports) and len(owners) > 1
        clients = apps[1].metadata_for_all_streams_clients()
        assert {c.host_info.port for c in clients} == set(ports)
        assert all("counts" in c.state_store_names for c in clients if c.topic_partitions)
        status, rows = _get(f"http://127.0.0.1:{ports[2]}/stores/counts/range?from=key1&to=key2")
        assert status == 200
        assert {r["key"]: r["value"] for r in rows} == {
            k: n for k, n in want.items() if "key1" <= k <= "key2"
        }
        status, _ = _get(f"http://127.0.0.1:{ports[0]}/stores/counts/keys/nobody")
        assert status == 404
        # one instance goes away: the others take its partitions and answer everything again
        apps[2].close(timedelta(seconds=30))
        assert _wait(lambda: _all_answer(ports[:2], want), 90)
    finally:
        for app in apps:
            app.close(timedelta(seconds=30))


def test_queries_recover_after_an_instance_is_sigkilled(
    broker: RunningBroker, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys

    source = make_topic(partitions=6, prefix="iqk")
    app_id = f"iqk-{uuid.uuid4().hex[:6]}"
    ports = [_free_port() for _ in range(3)]
    script = str(Path(__file__).with_name("iq_app.py"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                script,
                broker.bootstrap_servers,
                app_id,
                str(tmp_path / str(i)),
                source,
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for i, port in enumerate(ports)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "RUNNING"
        p = Producer(
            {"bootstrap.servers": broker.bootstrap_servers, "partitioner": "murmur2_random"}
        )
        want = {f"key{i}": i % 4 + 1 for i in range(30)}
        for key, n in want.items():
            for _ in range(n):
                p.produce(source, key=key.encode(), value=b"x")
        assert p.flush(30) == 0
        assert _wait(lambda: _all_answer(ports, want), 90)
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait(10)
        # within the session timeout (6 s) plus a rebalance and restoration, the two survivors
        # answer every key again, whichever of them is asked
        assert _wait(lambda: _all_answer([ports[0], ports[2]], want), 60)

        def range_complete() -> bool:
            status, rows = _get(f"http://127.0.0.1:{ports[0]}/stores/counts/range")
            return status == 200 and {r["key"]: r["value"] for r in rows} == want

        assert _wait(range_complete, 30)  # the dead instance no longer owns anything
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()


def _failover_restored(
    broker: RunningBroker, source: str, tmp_path: Path, standbys: int
) -> tuple[float, int]:
    """Two instances; instance A goes away; (records B restored, records A's task had logged)."""
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition as KTP

    app_id = f"sb-{uuid.uuid4().hex[:6]}"
    ports = [_free_port() for _ in range(2)]
    apps = [
        KafkaStreams(
            _topology(source),
            {
                "application.id": app_id,
                "bootstrap.servers": broker.bootstrap_servers,
                "state.dir": str(tmp_path / f"{standbys}-{i}"),
                "commit.interval.ms": 100,
                "statestore.cache.max.bytes": 0,
                "application.server": f"127.0.0.1:{port}",
                "num.standby.replicas": standbys,
            },
        )
        for i, port in enumerate(ports)
    ]
    a, b = apps
    try:
        for app in apps:
            app.start()
        assert all(app.wait_for_state(State.RUNNING, 60) for app in apps)
        p = Producer(
            {"bootstrap.servers": broker.bootstrap_servers, "partitioner": "murmur2_random"}
        )
        want = {f"key{i}": 40 for i in range(20)}
        for _ in range(40):
            for key in want:
                p.produce(source, key=key.encode(), value=b"x")
        assert p.flush(30) == 0
        assert _wait(lambda: _all_answer(ports, want), 90)
        a_parts = {
            p
            for t, p in next(
                c for c in b.metadata_for_all_streams_clients() if c.host_info.port == ports[0]
            ).topic_partitions
            if t == source
        }
        meta = b.query_metadata_for_key("counts", "key0", S)
        assert len(meta.standby_hosts) == standbys
        time.sleep(3)  # the standby (if any) catches up and checkpoints
        before = b.metrics().get("restore-total", 0)
        a.close(timedelta(seconds=30))
        assert _wait(lambda: _all_answer(ports[1:], want), 90)
        restored = b.metrics().get("restore-total", 0) - before
        c = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "wm"})
        changelog = f"{app_id}-counts-changelog"
        logged = sum(c.get_watermark_offsets(KTP(changelog, p), timeout=10)[1] for p in a_parts)
        c.close()
        return restored, logged
    finally:
        for app in apps:
            app.close(timedelta(seconds=30))


def test_a_standby_replica_makes_failover_restore_only_the_tail(
    broker: RunningBroker, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    without, logged = _failover_restored(
        broker, make_topic(partitions=2, prefix="sb0"), tmp_path, 0
    )
    assert logged > 0 and without == logged  # the whole changelog of the moved task
    with_standby, logged = _failover_restored(
        broker, make_topic(partitions=2, prefix="sb1"), tmp_path, 1
    )
    assert with_standby < logged  # only what the standby had not yet checkpointed
