"""CpuTimed: the request-time quota's measure of a handler (its own steps' thread CPU time)."""

from __future__ import annotations

import asyncio

import pytest

from riverlog.broker.quotas import CpuTimed


def test_the_handlers_answer_and_errors_pass_through() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def fail() -> None:
        await asyncio.sleep(0)
        raise ValueError("bad")

    async def run() -> tuple[int, float]:
        timed = CpuTimed(answer())
        value = await timed
        with pytest.raises(ValueError, match="bad"):
            await CpuTimed(fail())
        return value, timed.seconds

    value, seconds = asyncio.run(run())
    assert value == 42
    assert seconds >= 0


def test_time_spent_waiting_is_not_counted() -> None:
    async def waits() -> None:
        await asyncio.sleep(0.3)

    async def run() -> float:
        timed = CpuTimed(waits())
        await timed
        return timed.seconds

    # the coroutine's two steps use far less CPU than the 0.3 s it waits (wall time would count it)
    assert asyncio.run(run()) < 0.3


def test_cancellation_reaches_the_handler() -> None:
    cancelled: list[bool] = []

    async def waits() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def timed() -> None:
        await CpuTimed(waits())

    async def run() -> None:
        task = asyncio.ensure_future(timed())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert cancelled == [True]
