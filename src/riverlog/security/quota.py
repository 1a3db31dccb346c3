"""Client quotas as Kafka computes them: which quota applies to a (user, client-id), the sampled rate
of what a client used, and how long to throttle it.

Entities are tuples of (entity type, name) sorted by type, `user` and/or `client-id`, or `ip` alone
(KIP-612 connection creation rates); a name of None is the type's default (Kafka's `<default>`). Resolution (Kafka's DefaultQuotaCallback), most specific
first: user+client-id, user+default client-id, user, default user+client-id, default user+default
client-id, default user, client-id, default client-id. The usage is tracked per *quota bucket*: the
user and/or client-id the matched entity names (so every user under a default-user quota has a bucket
of its own, and all clients of a user share the user's).

Rates: Kafka's sampled Rate — `samples` windows of `window_ms`; the rate is the total over the kept
windows divided by their elapsed time, counted as at least `samples - 1` full windows. Throttle:
`(rate - quota) / quota * elapsed window`, at most `samples * window_ms`.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Mapping, Sequence

USER = "user"
CLIENT_ID = "client-id"
IP = "ip"
ENTITY_TYPES = (USER, CLIENT_ID, IP)
DEFAULT_NAME = "<default>"  # how ZooKeeper and kafka-configs.sh name the default entity
PRODUCER_BYTE_RATE = "producer_byte_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
CONTROLLER_MUTATION_RATE = "controller_mutation_rate"
CONNECTION_CREATION_RATE = "connection_creation_rate"
QUOTA_KEYS = frozenset(
    {PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE, CONTROLLER_MUTATION_RATE}
)
IP_QUOTA_KEYS = frozenset({CONNECTION_CREATION_RATE})
# Kafka's config types of the quota keys (DynamicConfig.User/Client/Ip): LONG and INT values are
# stored as integers ("1048576"), DOUBLE ones as Java prints a double ("200.0").
KEY_TYPES = {
    PRODUCER_BYTE_RATE: "LONG",
    CONSUMER_BYTE_RATE: "LONG",
    REQUEST_PERCENTAGE: "DOUBLE",
    CONTROLLER_MUTATION_RATE: "DOUBLE",
    CONNECTION_CREATION_RATE: "INT",
}
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


class QuotaEntityError(ValueError):
    """An entity or value AlterClientQuotas refuses (INVALID_REQUEST, with Kafka's message)."""


def check_entity(parts: Sequence[tuple[str, str | None]]) -> Entity:
    """The entity of a request's (type, name) parts, sorted by type, as Kafka accepts them:
    user and/or client-id, or an ip (an address) alone; a name may be None but not empty."""
    seen: dict[str, str | None] = {}
    for kind, name in parts:
        if kind not in ENTITY_TYPES:
            raise QuotaEntityError(f"Unhandled client quota entity type: {kind}")
        if kind in seen:
            raise QuotaEntityError(f"Duplicate {kind} entity")
        if name is not None and not name:
            raise QuotaEntityError(f"Empty {kind} not supported")
        seen[kind] = name
    if not seen:
        raise QuotaEntityError("Invalid empty client quota entity")
    if IP in seen and len(seen) > 1:
        raise QuotaEntityError(
            "Invalid quota entity combination, IP entity should not be used with user/client ID "
            "entity."
        )
    address = seen.get(IP)
    if address is not None:
        try:
            seen[IP] = str(ipaddress.ip_address(address))
        except ValueError:
            raise QuotaEntityError(f"{address} is not a valid IP.") from None
    return tuple(sorted(seen.items()))


def check_value(entity: Entity, key: str, value: float) -> float:
    """The value to store for `key` on `entity`; QuotaEntityError as Kafka words it."""
    allowed = IP_QUOTA_KEYS if entity[0][0] == IP else QUOTA_KEYS
    if key not in allowed:
        raise QuotaEntityError(f"Invalid configuration key {key}")
    if not value > 0:
        raise QuotaEntityError(f"Quota {key} must be positive")
    kind = KEY_TYPES[key]
    if kind != "DOUBLE":
        whole = int(value + 1e-6)
        if abs(whole - value) > 1e-6:
            raise QuotaEntityError(f"Configuration {key} must be a {kind} value")
        return float(whole)
    return value


def stored_text(key: str, value: float) -> str:
    """A value as Kafka writes it in a ZooKeeper config znode."""
    if KEY_TYPES.get(key, "DOUBLE") != "DOUBLE":
        return str(int(value))
    return repr(float(value))  # Python's repr of a float matches Java's Double.toString here


def connection_quota(quotas: QuotaTable, address: str) -> float | None:
    """The `connection_creation_rate` for connections from `address` (its own, else the default
    ip's); None when unlimited."""
    for candidate in (((IP, address),), ((IP, None),)):
        values = quotas.get(candidate)
        if values is not None and CONNECTION_CREATION_RATE in values:
            return values[CONNECTION_CREATION_RATE]
    return None


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
