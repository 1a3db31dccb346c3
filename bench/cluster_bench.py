"""Three brokers on this machine, RF=3, against one broker in the same run; and failover time.

Throughput: librdkafka's `rdkafka_performance`, one producer, 100-byte records into one partition
(linger.ms=5, the tool's other settings), acks=1 and acks=all; the single node's topic has RF 1, the
cluster's RF 3 with min.insync.replicas=2. Each figure is the best of `--repeats` runs (median shown).

Failover: a confluent-kafka producer (acks=all, idempotent) writes one record at a time to a RF=3
partition; its leader is SIGKILLed; the time from the kill to the first acknowledged write is the
failover time. It is bounded below by the ZooKeeper session timeout (how long ZooKeeper takes to notice
the dead broker), set here to `--session-timeout-ms`, as Kafka's is.

    python -m bench.cluster_bench [--records N] [--repeats N] [--failovers N] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer

from bench.broker_report import write_results
from bench.broker_runs import create_topics, produce, warm_up
from bench.broker_support import load_average, rdkafka_performance, riverlog_broker
from riverlog.testing.cluster import LocalCluster
from riverlog.testing.zookeeper import ZooKeeperServer

SECTION = "## Replicated cluster (issue 6)"


def best_and_median(
    perf: str, bootstrap: str, topic: str, records: int, acks: str, repeats: int
) -> tuple[float, float]:
    rates = [produce(perf, bootstrap, topic, records, acks).rate for _ in range(repeats)]
    return max(rates), statistics.median(rates)


def single_node(
    perf: str, records: int, repeats: int, work: Path
) -> dict[str, tuple[float, float]]:
    out = {}
    with riverlog_broker(work / "single.log") as broker:
        bootstrap = f"127.0.0.1:{broker.port}"
        warm_up(perf, bootstrap)
        create_topics(bootstrap, ["single-acks1", "single-acksall"])
        out["1"] = best_and_median(perf, bootstrap, "single-acks1", records, "1", repeats)
        out["all"] = best_and_median(perf, bootstrap, "single-acksall", records, "-1", repeats)
    return out


def failover_once(cluster: LocalCluster, topic: str) -> float:
    leader = cluster.metadata(topic)[0].leader
    producer = Producer(
        {
            "bootstrap.servers": cluster.bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 0,
            "message.timeout.ms": 60000,
        }
    )
    for _ in range(20):  # connected and writing before the kill
        producer.produce(topic, b"before", partition=0)
    assert producer.flush(30) == 0
    cluster.broker(leader).kill()
    killed = time.monotonic()
    delivered: list[float] = []
    producer.produce(
        topic,
        b"after",
        partition=0,
        on_delivery=lambda err, _m: delivered.append(time.monotonic()) if err is None else None,
    )
    while not delivered and time.monotonic() - killed < 60:
        producer.poll(0.01)
    producer.flush(10)
    if not delivered:
        raise RuntimeError("no acknowledged write within 60 s of the leader's death")
    cluster.broker(leader).restart()
    cluster.wait_for_isr(topic, 0, {1, 2, 3}, timeout=60)
    return delivered[0] - killed


def cluster_runs(
    perf: str, records: int, repeats: int, failovers: int, session_ms: int, work: Path
) -> tuple[dict[str, tuple[float, float]], list[float]]:
    settings = {
        "zookeeper.session.timeout.ms": str(session_ms),
        "replica.lag.time.max.ms": "10000",
        "min.insync.replicas": "2",
        "default.replication.factor": "3",
        "offsets.topic.replication.factor": "3",
    }
    out = {}
    with (
        ZooKeeperServer(work / "zk") as zk,
        LocalCluster(zk, work / "cluster", size=3, config=settings) as cluster,
    ):
        bootstrap = cluster.bootstrap_servers
        for topic in ("rf3-acks1", "rf3-acksall", "rf3-failover"):
            cluster.create_topic(topic, partitions=1, replication_factor=3)
        warm_up(perf, bootstrap)
        out["1"] = best_and_median(perf, bootstrap, "rf3-acks1", records, "1", repeats)
        out["all"] = best_and_median(perf, bootstrap, "rf3-acksall", records, "-1", repeats)
        times = [failover_once(cluster, "rf3-failover") for _ in range(failovers)]
    return out, times


def _rate(r: float) -> str:
    return f"{r / 1e6:.2f}M rec/s" if r >= 1e6 else f"{r / 1e3:.0f}k rec/s"


def report(
    single: dict[str, tuple[float, float]],
    cluster: dict[str, tuple[float, float]],
    times: list[float],
    args: argparse.Namespace,
    started: str,
    perf_version: str,
) -> str:
    lines = [
        SECTION,
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python -m bench.cluster_bench` on {os.cpu_count()} cores; "
        f"load average at start {started}, at end {load_average()}. Three broker processes and ZooKeeper share the machine's cores "
        f"with the producer. `rdkafka_performance` (librdkafka {perf_version}), {args.records:,} records of 100 bytes per run, "
        f"one partition, linger.ms=5; best of {args.repeats} runs (median in brackets). Cluster: RF 3, min.insync.replicas=2; "
        "single node: RF 1, same run.",
        "",
        "| metric | 3 brokers, RF 3 | single node | ratio | goal |",
        "| --- | --- | --- | --- | --- |",
    ]
    for acks, label in (("1", "acks=1"), ("all", "acks=all")):
        c, s = cluster[acks], single[acks]
        goal = "≥ 0.6x single node (Kreps measured 0.51x)" if acks == "all" else "—"
        lines.append(
            f"| Producer, {label} | {_rate(c[0])} ({_rate(c[1])}) | {_rate(s[0])} ({_rate(s[1])}) | {c[0] / s[0]:.2f}x | {goal} |"
        )
    lines.append(
        f"| Failover: leader SIGKILL → first acks=all write acknowledged | median {statistics.median(times):.2f} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in times)} s) | — | — | zookeeper.session.timeout.ms={args.session_timeout_ms} "
        "(Kafka's default 18000) bounds it from below |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    started = load_average()
    perf, version = rdkafka_performance()
    with tempfile.TemporaryDirectory(prefix="riverlog-cluster-bench-") as tmp:
        work = Path(tmp)
        single = single_node(perf, args.records, args.repeats, work)
        cluster, times = cluster_runs(
            perf, args.records, args.repeats, args.failovers, args.session_timeout_ms, work
        )
    section = report(single, cluster, times, args, started, version)
    print(section)
    if not args.no_write:
        write_results(section, SECTION)


if __name__ == "__main__":
    main()
