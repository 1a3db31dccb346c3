from __future__ import annotations

import asyncio

from riverlog.broker.replication.fetch_sessions import CachedPartition, FetchSessionCache
from riverlog.broker.replication.purgatory import Purgatory


def test_sessions_evict_least_recently_used() -> None:
    cache = FetchSessionCache(max_sessions=2)
    a, b = cache.create(), cache.create()
    assert cache.get(a.session_id) is a  # a is now the most recently used
    c = cache.create()
    assert cache.get(b.session_id) is None
    assert cache.get(a.session_id) is a and cache.get(c.session_id) is c
    assert len({a.session_id, c.session_id}) == 2 and 0 not in (a.session_id, c.session_id)
    a.partitions[("t", 0)] = CachedPartition(5, 100)
    cache.remove(a.session_id)
    assert cache.get(a.session_id) is None


def test_purgatory_wakes_waiters_of_a_key_and_times_out_others() -> None:
    async def scenario() -> tuple[bool, bool]:
        purgatory = Purgatory()
        woken = asyncio.create_task(purgatory.wait([("t", 0), ("t", 1)], 5))
        idle = asyncio.create_task(purgatory.wait([("u", 0)], 0.05))
        await asyncio.sleep(0)
        purgatory.notify(("t", 1))
        return await woken, await idle

    assert asyncio.run(scenario()) == (True, False)
