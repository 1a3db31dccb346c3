"""Client quota enforcement (Kafka's ClientQuotaManager / ClientRequestQuotaManager).

After a request is handled the dispatcher records what it used — produce: the request's bytes,
consume: the fetch response's bytes, every request: its handling time as a percentage of one thread,
measured as the CPU time of this thread while the handler's own steps run (`CpuTimed`: time spent
waiting — on the log, on other requests — is not counted, as Kafka counts request-handler thread time) —
against the quota that applies to the client (riverlog.security.quota resolves it from the image), and
answers with `throttle_time_ms`. The connection is then muted for that long (KIP-219: the answer goes
out at once, the next request waits), so a client over its quota slows down even if it ignores the
throttle time. Broker-to-broker requests (follower fetches) are exempt, as in Kafka.

Connection creation rates (KIP-612, Kafka's ConnectionQuotas): each accepted connection is recorded
against its address's `connection_creation_rate` (the ip's own, else the default ip's); when that
breaks the quota the connection is not counted, nothing is read from it, and it is closed once the
throttle time has passed — so a client opening connections too fast is slowed down, as in Kafka.

State: one `Rate` per (quota key, bucket), and per connecting address, in memory only; buckets idle
for an hour are dropped. With no quota configured the cost is one empty-mapping check per request
(and per accepted connection).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from riverlog.metadata.image import ClusterImage
from riverlog.security.quota import (
    CONNECTION_CREATION_RATE,
    CONSUMER_BYTE_RATE,
    CONTROLLER_MUTATION_RATE,
    PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
    Rate,
    bucket,
    connection_quota,
    resolve,
    throttle_ms,
)

IDLE_MS = 3_600_000
PRODUCE_KEY = 0
FETCH_KEY = 1
# Requests exempt from the request-time quota (Kafka: inter-broker and authentication requests).
EXEMPT = frozenset({17, 18, 36})


class CpuTimed:
    """Await a coroutine, adding to `seconds` the thread CPU time of each of its steps only (the
    event loop runs other tasks between steps; their time is theirs)."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.seconds = 0.0

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self.coro
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            began = time.thread_time()
            try:
                yielded = coro.send(sent) if thrown is None else coro.throw(thrown)
            except StopIteration as stop:
                return stop.value
            finally:
                self.seconds += time.thread_time() - began
            try:
                sent, thrown = (yield yielded), None
            except BaseException as exc:  # cancellation and the like go to the handler
                sent, thrown = None, exc


class QuotaManager:
    def __init__(self, image_of: Callable[[], ClusterImage]) -> None:
        self.image_of = image_of
        self._rates: dict[tuple[str, str, str], tuple[Rate, list[int]]] = {}
        self._next_prune_ms = 0

    def active(self) -> bool:
        return bool(self.image_of().client_quotas)

    def record(self, key: str, user: str, client_id: str, value: float, now_ms: int) -> int:
        """Record `value` for the quota `key`; the throttle time it earns (0 when within quota)."""
        found = resolve(self.image_of().client_quotas, user, client_id, key)
        if found is None:
            return 0
        matched, quota = found
        who = bucket(matched, user, client_id)
        slot = (key, *who)
        entry = self._rates.get(slot)
        if entry is None:
            entry = self._rates[slot] = (Rate(), [now_ms])
        rate, last = entry
        rate.record(value, now_ms)
        last[0] = now_ms
        self._maybe_prune(now_ms)
        return throttle_ms(rate, quota, now_ms)

    def peek(self, key: str, user: str, client_id: str, now_ms: int) -> int:
        """The throttle time the client's usage under `key` earns now, recording nothing."""
        found = resolve(self.image_of().client_quotas, user, client_id, key)
        if found is None:
            return 0
        matched, quota = found
        entry = self._rates.get((key, *bucket(matched, user, client_id)))
        return 0 if entry is None else throttle_ms(entry[0], quota, now_ms)

    def connection_throttle_ms(self, address: str, now_ms: int) -> int:
        """Record a new connection from `address`; how long to hold it before closing it when it
        breaks the address's connection creation rate (0: accept it)."""
        quotas = self.image_of().client_quotas
        if not quotas:
            return 0
        quota = connection_quota(quotas, address)
        if quota is None:
            return 0
        slot = (CONNECTION_CREATION_RATE, address, "")
        entry = self._rates.get(slot)
        if entry is None:
            entry = self._rates[slot] = (Rate(), [now_ms])
        rate, last = entry
        rate.record(1.0, now_ms)
        last[0] = now_ms
        self._maybe_prune(now_ms)
        throttle = throttle_ms(rate, quota, now_ms)
        if throttle > 0:
            rate.record(-1.0, now_ms)  # a refused connection does not count (Kafka's rule)
        return throttle

    def mutation_exceeded(self, user: str, client_id: str, now_ms: int) -> bool:
        """Whether `controller_mutation_rate` is already exceeded (Kafka's strict quota check,
        made before each topic of CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+)."""
        return self.peek(CONTROLLER_MUTATION_RATE, user, client_id, now_ms) > 0

    def record_mutations(self, user: str, client_id: str, partitions: int, now_ms: int) -> int:
        """Record partitions created or deleted; the throttle time they earn."""
        return self.record(CONTROLLER_MUTATION_RATE, user, client_id, partitions, now_ms)

    def throttle(
        self,
        api_key: int,
        user: str,
        client_id: str,
        request_bytes: int,
        response_bytes: int,
        handling_s: float,
        now_ms: int,
        follower: bool = False,
    ) -> int:
        """Record one request's usage; the longest throttle it earns."""
        if follower or api_key in EXEMPT:
            return 0
        throttle = self.record(REQUEST_PERCENTAGE, user, client_id, handling_s * 100, now_ms)
        if api_key == PRODUCE_KEY:
            throttle = max(
                throttle, self.record(PRODUCER_BYTE_RATE, user, client_id, request_bytes, now_ms)
            )
        elif api_key == FETCH_KEY:
            throttle = max(
                throttle, self.record(CONSUMER_BYTE_RATE, user, client_id, response_bytes, now_ms)
            )
        return throttle

    def _maybe_prune(self, now_ms: int) -> None:
        if now_ms < self._next_prune_ms:
            return
        self._next_prune_ms = now_ms + 60_000
        for slot in [s for s, (_, last) in self._rates.items() if now_ms - last[0] > IDLE_MS]:
            del self._rates[slot]
