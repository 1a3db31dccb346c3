"""The controller mutation quota (KIP-599) in CreateTopics, CreatePartitions and DeleteTopics.

Every partition created or deleted counts against the principal's `controller_mutation_rate`. From
CreateTopics v6, CreatePartitions v3 and DeleteTopics v5 the quota is strict, as Kafka's: a topic
asked for while the quota is already exceeded answers THROTTLING_QUOTA_EXCEEDED (the rest of the
request still runs); older versions are only throttled. The response carries the throttle time.
"""

from __future__ import annotations

import datetime

from kio.static.primitive import i32Timedelta

from riverlog.broker.network.context import RequestContext
from riverlog.broker.quotas import QuotaManager


class MutationQuota:
    def __init__(self, ctx: RequestContext, strict_since: int) -> None:
        self.ctx = ctx
        self.strict = ctx.version >= strict_since
        quotas: QuotaManager | None = getattr(ctx.services, "quotas", None)
        self.quotas = quotas if quotas is not None and quotas.active() else None
        self.throttle_ms = 0

    def _who(self) -> tuple[str, str]:
        return self.ctx.principal.name, self.ctx.client_id or ""

    def refused(self) -> bool:
        """Strict versions: whether the next topic must be refused (THROTTLING_QUOTA_EXCEEDED)."""
        if self.quotas is None or not self.strict:
            return False
        return self.quotas.mutation_exceeded(*self._who(), self.ctx.services.clock.now_ms())

    def record(self, partitions: int) -> None:
        if self.quotas is None or partitions <= 0:
            return
        throttle = self.quotas.record_mutations(
            *self._who(), partitions, self.ctx.services.clock.now_ms()
        )
        self.throttle_ms = max(self.throttle_ms, throttle)

    def throttle_time(self) -> i32Timedelta:
        return i32Timedelta.parse(datetime.timedelta(milliseconds=self.throttle_ms))
