"""Durability: flushes prepared on the loop and fsynced on a thread, and strict-mode group commit.

Two policies (LogConfig.strict_durability, topic config `riverlog.strict.durability`, broker
`riverlog.durability=kafka|strict`):

- kafka (default): a produce is acknowledged once its batch is in the page cache (and, with
  acks=all, replicated). It survives a broker process crash (the kernel keeps the page cache) but
  not a power loss or kernel crash on every replica at once. Logs are fsynced by `flush.messages`
  (from append), `flush.ms` and after a segment rolls (from `LogManager.flush_pass`).
- strict: the broker awaits `GroupCommitter.sync(log)` after the append and before the
  acknowledgement, so an acknowledged batch is on stable storage, even on a single node.

Group commit: one fsync covers everything appended before it started. While an fsync runs, new
callers wait for the *next* one, which starts as soon as the running one ends and covers all of
them; so with N concurrent producers the fsync rate stays bounded by the disk, not by N. The
fsync runs in a thread pool (`loop.run_in_executor`) on duplicated file descriptors, so the loop
keeps appending (and may even roll or delete segments) meanwhile.

Crash behaviour: a fsync that completed moved the recovery point; recovery after a crash keeps
every batch below it (unless the disk lied) and re-validates the rest.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(slots=True)
class PendingFlush:
    """An fsync prepared on the loop (`PartitionLog.begin_flush`), run anywhere, completed on
    the loop (`PartitionLog.complete_flush`)."""

    target_offset: int
    generation: int
    fds: list[int] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    def run(self) -> None:
        """fsync everything (safe on a worker thread); closes the duplicated descriptors."""
        try:
            for fd in self.fds:
                os.fsync(fd)
            for path in self.paths:
                _fsync_path(path)
        finally:
            for fd in self.fds:
                os.close(fd)
            self.fds = []


def _fsync_path(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # deleted meanwhile (retention, truncation): nothing left to make durable
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Flushable(Protocol):
    """What the group committer needs of a log (PartitionLog is one): the seam type that keeps
    this module below the log."""

    @property
    def log_end_offset(self) -> int: ...

    @property
    def recovery_point(self) -> int: ...

    def begin_flush(self) -> PendingFlush: ...

    def complete_flush(self, pending: PendingFlush) -> None: ...

    def __hash__(self) -> int: ...


class _LogSyncState:
    __slots__ = ("running",)

    def __init__(self) -> None:
        self.running: asyncio.Future[None] | None = None


class GroupCommitter:
    """Coalesces fsyncs per log: `await sync(log)` returns once everything appended to `log`
    before the call is durable."""

    def __init__(self, executor: Executor | None = None) -> None:
        self._executor = executor
        self._states: weakref.WeakKeyDictionary[Flushable, _LogSyncState] = (
            weakref.WeakKeyDictionary()
        )
        self.fsyncs = 0  # flushes started (for tests and metrics)

    async def sync(self, log: Flushable) -> None:
        """Wait until every batch appended to `log` so far is on stable storage."""
        target = log.log_end_offset
        state = self._states.setdefault(log, _LogSyncState())
        # The recovery point only moves for flushes that saw no truncation, so it is the truth.
        while log.recovery_point < target:
            if state.running is None:
                state.running = asyncio.ensure_future(self._flush(log, state))
            await asyncio.shield(state.running)

    async def _flush(self, log: Flushable, state: _LogSyncState) -> None:
        try:
            pending = log.begin_flush()
            self.fsyncs += 1
            await asyncio.get_running_loop().run_in_executor(self._executor, pending.run)
            log.complete_flush(pending)
        finally:
            state.running = None

    def forget(self, log: Flushable) -> None:
        """Drop the state kept for a closed or deleted log."""
        self._states.pop(log, None)
