"""Crash-test child: appends in strict durability mode and reports every durable batch.

Usage: python crash_child.py <partition-dir> <seed>

Prints `ready`, then one line per batch once `GroupCommitter.sync` returned for it:
`<first offset> <last offset> <id> <records> <value size>`. The parent SIGKILLs this process at a
random moment and checks every reported batch survived recovery intact. Batch contents are a
function of (id, records, value size): record i has key b"<id>:<i>" and a value of `size` bytes
equal to id % 251.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sys
from collections.abc import Iterator
from pathlib import Path

from riverlog.protocol.records import build_batch
from riverlog.storage import GroupCommitter, LogConfig, PartitionLog

CONFIG = LogConfig(segment_bytes=512 * 1024, strict_durability=True)
SIZES = (1, 100, 1000, 30_000, 120_000)  # 8 x 120 KB stays under max.message.bytes


def expected_records(ident: int, count: int, size: int) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs of batch `ident`."""
    value = bytes([ident % 251]) * size
    return [(b"%d:%d" % (ident, i), value) for i in range(count)]


def make_batch(ident: int, count: int, size: int) -> bytes:
    return build_batch(
        [(k, v, (), 1_700_000_000_000) for k, v in expected_records(ident, count, size)]
    )


async def producer(
    log: PartitionLog, committer: GroupCommitter, rng: random.Random, ids: Iterator[int]
) -> None:
    while True:
        ident, count, size = next(ids), rng.randint(1, 8), rng.choice(SIZES)
        result = log.append(make_batch(ident, count, size), leader_epoch=0)
        await committer.sync(log)
        print(f"{result.first_offset} {result.last_offset} {ident} {count} {size}", flush=True)


async def main(directory: Path, seed: int) -> None:
    log = PartitionLog.open(directory, CONFIG)
    committer = GroupCommitter()
    rng = random.Random(seed)
    ids = itertools.count(log.log_end_offset * 1000 + 1)
    print("ready", flush=True)
    await asyncio.gather(*(producer(log, committer, rng, ids) for _ in range(4)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
