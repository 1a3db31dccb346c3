"""The toll apps on a real broker, fed a generated world by confluent-kafka, checked against the manifest.

Each test runs on a broker of its own (the toll topic names are fixed). The oracle for per-passage
results is the same topologies run through TopologyTestDriver over the same world; the manifest gives
the injected anomalies. The second test SIGKILLs the apps' process mid-run and restarts it: under
exactly_once_v2 the read_committed outputs must be the same as an uninterrupted run's, each passage id
exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from riverlog.labs.toll.apps import TollApps, create_topics
from riverlog.labs.toll.apps.charging import charging_topology
from riverlog.labs.toll.generator import START_MS, TollWorld, generate
from riverlog.labs.toll.model import REFERENCE_TOPICS, TOPICS, to_json
from riverlog.streams import Serdes
from riverlog.streams.testing import TopologyTestDriver
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

SEED, PASSAGES, VEHICLES = 21, 1500, 400
KEYS = {"gantries": "gantry_id", "tariffs": "gantry_id", "vehicles": "plate", "tags": "tag_id"}
KEYS["accounts"] = "account_id"
# a killed app's consumer leaves the group (KIP-848 protocol: the broker's timeout) in 6 s, not 45
# Kafka's default partitioner (murmur2), as the apps' repartition topics use: librdkafka's default
# (crc32) would put an account's payments and its re-keyed charges on different partitions
PRODUCER = {"partitioner": "murmur2_random", "linger.ms": 5}
BROKER = {
    "group.consumer.session.timeout.ms": "6000",
    "group.consumer.heartbeat.interval.ms": "1000",
}


@pytest.fixture(scope="module")
def world() -> TollWorld:
    return generate(SEED, PASSAGES, vehicles=VEHICLES)


@dataclass
class Outputs:
    charges: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    dlq: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)  # last value per account

    def per_passage(self) -> dict[str, tuple[Any, ...]]:
        out: dict[str, tuple[Any, ...]] = {}
        for pid, c in self.charges:
            out[pid] = (c["billing"], c["account_id"], c["amount_cents"], c["vehicle_class"])
        for pid, d in self.dlq:
            out[pid] = (d["reason"],)
        return out

    def alert_sets(self) -> dict[str, set[tuple[str, ...]]]:
        sets: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        for a in self.alerts:
            sets[a["alert_type"]].add(tuple(a["passage_ids"]))
        return sets


def oracle(world: TollWorld) -> Outputs:
    """The charging topology over the same world in TopologyTestDriver."""
    s, j = Serdes.String(), Serdes.Json()
    out = Outputs()
    with TopologyTestDriver(charging_topology(), initial_wall_clock_time_ms=START_MS) as driver:
        for name in ("gantries", "tariffs", "vehicles", "tags"):
            topic = driver.create_input_topic(TOPICS[name], s, j)
            for row in getattr(world, name):
                topic.pipe_input(getattr(row, KEYS[name]), to_json(row), 0)
        passages = driver.create_input_topic(TOPICS["passages"], s, j)
        for p in world.passages:
            passages.pipe_input(p.plate, to_json(p), p.captured_at)
        for kv in driver.create_output_topic(TOPICS["charges"], s, j).read_key_values_to_list():
            out.charges.append((kv.key, kv.value))
        for kv in driver.create_output_topic(TOPICS["dlq"], s, j).read_key_values_to_list():
            out.dlq.append((kv.key, kv.value))
        out.alerts = driver.create_output_topic(TOPICS["alerts"], s, j).read_values_to_list()
    return out


def produce(bootstrap: str, world: TollWorld, *, facts: bool = True) -> None:
    """Reference tables and payments first, then (if `facts`) passages, as the lab orders them."""
    producer = Producer(PRODUCER | {"bootstrap.servers": bootstrap})

    def send(topic: str, key: str, value: dict[str, Any], ts: int | None = None) -> None:
        data = json.dumps(value).encode()
        if ts is None:
            producer.produce(topic, key=key.encode(), value=data)
        else:
            producer.produce(topic, key=key.encode(), value=data, timestamp=ts)

    for name in REFERENCE_TOPICS:
        for row in getattr(world, name):
            send(TOPICS[name], getattr(row, KEYS[name]), to_json(row))
    for payment in world.payments:
        send(TOPICS["payments"], payment.account_id, to_json(payment), payment.paid_at)
    assert producer.flush(30) == 0
    if facts:
        for p in world.passages:
            send(TOPICS["passages"], p.plate, to_json(p), p.captured_at)
        assert producer.flush(60) == 0


def collect(bootstrap: str, done: Callable[[Outputs], bool], timeout_s: float) -> Outputs:
    """Read the output topics (read_committed) until `done` holds and stays so for 2 s."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    topics = [TOPICS[n] for n in ("charges", "dlq", "alerts", "balances")]
    consumer.subscribe(topics)
    out = Outputs()
    deadline = time.monotonic() + timeout_s
    settled_at: float | None = None
    try:
        while time.monotonic() < deadline:
            for m in consumer.consume(1000, 0.3):
                if m.error():
                    continue
                key, value = m.key().decode(), json.loads(m.value())
                if m.topic() == TOPICS["charges"]:
                    out.charges.append((key, value))
                elif m.topic() == TOPICS["dlq"]:
                    out.dlq.append((key, value))
                elif m.topic() == TOPICS["alerts"]:
                    out.alerts.append(value)
                else:
                    out.balances[key] = value["balance_cents"]
            if not done(out):
                settled_at = None
            elif settled_at is None:
                settled_at = time.monotonic()
            elif time.monotonic() - settled_at > 2.0:
                return out
    finally:
        consumer.close()
    return out


