"""Punctuation (Kafka Streams' `PunctuationType`, `Cancellable`, `PunctuationQueue`).

Invariants (Kafka's firing rules): a stream-time schedule is aligned to 0 and first fires as soon as
the task has stream time; a wall-clock schedule first fires one interval after it was scheduled; a
schedule fires at most once per check even when time jumped several intervals, and its next time
stays aligned to its start (`start + k * interval`, the first one after the current time); the
punctuator gets the current (stream or wall-clock) time; a cancelled schedule never fires again.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

Punctuator = Callable[[int], None]


class PunctuationType(enum.Enum):
    STREAM_TIME = "STREAM_TIME"
    WALL_CLOCK_TIME = "WALL_CLOCK_TIME"


@dataclass(order=True)
class PunctuationSchedule:
    timestamp: int
    seq: int
    node: str = field(compare=False)
    interval: int = field(compare=False)
    punctuator: Punctuator = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def next_time(self, now: int) -> int:
        nxt = self.timestamp + self.interval
        if now >= nxt:  # missed one or more: skip to the first aligned time after now
            missed = (now - self.timestamp) // self.interval
            nxt = self.timestamp + (missed + 1) * self.interval
        return nxt


class Cancellable:
    """Returned by `context.schedule`; `cancel()` stops the punctuator."""

    def __init__(self, schedule: PunctuationSchedule) -> None:
        self._schedule = schedule

    def cancel(self) -> None:
        self._schedule.cancelled = True


class PunctuationQueue:
    def __init__(self) -> None:
        self._heap: list[PunctuationSchedule] = []
        self._seq = itertools.count()

    def schedule(
        self, node: str, start: int, interval: int, punctuator: Punctuator
    ) -> PunctuationSchedule:
        s = PunctuationSchedule(start, next(self._seq), node, interval, punctuator)
        heapq.heappush(self._heap, s)
        return s

    def __len__(self) -> int:
        return len(self._heap)

    def may_punctuate(self, now: int, run: Callable[[PunctuationSchedule, int], None]) -> bool:
        """Fire every schedule due at `now` (each at most once); True if any fired."""
        fired = False
        due: list[PunctuationSchedule] = []
        while self._heap and self._heap[0].timestamp <= now:
            due.append(heapq.heappop(self._heap))
        for s in due:
            if s.cancelled:
                continue
            run(s, now)
            fired = True
            if not s.cancelled:
                s.timestamp = s.next_time(now)
                s.seq = next(self._seq)
                heapq.heappush(self._heap, s)
        return fired

    def rebase_pending(self, now: int) -> None:
        """Wall-clock schedules made before the task knew the time start counting from `now`."""
        for s in self._heap:
            if s.timestamp < 0:
                s.timestamp = now + s.interval
        heapq.heapify(self._heap)
