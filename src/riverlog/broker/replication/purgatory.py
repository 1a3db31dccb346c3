"""Where long-poll fetches wait: a waiter per request, woken when any partition it watches changes.

Invariant: `notify` never blocks and never runs handler code; it only completes futures, so an append
stays cheap however many fetches wait. A waiter is removed from every key when it completes or times out.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Hashable, Iterable


class Purgatory:
    def __init__(self) -> None:
        self._waiters: defaultdict[Hashable, set[asyncio.Future[None]]] = defaultdict(set)

    async def wait(self, keys: Iterable[Hashable], timeout_s: float) -> bool:
        """Wait until one of `keys` is notified or the timeout passes; True when notified."""
        keys = list(keys)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._waiters[key].add(future)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            for key in keys:
                waiting = self._waiters.get(key)
                if waiting is not None:
                    waiting.discard(future)
                    if not waiting:
                        del self._waiters[key]

    def notify(self, key: Hashable) -> None:
        for future in self._waiters.pop(key, ()):
            if not future.done():
                future.set_result(None)

    def notify_all(self) -> None:
        for key in list(self._waiters):
            self.notify(key)
