"""Crash-test child: appends keyed records and compacts them in tiny steps until killed.

Usage: python cleaner_crash_child.py <data-dir> <seed>

The record at offset o always has key `key_of(o)` and value `value_of(o)`, so the parent can
check whatever survives without knowing how far the child got. Prints `ready` once the first
records are written, then a line per cleaner pass.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from riverlog.protocol.records import build_batch
from riverlog.storage import LogCleaner, LogConfig, PartitionLog

NOW = 1_700_000_000_000
CONFIG = LogConfig(cleanup_policy=("compact",), segment_bytes=700, min_cleanable_dirty_ratio=0.0)
TP = ("topic", 0)


def key_of(offset: int) -> bytes:
    return b"k%d" % (offset * 7 % 11)


def value_of(offset: int) -> bytes | None:
    return None if offset % 5 == 4 else b"v%d" % offset


def append_some(log: PartitionLog, rng: random.Random) -> None:
    for _ in range(rng.randint(5, 20)):
        first = log.log_end_offset
        count = rng.randint(1, 4)
        records = [(key_of(o), value_of(o), (), NOW) for o in range(first, first + count)]
        log.append(build_batch(records, compression=rng.randint(0, 4)), leader_epoch=0)
    log.roll(NOW)
    log.high_watermark = log.log_end_offset


def main(data_dir: Path, seed: int) -> None:
    rng = random.Random(seed)
    log = PartitionLog.open(data_dir / "topic-0", CONFIG)
    cleaner = LogCleaner(data_dir)
    append_some(log, rng)
    print("ready", flush=True)
    while True:
        result = cleaner.clean_pass({TP: log}, NOW, rng.randint(50, 400))
        print(f"pass {result.bytes_read} {result.busy}", flush=True)
        if not result.busy:
            append_some(log, rng)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
