"""Crash test for compaction: SIGKILL a child that appends and cleans at random moments, then
recover and check that compaction lost nothing it should have kept.

After reopening (full recovery): no `.cleaned`/`.swap`/`.deleted` file is left, every readable
record is the one written at its offset, and the latest record of every key below the log end
offset is there. 3 trials in the normal suite; 30 under `make chaos` (RIVERLOG_CHAOS=1).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cleaner_crash_child import CONFIG, key_of, value_of

from riverlog.protocol.records import crc_ok, decode_records, iter_batches
from riverlog.storage import PartitionLog

CHILD = Path(__file__).with_name("cleaner_crash_child.py")


def run_trial(data_dir: Path, seed: int) -> None:
    rng = random.Random(seed)
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(data_dir), str(seed)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    for _ in range(rng.randint(1, 120)):
        if not child.stdout.readline():
            break
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    child.stdout.close()
    check_recovered(data_dir / "topic-0")


def check_recovered(directory: Path) -> None:
    log = PartitionLog.open(directory, CONFIG)
    try:
        leftovers = [p.name for p in directory.iterdir() if p.suffix in (".cleaned", ".swap",
                                                                         ".deleted")]  # fmt: skip
        assert leftovers == []
        seen: dict[int, tuple[bytes | None, bytes | None]] = {}
        for segment in log.segments:
            data = segment.read_batch(0, segment.size)
            for pos, header in iter_batches(data):
                assert crc_ok(data, pos, header)
                for record in decode_records(data, pos, header):
                    assert record.offset not in seen
                    seen[record.offset] = (record.key, record.value)
        for offset, (key, value) in seen.items():
            assert (key, value) == (key_of(offset), value_of(offset)), offset
        latest = {key_of(o): o for o in range(log.log_end_offset)}
        missing = [o for o in latest.values() if o not in seen]
        assert missing == [], f"latest records lost: {missing}"
    finally:
        log.close_handles()


@pytest.mark.parametrize("seed", range(3))
def test_cleaner_survives_sigkill(tmp_path: Path, seed: int) -> None:
    run_trial(tmp_path, seed)


@pytest.mark.chaos
@pytest.mark.skipif(not os.environ.get("RIVERLOG_CHAOS"), reason="long run: make chaos")
@pytest.mark.parametrize("seed", range(100, 130))
def test_cleaner_survives_sigkill_many(tmp_path: Path, seed: int) -> None:
    run_trial(tmp_path, seed)
