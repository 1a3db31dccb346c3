"""Storage engine benchmark (issue 2): append, strict-mode group commit, read, recovery, compaction.

    .venv/bin/python -m bench.storage_bench [--dir DIR] [--recovery-gib 1] [--no-write]

Everything runs in one process on this machine, in a fresh directory under --dir (default: the
system temp dir), and is printed as a table; unless --no-write the table replaces the section
`## Storage (issue 2)` of bench/RESULTS.md (other sections are kept).

1. Append throughput, leader path (`PartitionLog.append`, Kafka's default durability: page cache
   only), for batches of 100 records x 100-byte values and for ~1 MiB batches, each next to a plain
   `os.write` loop of the very same bytes into a file in the same directory; the ratio is
   riverlog / raw. Short runs (~20 MiB) alternate raw/log; the best of `--repeats` counts.
2. Strict mode: `riverlog.strict.durability` appends awaited through `GroupCommitter.sync`
   (fsync, group commit) with 1 and 32 concurrent producers: acknowledged appends per second and
   fsyncs per second.
3. Read throughput from the page cache: `PartitionLog.read` from offset 0 to the end, 1 MiB at a
   time, of the log just written (MB/s, and records/s counted from the batch headers).
4. Recovery: a log of `--recovery-gib` GiB (100 x 100-byte batches) is reopened with recovery
   point 0, so every batch is re-read and CRC-checked and every index rebuilt (warm page cache:
   the files were just written).
5. Compaction: `LogCleaner` over 200,000 keyed records (10,000 keys, 100-byte values, batches of
   100): records/s of the whole round (offset map + rewrite), driven by `clean_pass` with the
   default step size, and the mean time one such step holds the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from riverlog.protocol.records import build_batch, iter_batches
from riverlog.storage import GroupCommitter, LogConfig, PartitionLog

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADING = "## Storage (issue 2)"
MIB = 1024 * 1024

Row = tuple[str, str, str]  # metric, value, notes


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def small_batch() -> bytes:
    ts = now_ms()
    return build_batch([(None, os.urandom(100), (), ts) for _ in range(100)])


def mib_batch() -> bytes:
    ts = now_ms()
    return build_batch([(None, os.urandom(1024), (), ts) for _ in range(1000)])


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- 1. append vs raw write -----------------------------------------------------------------------


def append_vs_raw(work: Path, batch: bytes, count: int, repeats: int) -> tuple[float, float]:
    """Best seconds for `count` appends through the log and through a raw os.write loop.

    Short runs alternate (raw, log, raw, log...) into one log and one raw file, and the best run
    of each counts: on a shared machine that is the figure least disturbed by other work."""
    config = LogConfig(max_message_bytes=2 * MIB)
    log = PartitionLog.open(work / "append-0", config)
    fd = os.open(work / "raw.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    stamp = now_ms()
    append, write = log.append, os.write

    def appends() -> None:
        for _ in range(count):
            append(batch, leader_epoch=0, now_ms=stamp)

    def raw() -> None:
        for _ in range(count):
            write(fd, batch)

    best_raw = best_log = float("inf")
    try:
        for _ in range(repeats):
            best_raw = min(best_raw, timed(raw))
            best_log = min(best_log, timed(appends))
    finally:
        os.close(fd)
        log.close_handles()
        (work / "raw.bin").unlink()
        shutil.rmtree(work / "append-0")
    return best_raw, best_log


def append_rows(work: Path, repeats: int) -> list[Row]:
    rows = []
    for name, batch, count in (
        ("100 x 100 B", small_batch(), 2_000),
        ("1 MiB", mib_batch(), 20),
    ):
        raw, log = append_vs_raw(work, batch, count, repeats)
        size = len(batch)
        rows += [
            (f"append, batches of {name}: appends/s", f"{count / log:,.0f}",
             f"{size * count / log / MIB:,.0f} MiB/s; batch {size:,} bytes"),
            (f"raw os.write, same bytes ({name}): writes/s", f"{count / raw:,.0f}",
             f"{size * count / raw / MIB:,.0f} MiB/s"),
            (f"append / raw write ({name})", f"{raw / log:.2f}x",
             f"per append {log / count * 1e6:.1f} us vs {raw / count * 1e6:.1f} us raw"),
        ]  # fmt: skip
    return rows


# --- 2. strict mode -------------------------------------------------------------------------------


async def strict_appends(log: PartitionLog, producers: int, seconds: float) -> tuple[int, int]:
    committer = GroupCommitter()
    batch = build_batch([(None, b"x" * 100, (), now_ms()) for _ in range(10)])
    acked = 0
    deadline = time.perf_counter() + seconds

    async def producer() -> None:
        nonlocal acked
        while time.perf_counter() < deadline:
            log.append(batch, leader_epoch=0)
            await committer.sync(log)
            acked += 1

    await asyncio.gather(*(producer() for _ in range(producers)))
    return acked, committer.fsyncs


def strict_rows(work: Path, seconds: float) -> list[Row]:
    rows = []
    for producers in (1, 32):
        log = PartitionLog.open(work / f"strict-{producers}", LogConfig(strict_durability=True))
        start = time.perf_counter()
        acked, fsyncs = asyncio.run(strict_appends(log, producers, seconds))
        elapsed = time.perf_counter() - start
        log.close()
        rows.append(
            (f"strict mode, {producers} producer(s): acked appends/s", f"{acked / elapsed:,.0f}",
             f"{fsyncs / elapsed:,.0f} fsyncs/s (group commit); batches of 10 x 100 B")
        )  # fmt: skip
    return rows


# --- 3. reads -------------------------------------------------------------------------------------


def write_log(directory: Path, total_bytes: int, config: LogConfig) -> tuple[PartitionLog, int]:
    """A log of about `total_bytes` of 100 x 100 B batches; returns it and its record count."""
    log = PartitionLog.open(directory, config)
    batch = small_batch()
    stamp = now_ms()
    for _ in range(total_bytes // len(batch)):
        log.append(batch, leader_epoch=0, now_ms=stamp)
    log.high_watermark = log.log_end_offset
    return log, log.log_end_offset


def read_rows(work: Path) -> list[Row]:
    log, records = write_log(work / "read-0", 256 * MIB, LogConfig())
    best = float("inf")
    total = 0
    for _ in range(3):
        start, offset, total = time.perf_counter(), 0, 0
        end = log.log_end_offset
        while offset < end:
            chunk = log.read(offset, MIB)
            total += chunk.size
            offset = chunk.last_offset + 1
        best = min(best, time.perf_counter() - start)
    # Counting records needs the headers: done once, outside the timed loop.
    log.close_handles()
    return [
        ("read from page cache: MB/s", f"{total / best / 1e6:,.0f}",
         f"PartitionLog.read, 1 MiB per call, {total / MIB:,.0f} MiB log"),
        ("read from page cache: records/s", f"{records / best:,.0f}",
         "whole batches as bytes; records never decoded on this path"),
    ]  # fmt: skip


# --- 4. recovery ----------------------------------------------------------------------------------


def recovery_rows(work: Path, gib: float) -> list[Row]:
    config = LogConfig()
    log, records = write_log(work / "recover-0", int(gib * 1024 * MIB), config)
    size = log.size_in_bytes
    segments = len(log.segments)
    log.close_handles()  # no flush, no snapshot: everything after recovery point 0 is replayed
    start = time.perf_counter()
    reopened = PartitionLog.open(work / "recover-0", config, recovery_point=0)
    elapsed = time.perf_counter() - start
    assert reopened.log_end_offset == records
    reopened.close_handles()
    shutil.rmtree(work / "recover-0")
    return [
        (f"recovery of a {size / MIB / 1024:.2f} GiB log: seconds", f"{elapsed:.2f}",
         f"{size / elapsed / MIB:,.0f} MiB/s; {segments} segment(s), {records // 100:,} batches "
         "CRC-checked, indexes rebuilt; warm page cache"),
    ]  # fmt: skip


# --- 5. compaction --------------------------------------------------------------------------------


def compaction_rows(work: Path) -> list[Row]:
    config = LogConfig(
        cleanup_policy=("compact",), segment_bytes=64 * MIB, min_cleanable_dirty_ratio=0.0
    )
    log = PartitionLog.open(work / "compact-0", config)
    stamp = now_ms()
    value = os.urandom(100)
    records = 200_000
    for start in range(0, records, 100):
        batch = build_batch([(b"key-%d" % ((start + i) % 10_000), value, (), stamp)
                             for i in range(100)])  # fmt: skip
        log.append(batch, leader_epoch=0, now_ms=stamp)
    log.roll(stamp)
    log.high_watermark = log.log_end_offset
    dirty_bytes = log.size_in_bytes
    # Imported here: `--only append` also runs on trees without the cleaner (before/after runs).
    from riverlog.storage.cleaner import DEFAULT_STEP_BYTES, LogCleaner

    cleaner = LogCleaner(work)
    logs = {("compact", 0): log}
    start_time = time.perf_counter()
    passes = 0
    while cleaner.rounds_completed == 0:
        cleaner.clean_pass(logs, stamp, DEFAULT_STEP_BYTES)
        passes += 1
    elapsed = time.perf_counter() - start_time
    kept = sum(h.records_count for s in log.segments for _, h in iter_batches(
        s.read_batch(0, s.size)))  # fmt: skip
    log.close_handles()
    return [
        ("compaction: records/s", f"{records / elapsed:,.0f}",
         f"{records:,} records ({dirty_bytes / MIB:.1f} MiB) -> {kept:,} in {elapsed:.2f} s; "
         f"map + rewrite, {passes} clean_pass calls of {DEFAULT_STEP_BYTES // 1024} KiB"),
        (f"compaction: loop time per {DEFAULT_STEP_BYTES // 1024} KiB step",
         f"{elapsed / passes * 1000:.0f} ms",
         "what one LogManager.clean_pass() (default max_bytes) holds the event loop for"),
    ]  # fmt: skip


# --- report ---------------------------------------------------------------------------------------


def markdown(rows: list[Row], args: argparse.Namespace) -> str:
    date = datetime.date.today().isoformat()
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    lines = [
        HEADING,
        "",
        f"`python -m bench.storage_bench --recovery-gib {args.recovery_gib:g}` on {machine}; "
        "data in a temp dir on the local disk. Figures are from one run; they move with load on "
        "the machine (other jobs share its 2 cores).",
        "",
        "| metric | value | notes | date |",
        "|---|---|---|---|",
    ]
    lines += [f"| {m} | {v} | {n} | {date} |" for m, v, n in rows]
    lines += ["", *PROFILE_NOTES]
    return "\n".join(lines) + "\n"


# What the append-path profiling changed (measured once, 2026-11-27; kept with the section).
PROFILE_NOTES = [
    "Append path, profiled (cProfile, pyinstrument) and measured before/after on 2026-11-27 with "
    "`--only append`, three alternating runs each of the tree before this work (a247202) and "
    "after: 100 x 100 B batches 0.51-0.58x -> 0.57-0.61x raw write (16.3-22.5 -> 15.8-17.8 "
    "us per append); 1 MiB batches 0.69-0.71x -> 0.79-0.88x (493-513 -> 394-483 us). Python "
    "time per append with the file replaced by /dev/null: 6.0 -> 5.4 us. Changes: the produced "
    "batch is no longer copied (one `os.writev` of a new 16-byte head + the rest, instead of "
    "`bytearray` copy + patch + write: 35 us per MiB), the index bookkeeping is inline, the "
    "fast-path eligibility is one attribute, AppendResult is built with `tuple.__new__`. "
    "What remains for small batches is the CRC32C check Kafka requires on the leader (1.1 us "
    "for 11 KB), header unpacking (0.4 us), `writev`'s own cost over `write` (~0.7 us) and "
    "~3 us of interpreter work; 0.8x for 11 KB batches would need fewer Python operations per "
    "batch than the checks themselves take (e.g. appending several produce requests in one "
    "write), so the goal is met for 1 MiB batches only.",
    "",
    "Compaction was 34,000 records/s with full record decoding (protocol's decode_records); the "
    "cleaner now scans only offsets, keys and null values and copies kept records' bytes, "
    "about 3x faster.",
]


def replace_section(text: str, section: str) -> str:
    """`text` with the `## Storage (issue 2)` section replaced (or appended)."""
    start = text.find(HEADING)
    if start < 0:
        base = text.rstrip() + "\n\n" if text.strip() else "# Benchmark results\n\n"
        return base + section
    end = text.find("\n## ", start + len(HEADING))
    rest = text[end + 1 :] if end >= 0 else ""
    return text[:start] + section + ("\n" + rest if rest else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to put the test data")
    parser.add_argument("--recovery-gib", type=float, default=1.0, help="log size to recover")
    parser.add_argument("--repeats", type=int, default=15, help="append runs of each kind")
    parser.add_argument("--strict-seconds", type=float, default=2.0)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--only", default="", help="comma-separated: append,strict,read,recovery,compaction"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="riverlog-storage-bench-", dir=args.dir))
    rows: list[Row] = []
    try:
        steps: tuple[tuple[str, Callable[[], list[Row]]], ...] = (
            ("append", lambda: append_rows(work, args.repeats)),
            ("strict", lambda: strict_rows(work, args.strict_seconds)),
            ("read", lambda: read_rows(work)),
            ("recovery", lambda: recovery_rows(work, args.recovery_gib)),
            ("compaction", lambda: compaction_rows(work)),
        )
        wanted = set(args.only.split(",")) if args.only else {name for name, _ in steps}
        for name, fn in steps:
            if name not in wanted:
                continue
            print(f"running {name}...", file=sys.stderr, flush=True)
            produced = fn()
            for metric, value, notes in produced:
                print(f"{metric:58} {value:>12}  {notes}", flush=True)
            rows += produced
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not args.no_write and not args.only:
        text = RESULTS.read_text() if RESULTS.exists() else ""
        RESULTS.write_text(replace_section(text, markdown(rows, args)))
        print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
