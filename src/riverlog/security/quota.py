"""Client quotas as Kafka computes them: which quota applies to a (user, client-id), the sampled rate
of what a client used, and how long to throttle it.

Entities are tuples of (entity type, name) sorted by type, `user` and/or `client-id`; a name of None
is the type's default (Kafka's `<default>`). Resolution (Kafka's DefaultQuotaCallback), most specific
first: user+client-id, user+default client-id, user, default user+client-id, default user+default
client-id, default user, client-id, default client-id. The usage is tracked per *quota bucket*: the
user and/or client-id the matched entity names (so every user under a default-user quota has a bucket
of its own, and all clients of a user share the user's).

Rates: Kafka's sampled Rate — `samples` windows of `window_ms`; the rate is the total over the kept
windows divided by their elapsed time, counted as at least `samples - 1` full windows. Throttle:
`(rate - quota) / quota * elapsed window`, at most `samples * window_ms`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

USER = "user"
CLIENT_ID = "client-id"
ENTITY_TYPES = (USER, CLIENT_ID)
DEFAULT_NAME = "<default>"  # how ZooKeeper and kafka-configs.sh name the default entity
PRODUCER_BYTE_RATE = "producer_byte_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
CONTROLLER_MUTATION_RATE = "controller_mutation_rate"
QUOTA_KEYS = frozenset(
    {PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE, CONTROLLER_MUTATION_RATE}
)
SAMPLES = 11  # quota.window.num
WINDOW_MS = 1000  # quota.window.size.seconds

Entity = tuple[tuple[str, str | None], ...]
QuotaTable = Mapping[Entity, Mapping[str, float]]


def entity(user: str | bool | None = False, client_id: str | bool | None = False) -> Entity:
    """An entity; pass a name, None for the default, or leave a type out (False)."""
    parts: list[tuple[str, str | None]] = []
    if client_id is not False:
        parts.append((CLIENT_ID, client_id if isinstance(client_id, str) else None))
    if user is not False:
        parts.append((USER, user if isinstance(user, str) else None))
    return tuple(parts)


def resolve(quotas: QuotaTable, user: str, client_id: str, key: str) -> tuple[Entity, float] | None:
    """The entity whose `key` quota applies to this client, and the quota; None when none does."""
    for candidate in (
        entity(user, client_id),
        entity(user, None),
        entity(user),
        entity(None, client_id),
        entity(None, None),
        entity(None),
        entity(client_id=client_id),
        entity(client_id=None),
    ):
        values = quotas.get(candidate)
        if values is not None and key in values:
            return candidate, values[key]
    return None


def bucket(matched: Entity, user: str, client_id: str) -> tuple[str, str]:
    """The (user, client-id) a usage is counted under for the matched entity."""
    types = {t for t, _ in matched}
    return (user if USER in types else "", client_id if CLIENT_ID in types else "")


class Rate:
    """Kafka's sampled rate (see the module docstring); times in milliseconds, value per second."""

    __slots__ = ("samples", "window_ms", "windows")

    def __init__(self, samples: int = SAMPLES, window_ms: int = WINDOW_MS) -> None:
        self.samples = samples
        self.window_ms = window_ms
        self.windows: deque[list[float]] = deque()  # [window start ms, total]

    def record(self, value: float, now_ms: int) -> None:
        windows = self.windows
        if not windows or now_ms >= windows[-1][0] + self.window_ms:
            windows.append([float(now_ms - now_ms % self.window_ms), 0.0])
        windows[-1][1] += value
        horizon = now_ms - self.samples * self.window_ms
        while windows and windows[0][0] + self.window_ms <= horizon:
            windows.popleft()

    def elapsed_ms(self, now_ms: int) -> float:
        oldest = self.windows[0][0] if self.windows else float(now_ms)
        elapsed = now_ms - oldest
        minimum = (self.samples - 1) * self.window_ms
        return max(elapsed, float(minimum))

    def rate(self, now_ms: int) -> float:
        total = sum(total for _, total in self.windows)
        return total / (self.elapsed_ms(now_ms) / 1000)


def throttle_ms(rate: Rate, quota: float, now_ms: int) -> int:
    """How long a client over `quota` must wait so its rate falls back to the quota."""
    if quota <= 0:
        return rate.samples * rate.window_ms
    observed = rate.rate(now_ms)
    if observed <= quota:
        return 0
    throttle = (observed - quota) / quota * rate.elapsed_ms(now_ms)
    return min(round(throttle), rate.samples * rate.window_ms)
