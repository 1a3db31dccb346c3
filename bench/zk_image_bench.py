"""How soon a broker's cluster image shows one partition's state change, by partition count.

A ZooKeeper (Debian's, through `riverlog.testing.zookeeper`) is filled with T topics of P partitions in
Kafka's znode layout; one `ZkMetadataStore` (what a broker in ZooKeeper mode runs) starts on it. Then
another ZooKeeper client changes one partition's state znode (its ISR), 40 times over different topics,
and the bench times each change from the write until the store's image shows the new ISR. The store
re-reads only the znodes ZooKeeper reports changed (`riverlog.cluster.zk_cache`); before that cache it
re-read every znode on every change, so this figure grew with the partition count.

    python -m bench.zk_image_bench [--sizes 50x20,200x50] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from kazoo.client import KazooClient

from bench.broker_report import write_results
from bench.broker_support import load_average
from riverlog.cluster.zk_store import ZkMetadataStore
from riverlog.metadata import zk_format as zf
from riverlog.testing.zookeeper import ZooKeeperServer

SECTION = "## Cluster image refresh (ZooKeeper mode)"
CHANGES = 40


def populate(zk: KazooClient, topics: int, partitions: int) -> None:
    for t in range(topics):
        name = f"t{t}"
        assignment = zf.encode_topic(uuid.uuid4(), {p: [1] for p in range(partitions)})
        zk.create(zf.topic_path(name), assignment, makepath=True)
        pending = [
            zk.create_async(
                zf.state_path(name, p), zf.encode_state(zf.LeaderAndIsr(1, 0, (1,))), makepath=True
            )
            for p in range(partitions)
        ]
        for result in pending:
            result.get()


async def measure(connect: str, topics: int) -> tuple[float, list[float]]:
    """The store's first read, and each change's write-to-image time (seconds)."""
    loop = asyncio.get_running_loop()
    store = ZkMetadataStore(connect, broker_id=1, session_timeout_ms=10000)
    started = time.perf_counter()
    await asyncio.to_thread(store.start, loop, "bench")
    first = time.perf_counter() - started
    writer = KazooClient(hosts=connect)
    writer.start()
    times = []
    try:
        for i in range(CHANGES):
            name = f"t{i % topics}"
            isr = (1, 2) if i % 2 == 0 else (1,)
            began = time.perf_counter()
            writer.set(zf.state_path(name, 0), zf.encode_state(zf.LeaderAndIsr(1, i + 1, isr)))
            while store.image.topics[name].partitions[0].isr != isr:
                await asyncio.sleep(0.0005)
            times.append(time.perf_counter() - began)
    finally:
        writer.stop()
        store.close()
    return first, times


def run(topics: int, partitions: int, work: Path) -> str:
    with ZooKeeperServer(work / f"zk-{topics}x{partitions}") as server:
        zk = KazooClient(hosts=server.connect_string)
        zk.start()
        populate(zk, topics, partitions)
        zk.stop()
        first, times = asyncio.run(measure(server.connect_string, topics))
    ms = sorted(t * 1000 for t in times)
    return (
        f"| {topics * partitions:,} ({topics} topics of {partitions}) | {first * 1000:.0f} ms | "
        f"{statistics.median(ms):.1f} ms | {ms[int(len(ms) * 0.9)]:.1f} ms | {ms[-1]:.1f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="50x20,200x50", help="TOPICSxPARTITIONS, comma-separated"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = load_average()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            topics, partitions = (int(x) for x in size.split("x"))
            rows.append(run(topics, partitions, Path(tmp)))
            print(rows[-1], flush=True)
    section = "\n".join(
        [
            SECTION,
            "",
            f"Run {started} by `python -m bench.zk_image_bench`; load average before: {load}. "
            f"One `ZkMetadataStore` (a broker's view of ZooKeeper) on Debian's ZooKeeper; another "
            f"client changes one partition's ISR {CHANGES} times; each time is from the write until "
            "the store's image shows it.",
            "",
            "| partitions | first read (start) | change visible, median | p90 | max |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
        ]
    )
    print(section)
    if not args.no_write:
        write_results(section, SECTION)


if __name__ == "__main__":
    main()
