"""Consumer-group benchmark: rebalance time of a 10-member group, and offset commit throughput.

Runs a riverlog broker in a subprocess (`riverlog broker start`, its own interpreter and event loop) and
drives it with confluent-kafka (librdkafka) clients from this process:

1. Rebalance, join -> all stable: 10 consumers subscribe to a 20-partition topic at once; the time until
   every one of them has its partitions (the client-observed end of JoinGroup + SyncGroup for all).
   `group.initial.rebalance.delay.ms` is 0 for this run (Kafka's default 3000 ms would dominate it).
2. Rebalance of a stable group: an 11th member joins the stable 10 (20 partitions); the time until the
   11 members again own all partitions (eager protocol: everyone rejoins).
3. Commit throughput: one consumer commits one offset per OffsetCommit, synchronously (a round trip
   each) and asynchronously (pipelined on the coordinator connection).
`--protocol consumer` runs 1 and 2 with KIP-848 members (ConsumerGroupHeartbeat, server-side assignor,
the heartbeat interval set on the broker).

    .venv/bin/python bench/group_bench.py [--rounds 5] [--commits 3000]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

RIVERLOG = str(Path(sys.executable).parent / "riverlog")
CONSUMER: dict[str, Any] = {
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
    "session.timeout.ms": 10000,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def broker_process(data_dir: Path, heartbeat_ms: int) -> Iterator[str]:
    port = free_port()
    settings = [
        "group.initial.rebalance.delay.ms=0",
        "offsets.topic.num.partitions=50",
        f"group.consumer.heartbeat.interval.ms={heartbeat_ms}",
    ]
    cmd = [
        RIVERLOG,
        "broker",
        "start",
        "--listen",
        f"127.0.0.1:{port}",
        "--data-dir",
        str(data_dir),
    ]
    for setting in settings:
        cmd += ["--set", setting]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("broker did not start") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


def create_topic(bootstrap: str, partitions: int) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)
    return name


def poll_until(consumers: list[Consumer], done: Callable[[], bool], timeout: float = 60) -> float:
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > timeout:
            raise TimeoutError("group did not settle")
        for consumer in consumers:
            consumer.poll(0.001)
    return time.monotonic() - start


def owned(consumers: list[Consumer]) -> list[int]:
    return [len(c.assignment()) for c in consumers]


def rebalance_round(bootstrap: str, topic: str, partitions: int) -> tuple[float, float]:
    """(10 members join -> all stable, an 11th joins the stable 10 -> all stable) in seconds."""
    group = f"bench-{uuid.uuid4().hex[:8]}"
    config = {"bootstrap.servers": bootstrap, "group.id": group, **CONSUMER}
    consumers = [Consumer(config) for _ in range(10)]
    start = time.monotonic()
    for consumer in consumers:
        consumer.subscribe([topic])
    poll_until(consumers, lambda: all(owned(consumers)) and sum(owned(consumers)) == partitions)
    initial = time.monotonic() - start
    newcomer = Consumer(config)
    everyone = [*consumers, newcomer]
    start = time.monotonic()
    newcomer.subscribe([topic])
    poll_until(everyone, lambda: all(owned(everyone)) and sum(owned(everyone)) == partitions)
    joined = time.monotonic() - start
    for consumer in everyone:
        consumer.close()
    return initial, joined


def commit_rate(bootstrap: str, topic: str, commits: int, asynchronous: bool) -> float:
    group = f"bench-commit-{uuid.uuid4().hex[:8]}"
    done = 0

    def on_commit(err: Any, _partitions: Any) -> None:
        nonlocal done
        if err is None:
            done += 1

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "on_commit": on_commit})
    consumer.assign([TopicPartition(topic, 0, 0)])
    consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)  # warm up
    done = 0
    start = time.monotonic()
    for i in range(1, commits + 1):
        consumer.commit(offsets=[TopicPartition(topic, 0, i)], asynchronous=asynchronous)
    while asynchronous and done < commits:
        consumer.poll(0.01)
    elapsed = time.monotonic() - start
    committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    consumer.close()
    assert committed == commits, committed
    return commits / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument(
        "--heartbeat-ms",
        type=int,
        default=3000,
        help="members' heartbeat.interval.ms (librdkafka's default 3000): members learn of a "
        "rebalance from a heartbeat answer, so it bounds the time of every rebalance but the first",
    )
    parser.add_argument(
        "--protocol",
        choices=["classic", "consumer"],
        default="classic",
        help="classic (JoinGroup/SyncGroup, client-side assignor) or consumer (KIP-848)",
    )
    args = parser.parse_args()
    if args.protocol == "consumer":
        CONSUMER["group.protocol"] = "consumer"  # KIP-848: the broker sets the heartbeat interval
        CONSUMER.pop("session.timeout.ms")
    else:
        CONSUMER["heartbeat.interval.ms"] = args.heartbeat_ms
    with (
        tempfile.TemporaryDirectory() as tmp,
        broker_process(Path(tmp), args.heartbeat_ms) as bootstrap,
    ):
        topic = create_topic(bootstrap, 20)
        rebalance_round(bootstrap, topic, 20)  # creates __consumer_offsets, warms up
        rounds = [rebalance_round(bootstrap, topic, 20) for _ in range(args.rounds)]
        initial, joined = [r[0] for r in rounds], [r[1] for r in rounds]
        sync_rate = commit_rate(bootstrap, topic, args.commits, asynchronous=False)
        async_rate = commit_rate(bootstrap, topic, args.commits * 3, asynchronous=True)
    print(
        f"rebalance, 10 members join -> all stable: median {statistics.median(initial) * 1000:.0f} ms"
        f" (min {min(initial) * 1000:.0f}, max {max(initial) * 1000:.0f}, {args.rounds} rounds)"
    )
    print(
        f"rebalance, 11th member joins a stable 10 -> all stable: median "
        f"{statistics.median(joined) * 1000:.0f} ms (min {min(joined) * 1000:.0f}, "
        f"max {max(joined) * 1000:.0f})"
    )
    print(f"offset commits, synchronous (1 partition each): {sync_rate:,.0f} commits/s")
    print(f"offset commits, asynchronous (pipelined): {async_rate:,.0f} commits/s")


if __name__ == "__main__":
    main()
