"""Incremental fetch sessions (KIP-227).

State: a session remembers, per partition, what the client asked for (fetch offset, max bytes) and what
it was last told (high watermark, last stable offset, log start offset). An incremental fetch lists only
changed partitions (and `forgotten_topics_data` to drop some); the response lists only partitions with
new data or changed offsets/errors. Sessions live in memory only: after a broker restart the client gets
FETCH_SESSION_ID_NOT_FOUND and starts a new one, as with Kafka. The least recently used session is evicted
when the cache is full.

Epochs (request `session_id`, `session_epoch`): (0, -1) full fetch without a session; (0, 0) full fetch
creating one; (id, -1) close the session and do a full sessionless fetch; (id, n>0) incremental, n must be
the session's next epoch.
"""

from __future__ import annotations

import itertools
import random
from collections import OrderedDict
from dataclasses import dataclass, field

MAX_SESSIONS = 1000
PartitionKey = tuple[str, int]


@dataclass(slots=True)
class CachedPartition:
    fetch_offset: int
    max_bytes: int
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1


@dataclass
class FetchSession:
    session_id: int
    epoch: int = 1
    partitions: dict[PartitionKey, CachedPartition] = field(default_factory=dict)


class FetchSessionCache:
    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[int, FetchSession] = OrderedDict()
        self._ids = itertools.count(random.randint(1, 1 << 20))

    def create(self) -> FetchSession:
        session = FetchSession(next(self._ids) & 0x7FFFFFFF or 1)
        self._sessions[session.session_id] = session
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: int) -> FetchSession | None:
        session = self._sessions.get(session_id)
        if session is not None:
            self._sessions.move_to_end(session_id)
        return session

    def remove(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)
