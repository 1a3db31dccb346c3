"""Fault episodes: a producer writes through faults; every acknowledged record survives.

`make chaos` runs `test_fault_episodes` (200 random episodes); `make test` runs
`test_each_fault_once` (one episode of every fault kind, in a fixed order).

Each episode creates a fresh topic (3 partitions, RF=3, min.insync.replicas=2), produces continuously
with an idempotent acks=all producer, injects one fault, heals it, waits for a full ISR again, then
reads everything back and checks it. The counts over all episodes are printed at the end.
RIVERLOG_CHAOS_EPISODES (default 200) sets the number of episodes, RIVERLOG_CHAOS_SEED the seed.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from riverlog.testing.checker import AckRecorder, CheckResult, check, read_all
from riverlog.testing.cluster import LocalCluster
from riverlog.testing.netns import available
from riverlog.testing.zookeeper import ZooKeeperServer

pytestmark = pytest.mark.cluster

PARTITIONS = 3
SESSION_TIMEOUT_S = 6.0  # zookeeper.session.timeout.ms in conftest's CLUSTER_SETTINGS


class ContinuousProducer:
    """Produces unique values from a thread of its own until stopped."""

    def __init__(self, recorder: AckRecorder) -> None:
        self.recorder = recorder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-producer", daemon=True)

    def __enter__(self) -> ContinuousProducer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.recorder.produce_values(10)
            self.recorder.poll(0.02)


class Episode:
    """One fault on one topic: each fault breaks something, waits for the cluster to react, heals."""

    def __init__(
        self, cluster: LocalCluster, zookeeper: ZooKeeperServer, topic: str, rng: random.Random
    ) -> None:
        self.cluster = cluster
        self.zookeeper = zookeeper
        self.topic = topic
        self.rng = rng
        self.partition = rng.randrange(PARTITIONS)

    def leader(self) -> int:
        return self.cluster.metadata(self.topic)[self.partition].leader

    def await_new_leader(self, old: int) -> None:
        self.cluster.wait_for_leader(self.topic, self.partition, exclude={old}, timeout=30)

    def kill_leader(self) -> None:
        victim = self.leader()
        self.cluster.broker(victim).kill()
        self.await_new_leader(victim)
        self.cluster.broker(victim).start()

    def pause_leader(self) -> None:
        # Frozen past its session timeout: it must lose leadership, and stop acting as leader.
        victim = self.cluster.broker(self.leader())
        victim.pause()
        time.sleep(SESSION_TIMEOUT_S + self.rng.uniform(0.5, 3.0))
        victim.resume()

    def stop_leader(self) -> None:
        # Controlled shutdown (SIGTERM), then back.
        victim = self.cluster.broker(self.leader())
        victim.stop(timeout=30)
        victim.start()

    def kill_controller(self) -> None:
        controller = self.cluster.controller_id()
        assert controller is not None
        self.cluster.broker(controller).kill()
        self.cluster.wait_for(
            lambda: self.cluster.controller_id() not in (None, controller),
            30,
            what="new controller",
        )
        self.cluster.broker(controller).start()

    def restart_zookeeper(self) -> None:
        # Back within the session timeout: sessions survive.
        self.zookeeper.stop()
        time.sleep(self.rng.uniform(0.2, 2.0))
        self.zookeeper.start()

    def isolate_leader(self) -> None:
        # Cut off from ZooKeeper and the other brokers until a new leader is elected, then healed.
        victim = self.leader()
        self.cluster.isolate(victim)
        self.await_new_leader(victim)
        time.sleep(self.rng.uniform(0.0, 2.0))
        self.cluster.heal(victim)

    def faults(self) -> dict[str, Callable[[], None]]:
        faults = {
            "kill_leader": self.kill_leader,
            "pause_leader": self.pause_leader,
            "stop_leader": self.stop_leader,
            "kill_controller": self.kill_controller,
            "restart_zookeeper": self.restart_zookeeper,
        }
        if self.cluster.network is not None:
            faults["isolate_leader"] = self.isolate_leader
        return faults

    def wait_until_healed(self) -> None:
        self.cluster.wait_for(
            lambda: set(self.cluster.registered_broker_ids()) == {1, 2, 3},
            60,
            what="all three brokers registered",
        )
        for partition in range(PARTITIONS):
            self.cluster.wait_for_isr(self.topic, partition, {1, 2, 3}, timeout=60)


@pytest.fixture
def chaos_cluster(request: pytest.FixtureRequest) -> tuple[LocalCluster, ZooKeeperServer]:
    """Brokers in network namespaces when this machine allows it (adds the isolation fault)."""
    if available() is None:
        cluster = request.getfixturevalue("partitionable_cluster3")
        return cluster, request.getfixturevalue("bridged_zookeeper")
    return request.getfixturevalue("cluster3"), request.getfixturevalue("zookeeper")


def run_episode(
    cluster: LocalCluster,
    zookeeper: ZooKeeperServer,
    number: int,
    rng: random.Random,
    kind: str | None,
) -> tuple[str, CheckResult, Counter[str]]:
    """One episode: a fresh topic, a continuous producer, one fault (`kind`, else a random one)."""
    topic = f"chaos-{number}-{uuid.uuid4().hex[:6]}"
    cluster.create_topic(topic, partitions=PARTITIONS, replication_factor=3)
    episode = Episode(cluster, zookeeper, topic, rng)
    faults = episode.faults()
    if kind is None:
        kind = rng.choice(sorted(faults))
    recorder = AckRecorder(cluster.bootstrap_servers, topic, config={"message.timeout.ms": 60_000})
    with ContinuousProducer(recorder):
        time.sleep(rng.uniform(0.2, 1.0))
        faults[kind]()
        episode.wait_until_healed()
        time.sleep(0.5)
    recorder.flush(90)
    result = check(recorder.acked, read_all(cluster.bootstrap_servers, topic))
    # Each episode's topic goes afterwards: the cluster's partition count (and every broker's
    # metadata work) stays that of one episode however long the run.
    delete_topic(cluster, topic)
    print(f"episode {number} {kind}: {result.summary()} refused={dict(recorder.refused)}")
    return kind, result, Counter(recorder.refused)


def delete_topic(cluster: LocalCluster, topic: str, timeout: float = 60.0) -> None:
    """Delete the episode's topic; REQUEST_TIMED_OUT (the broker's ZooKeeper session is still
    coming back from the fault) is retried, as an admin tool would."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.delete_topics([topic])[topic].result(timeout)
            return
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.REQUEST_TIMED_OUT or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def run_episodes(
    cluster: LocalCluster,
    zookeeper: ZooKeeperServer,
    kinds: list[str | None],
    seed: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = random.Random(seed)
    total, refused, counts = CheckResult(), Counter[str](), Counter[str]()
    for number, wanted in enumerate(kinds):
        kind, result, refusals = run_episode(cluster, zookeeper, number, rng, wanted)
        total = total + result
        counts[kind] += 1
        refused.update(refusals)
    with capsys.disabled():
        print(
            f"\nchaos seed={seed} episodes={len(kinds)} faults={dict(counts)}\n"
            f"chaos {total.summary()} refused={dict(refused)}"
        )
    assert total.ok, f"seed {seed}: {total.summary()}"
    assert total.acknowledged > 0


@pytest.mark.chaos
@pytest.mark.timeout(0)  # 200 episodes take about an hour; each one is bounded by its own waits
def test_fault_episodes(
    chaos_cluster: tuple[LocalCluster, ZooKeeperServer], capsys: pytest.CaptureFixture[str]
) -> None:
    cluster3, zookeeper = chaos_cluster
    episodes = int(os.environ.get("RIVERLOG_CHAOS_EPISODES", "200"))
    seed = int(os.environ.get("RIVERLOG_CHAOS_SEED", str(random.randrange(1 << 30))))
    run_episodes(cluster3, zookeeper, [None] * episodes, seed, capsys)


@pytest.mark.timeout(900)
def test_each_fault_once(
    chaos_cluster: tuple[LocalCluster, ZooKeeperServer], capsys: pytest.CaptureFixture[str]
) -> None:
    """The short version for `make test`: every fault kind once, in a fixed order."""
    cluster3, zookeeper = chaos_cluster
    kinds = sorted(Episode(cluster3, zookeeper, "-", random.Random(0)).faults())
    run_episodes(cluster3, zookeeper, list(kinds), 1, capsys)