def expected_balances(world: TollWorld, out: Outputs) -> dict[str, int]:
    balance: Counter[str] = Counter()
    for payment in world.payments:
        balance[payment.account_id] += payment.amount_cents
    for _, c in out.charges:
        if c["billing"] == "ACCOUNT":
            balance[c["account_id"]] -= c["amount_cents"]
    return dict(balance)


def check(world: TollWorld, out: Outputs, reference: Outputs) -> None:
    m = world.manifest
    distinct = {p.passage_id for p in world.passages}
    ids = [pid for pid, _ in out.charges] + [pid for pid, _ in out.dlq]
    assert Counter(ids) == Counter(distinct)  # each passage id exactly once, charge or dlq
    assert out.per_passage() == reference.per_passage()
    assert {pid for pid, d in out.dlq if d["reason"] == "MANUAL_REVIEW"} == m.low_confidence
    billing = {pid: c["billing"] for pid, c in out.charges}
    assert {pid for pid, b in billing.items() if b == "EXEMPT"} == m.exempt
    sets = out.alert_sets()
    assert sets["CLONED_PLATE"] == set(m.cloned_pairs)
    assert sets["TAG_MISMATCH"] == {(pid,) for pid in m.tag_mismatch}
    assert sets["CLASS_MISMATCH"] == {(pid,) for pid in m.class_mismatch}
    assert len([a for a in out.alerts if a["alert_type"] == "CLONED_PLATE"]) == len(m.cloned_pairs)
    assert out.balances == expected_balances(world, out)
    # top-ups come first (paid before any passage), so balances only fall afterwards: an account
    # crosses its threshold at most once, and exactly when its final balance is below it
    threshold = {a.account_id: a.low_balance_cents for a in world.accounts}
    low = Counter(a["account_id"] for a in out.alerts if a["alert_type"] == "LOW_BALANCE")
    assert low == Counter({acc for acc, cents in out.balances.items() if cents < threshold[acc]})
    assert low


def _complete(world: TollWorld) -> Callable[[Outputs], bool]:
    distinct = len({p.passage_id for p in world.passages})

    def done(out: Outputs) -> bool:
        return len(out.charges) + len(out.dlq) >= distinct and out.balances == expected_balances(
            world, out
        )

    return done


def test_toll_apps_on_a_broker_match_the_manifest(tmp_path: Path, world: TollWorld) -> None:
    with RunningBroker(tmp_path / "broker", BROKER) as broker:
        bootstrap = broker.bootstrap_servers
        create_topics(bootstrap, partitions=3)
        produce(bootstrap, world)
        with TollApps(bootstrap, state_dir=tmp_path / "state") as apps:
            assert apps.wait_running(90)
            out = collect(bootstrap, _complete(world), timeout_s=240)
            assert not apps.failed()
        check(world, out, oracle(world))
        assert world.manifest.cloned_pairs and world.manifest.tag_mismatch


class AppsProcess:
    """`python -m riverlog.labs.toll.apps` in its own process, so the test can SIGKILL it."""

    def __init__(self, bootstrap: str, state_dir: Path, log_path: Path) -> None:
        self.args = [sys.executable, "-m", "riverlog.labs.toll.apps", bootstrap, str(state_dir)]
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs_seen = 0

    def start(self) -> None:
        src = str(Path(__file__).resolve().parents[3] / "src")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if text.count("RUNNING") > self.runs_seen:
                self.runs_seen = text.count("RUNNING")
                return
            assert self.proc.poll() is None, text[-3000:]
            time.sleep(0.1)
        raise AssertionError(f"apps not RUNNING:\n{self.log_path.read_text()[-3000:]}")

    def processed(self) -> int:
        lines = [
            ln
            for ln in self.log_path.read_text(errors="replace").splitlines()
            if ln.startswith("PROCESSED ")
        ]
        return int(lines[-1].split()[1]) if lines else 0

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def test_killed_mid_run_and_restarted_gives_the_same_results(
    tmp_path: Path, world: TollWorld
) -> None:
    with RunningBroker(tmp_path / "broker", BROKER) as broker:
        bootstrap = broker.bootstrap_servers
        create_topics(bootstrap, partitions=3)
        produce(bootstrap, world, facts=False)
        apps = AppsProcess(bootstrap, tmp_path / "state", tmp_path / "apps.log")
        try:
            apps.start()
            produce_passages = subprocess_free_producer(bootstrap, world)
            deadline = time.monotonic() + 120
            while apps.processed() < VEHICLES + len(world.passages) // 4:
                assert time.monotonic() < deadline, apps.log_path.read_text()[-3000:]
                time.sleep(0.02)
            apps.kill()  # mid-run: open transactions are aborted, nothing is committed twice
            produce_passages()
            apps.start()
            out = collect(bootstrap, _complete(world), timeout_s=240)
        finally:
            apps.stop()
        check(world, out, oracle(world))


def subprocess_free_producer(bootstrap: str, world: TollWorld) -> Callable[[], None]:
    """Send the first half of the passages now; the returned call sends the rest."""
    producer = Producer(PRODUCER | {"bootstrap.servers": bootstrap})
    half = len(world.passages) // 2

    def send(passages: list[Any]) -> None:
        for p in passages:
            producer.produce(
                TOPICS["passages"],
                key=p.plate.encode(),
                value=json.dumps(to_json(p)).encode(),
                timestamp=p.captured_at,
            )
        assert producer.flush(60) == 0

    send(world.passages[:half])
    return lambda: send(world.passages[half:])
