"""Crash test: SIGKILL a strict-durability writer at random moments, then recover.

Each trial starts `crash_child.py`, lets it report a random number of durable batches, kills it
with SIGKILL (half the trials then also leave a torn batch after the tail, as a kill in the
middle of a large write would), reopens the log (full recovery) and checks: every batch reported durable is there
intact at its offset; every readable batch is whole and passes its CRC, offsets contiguous; and
appends continue right after the recovered tail. 4 trials in the normal suite; 60 under
`make chaos` (RIVERLOG_CHAOS=1).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from crash_child import CONFIG, expected_records, make_batch

from riverlog.protocol.records import crc_ok, decode_records, iter_batches
from riverlog.storage import PartitionLog

CHILD = Path(__file__).with_name("crash_child.py")


def run_trial(directory: Path, seed: int) -> None:
    rng = random.Random(seed)
    wanted = rng.randint(1, 60)
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(directory), str(seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    reported = []
    for line in child.stdout:
        reported.append(tuple(int(x) for x in line.split()))
        if len(reported) >= wanted:
            break
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL, "the child must die by SIGKILL, not by itself"
    # Lines written before the kill are durable too.
    reported += [tuple(int(x) for x in line.split()) for line in child.stdout.read().splitlines()]
    child.stdout.close()
    if rng.random() < 0.5:
        tear_tail(directory, rng)
    check_recovered(directory, reported)


def tear_tail(directory: Path, rng: random.Random) -> None:
    """What a kill in the middle of a large write leaves: a prefix of a batch after the tail
    (never reported durable, since the write had not returned)."""
    active = max(directory.glob("*.log"))
    torn = make_batch(rng.randrange(10**6), rng.randint(1, 8), 1000)
    with active.open("ab") as f:
        f.write(torn[: rng.randrange(1, len(torn))])


def check_recovered(directory: Path, reported: list[tuple[int, ...]]) -> None:
    log = PartitionLog.open(directory, CONFIG)  # no recovery point: full recovery
    try:
        for first, last, ident, count, size in reported:
            data = log.read(first, 1).read()
            header = next(iter_batches(data))[1]
            assert (header.base_offset, header.last_offset) == (first, last), (first, ident)
            got = [(r.key, r.value) for r in decode_records(data, 0, header)]
            assert got == expected_records(ident, count, size), (first, ident)
        offset = log.log_start_offset
        while offset < log.log_end_offset:
            chunk = log.read(offset, 4 * 1024 * 1024).read()
            for pos, header in iter_batches(chunk):
                assert header.base_offset == offset and crc_ok(chunk, pos, header)
                offset = header.last_offset + 1
        end = log.log_end_offset
        result = log.append(make_batch(0, 2, 10), leader_epoch=1)
        assert result.first_offset == end
        assert next(iter_batches(log.read(end, 1).read()))[1].base_offset == end
    finally:
        log.close()


@pytest.mark.parametrize("seed", [11, 22, 33, 44])
def test_crash_recovery_keeps_every_durable_batch(tmp_path: Path, seed: int) -> None:
    directory = tmp_path / "crash-0"
    run_trial(directory, seed)
    run_trial(directory, seed + 1)  # a second crash on top of the recovered log


@pytest.mark.chaos
@pytest.mark.skipif(os.environ.get("RIVERLOG_CHAOS") != "1", reason="long run: make chaos")
def test_crash_recovery_chaos(tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(2**32)
    print(f"chaos seed {seed}")
    rng = random.Random(seed)
    directory = tmp_path / "chaos-0"
    for trial in range(60):
        if trial % 10 == 0 and directory.exists():
            for path in directory.iterdir():
                path.unlink()
        run_trial(directory, rng.randrange(2**32))
