"""Deadlines for the coordinator's timeouts, driven by explicit `now` values (no clock, no sleeping).

Invariant: a key has at most one deadline; scheduling it again replaces the old one, cancelling removes
it. Replaced or cancelled entries stay in the heap and are skipped when they surface (lazy deletion).
Ties fire in scheduling order, so behaviour is deterministic for a given sequence of calls.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable


class DeadlineQueue:
    def __init__(self) -> None:
        self._deadlines: dict[Hashable, tuple[int, int]] = {}
        self._heap: list[tuple[int, int, Hashable]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._deadlines)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._deadlines

    def schedule(self, key: Hashable, deadline_ms: int) -> None:
        entry = (deadline_ms, next(self._seq))
        self._deadlines[key] = entry
        heapq.heappush(self._heap, (entry[0], entry[1], key))

    def cancel(self, key: Hashable) -> None:
        self._deadlines.pop(key, None)

    def deadline(self, key: Hashable) -> int | None:
        entry = self._deadlines.get(key)
        return None if entry is None else entry[0]

    def next_deadline(self) -> int | None:
        """The earliest live deadline, or None when nothing is scheduled."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now_ms: int) -> Hashable | None:
        """Remove and return the earliest key due at `now_ms`, or None."""
        self._drop_stale()
        if not self._heap or self._heap[0][0] > now_ms:
            return None
        _, _, key = heapq.heappop(self._heap)
        del self._deadlines[key]
        return key

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap:
            deadline, seq, key = heap[0]
            if self._deadlines.get(key) == (deadline, seq):
                return
            heapq.heappop(heap)
