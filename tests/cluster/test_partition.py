"""A leader cut off from the network (its own namespace, link down) loses leadership; nothing is lost.

The isolated broker can reach neither ZooKeeper nor the other brokers: its session expires, the
controller elects a new leader from the rest of the ISR, and the isolated broker must stop
acknowledging acks=all writes. Healed, it rejoins the ISR.
"""

from __future__ import annotations

import sys
import time

import pytest

from riverlog.testing.checker import AckRecorder, check, read_all
from riverlog.testing.cluster import LocalCluster

# One fault episode, but about 20 s (session expiry dominates): run by `make chaos` and on request,
# kept out of `make test` so that the cluster suite stays under a minute.
pytestmark = [pytest.mark.cluster, pytest.mark.chaos]


def produce_inside(cluster: LocalCluster, broker_id: int, topic: str, value: str) -> str:
    """An acks=all write sent from inside the broker's namespace to the broker itself."""
    broker = cluster.broker(broker_id)
    command = [sys.executable, "-m", "riverlog.testing.raw_produce"]
    command += [broker.host, str(broker.port), topic, "0", "-1", value, "3"]
    done = cluster.namespaces[broker_id].run(*command, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_an_isolated_leader_loses_leadership_and_nothing_is_lost(
    partitionable_cluster3: LocalCluster, topic_name: str, failover_timeout: float
) -> None:
    cluster = partitionable_cluster3
    before = cluster.create_topic(topic_name, partitions=1, replication_factor=3)[0]
    earlier = AckRecorder(cluster.bootstrap_servers, topic_name)
    earlier.produce_values(100)
    assert earlier.flush(30) == 0

    cluster.isolate(before.leader)
    cut_at = time.monotonic()
    leader = cluster.wait_for_leader(
        topic_name, 0, exclude={before.leader}, timeout=failover_timeout
    )
    print(f"new leader {leader} {time.monotonic() - cut_at:.1f} s after the cut")
    assert leader in before.isr

    # The old leader, seen from its own side of the cut, must not acknowledge an acks=all write.
    answer = produce_inside(cluster, before.leader, topic_name, "written-to-the-zombie")
    print(f"the isolated ex-leader answered: {answer}")
    assert answer != "none", "an isolated ex-leader acknowledged an acks=all write"

    later = AckRecorder(cluster.bootstrap_servers, topic_name)
    later.produce_values(100)
    assert later.flush(30) == 0
    assert not later.refused, later.refused

    cluster.heal(before.leader)
    cluster.wait_for_isr(topic_name, 0, {1, 2, 3}, timeout=failover_timeout)
    read = read_all(cluster.bootstrap_servers, topic_name)
    result = check(earlier.acked + later.acked, read)
    assert result.ok, result.summary()
    assert result.acknowledged == 200
    assert b"written-to-the-zombie" not in {r.value for r in read}
