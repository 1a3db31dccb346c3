"""Random operation sequences on a PartitionLog, checked against a simple in-memory model.

The model is a list of batches (offsets, producer sequence, the exact bytes the log must hold),
the log start offset and the high watermark. Operations: leader appends (plain and idempotent,
with duplicates), reads, rolls, truncation, retention, DeleteRecords, clean and unclean reopen.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from storage_batches import BASE_TS, batch

from riverlog.protocol.records import iter_batches, patch_base_offset, patch_leader_epoch
from riverlog.storage import LogConfig, ManualClock, PartitionLog
from riverlog.storage.errors import DuplicateSequenceError, OffsetOutOfRangeError

PID = 1
CONFIG = LogConfig(
    segment_bytes=700, index_interval_bytes=120, segment_index_bytes=48, retention_ms=10_000
)


@dataclass
class ModelBatch:
    base: int
    last: int
    data: bytes  # as stored: offset and epoch patched
    sent: bytes  # as the producer sent it
    seq: int  # producer sequence of the first record, -1 without producer


class LogMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="riverlog-stateful-"))
        self.clock = ManualClock(BASE_TS)
        self.log = PartitionLog.open(self.tmp / "t-0", CONFIG, clock=self.clock)
        self.batches: list[ModelBatch] = []
        self.gone: list[ModelBatch] = []  # deleted by retention: producer state remembers them
        self.log_start = 0
        self.hw = 0
        self.epoch = 0

    def teardown(self) -> None:
        self.log.close_handles()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def leo(self) -> int:
        return self.batches[-1].last + 1 if self.batches else max(self.log_start, self._empty_end)

    _empty_end = 0

    def _last_producer_batch(self) -> ModelBatch | None:
        for candidate in reversed(self.gone + self.batches):
            if candidate.seq >= 0:
                return candidate
        return None

    # --- operations ----------------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        assert self.log.log_end_offset == 0

    @rule(count=st.integers(1, 6), size=st.integers(0, 120), idempotent=st.booleans())
    def append(self, count: int, size: int, idempotent: bool) -> None:
        seq = -1
        if idempotent:
            last = self._last_producer_batch()
            seq = last.seq + (last.last - last.base) + 1 if last else 0
        sent = batch(
            count,
            ts=self.clock.now_ms(),
            value=b"v" * size,
            pid=PID if idempotent else -1,
            epoch=0 if idempotent else -1,
            seq=seq,
        )
        result = self.log.append(sent, leader_epoch=self.epoch, now_ms=self.clock.now_ms())
        assert result.first_offset == self.leo
        stored = bytearray(sent)
        patch_base_offset(stored, 0, result.first_offset)
        patch_leader_epoch(stored, 0, self.epoch)
        self.batches.append(
            ModelBatch(result.first_offset, result.last_offset, bytes(stored), sent, seq)
        )
        assert result.last_offset == result.first_offset + count - 1

    @precondition(lambda self: any(b.seq >= 0 and b.last >= self.log_start for b in self.batches))
    @rule()
    def retry_last_producer_batch(self) -> None:
        last = self._last_producer_batch()
        assert last is not None
        with pytest.raises(DuplicateSequenceError) as caught:
            self.log.append(last.sent, leader_epoch=self.epoch, now_ms=self.clock.now_ms())
        assert (caught.value.original.first_offset, caught.value.original.last_offset) == (
            last.base,
            last.last,
        )

    @rule(data=st.data(), max_bytes=st.integers(1, 2000), bounded=st.booleans())
    def read(self, data: st.DataObject, max_bytes: int, bounded: bool) -> None:
        offset = data.draw(st.integers(max(self.log_start - 2, 0), self.leo + 2))
        max_offset = self.hw if bounded else None
        if offset < self.log_start or offset > self.leo:
            with pytest.raises(OffsetOutOfRangeError):
                self.log.read(offset, max_bytes, max_offset=max_offset)
            return
        got = self.log.read(offset, max_bytes, max_offset=max_offset).read()
        bound = self.leo if max_offset is None else min(max_offset, self.leo)
        expected = [b for b in self.batches if b.last >= offset and b.last < bound]
        if not expected:
            assert got == b""
            return
        returned = [got[pos : pos + h.size] for pos, h in iter_batches(got)]
        assert returned, "at least one batch (min_one)"
        assert returned == [b.data for b in expected[: len(returned)]]
        assert len(got) <= max_bytes or len(returned) == 1

    @rule()
    def roll(self) -> None:
        self.log.roll()

    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        target = data.draw(st.integers(self.log_start, self.leo))
        self.log.truncate_to(target)
        self.batches = [b for b in self.batches if b.last < target]
        end = self.batches[-1].last + 1 if self.batches else None
        if end is None:  # every batch went: the log ends where the first removed one began
            self._empty_end = self.log.log_end_offset
            end = self._empty_end
        self.log_start = min(self.log_start, end)
        self.hw = min(self.hw, end)

    @rule(forward=st.booleans())
    def advance_high_watermark(self, forward: bool) -> None:
        self.hw = self.leo if forward else (self.hw + self.leo) // 2
        self.log.high_watermark = self.hw

    @rule(ms=st.integers(0, 15_000))
    def retention(self, ms: int) -> None:
        self.clock.advance(ms)
        self.log.delete_old_segments(self.clock.now_ms())
        self._apply_log_start(self.log.log_start_offset)

    @rule(data=st.data())
    def delete_records(self, data: st.DataObject) -> None:
        target = data.draw(st.integers(self.log_start, max(self.log_start, self.hw)))
        assert self.log.delete_records_before(target) == max(self.log_start, target)
        self._apply_log_start(self.log.log_start_offset)

    def _apply_log_start(self, new_start: int) -> None:
        assert new_start >= self.log_start
        self.log_start = new_start
        self.hw = max(self.hw, new_start)
        self.gone += [b for b in self.batches if b.last < new_start]
        self.batches = [b for b in self.batches if b.last >= new_start]
        if not self.batches:
            self._empty_end = max(self._empty_end, new_start)

    @rule(clean=st.booleans())
    def reopen(self, clean: bool) -> None:
        log = self.log
        if clean:
            log.close()
            recovery_point = log.recovery_point
        else:  # a process crash: nothing flushed, no snapshot; recover everything
            log.close_handles()
            recovery_point = 0
        self.log = PartitionLog.open(
            self.tmp / "t-0",
            CONFIG,
            clock=self.clock,
            recovery_point=recovery_point,
            log_start_offset=self.log_start,
            high_watermark=self.hw,
        )
        self.epoch += 1

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def offsets_agree(self) -> None:
        log = self.log
        assert log.log_end_offset == self.leo
        assert log.log_start_offset == self.log_start
        assert log.high_watermark == self.hw
        assert log.log_start_offset <= log.high_watermark <= log.log_end_offset
        bases = [s.base_offset for s in log.segments]
        assert bases == sorted(set(bases)) and bases[0] <= log.log_start_offset
        assert log.size_in_bytes == sum(s.log_path.stat().st_size for s in log.segments)
        assert log.recovery_point <= log.log_end_offset


LogMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
TestPartitionLogStateful = LogMachine.TestCase
