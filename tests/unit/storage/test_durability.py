"""Group commit: fsyncs on an executor, coalesced, advancing the recovery point."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from storage_batches import BASE_TS, LogFactory, batch

from riverlog.storage import GroupCommitter

NOW = BASE_TS


class ManualExecutor(Executor):
    """Runs submitted work only when the test says so."""

    def __init__(self) -> None:
        self.pending: list[tuple[Callable[[], Any], Future[Any]]] = []
        self.ran = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.pending.append((lambda: fn(*args, **kwargs), future))
        return future

    def run_pending(self) -> None:
        work, self.pending = self.pending, []
        for fn, future in work:
            future.set_result(fn())
            self.ran += 1


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_sync_makes_appends_durable(open_log: LogFactory) -> None:
    log = open_log(strict_durability=True)

    async def scenario() -> None:
        committer = GroupCommitter()  # the default thread pool
        log.append(batch(2), leader_epoch=0, now_ms=NOW)
        assert log.recovery_point == 0
        await committer.sync(log)
        assert log.recovery_point == 2
        await committer.sync(log)  # nothing new: no fsync
        assert committer.fsyncs == 1

    asyncio.run(scenario())


def test_concurrent_syncs_share_fsyncs(open_log: LogFactory) -> None:
    log = open_log()

    async def scenario() -> None:
        executor = ManualExecutor()
        committer = GroupCommitter(executor)
        log.append(batch(1), leader_epoch=0, now_ms=NOW)
        first = asyncio.create_task(committer.sync(log))
        await settle()
        assert len(executor.pending) == 1  # fsync #1 running, covering offset 0
        waiters = []
        for _ in range(10):  # these arrive while fsync #1 runs: they share fsync #2
            log.append(batch(1), leader_epoch=0, now_ms=NOW)
            waiters.append(asyncio.create_task(committer.sync(log)))
        await settle()
        assert len(executor.pending) == 1 and not first.done()
        executor.run_pending()
        await settle()
        assert first.done() and not any(w.done() for w in waiters)
        assert log.recovery_point == 1
        assert len(executor.pending) == 1  # fsync #2, covering all ten
        executor.run_pending()
        await settle()
        assert all(w.done() for w in waiters)
        assert log.recovery_point == 11 and committer.fsyncs == 2 and executor.ran == 2

    asyncio.run(scenario())


def test_flush_racing_a_truncation_does_not_move_the_recovery_point(open_log: LogFactory) -> None:
    log = open_log()
    log.append(batch(5), leader_epoch=0, now_ms=NOW)
    pending = log.begin_flush()
    log.truncate_to(0)
    log.append(batch(5), leader_epoch=0, now_ms=NOW)  # same offsets, new bytes, not fsynced
    pending.run()
    log.complete_flush(pending)
    assert log.recovery_point == 0
    log.flush()
    assert log.recovery_point == 5


def test_flush_covers_rolled_segments_and_the_directory(open_log: LogFactory) -> None:
    log = open_log(segment_bytes=len(batch(1)))
    for _ in range(3):
        log.append(batch(1), leader_epoch=0, now_ms=NOW)
    pending = log.begin_flush()
    assert len(pending.fds) == 3  # every segment with data past the recovery point
    assert log.directory in pending.paths  # new segment files: the directory too
    pending.run()
    log.complete_flush(pending)
    assert log.recovery_point == 3
    again = log.begin_flush()
    assert len(again.fds) == 1 and log.directory not in again.paths
    again.run()
