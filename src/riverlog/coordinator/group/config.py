"""The group coordinator's settings, with Kafka's broker config names and defaults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from riverlog.coordinator.group.assignors import assignor_name

# Kafka's GroupCoordinatorConfig.CLASSIC_GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS (not a broker config).
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class GroupConfig:
    min_session_timeout_ms: int = 6000  # group.min.session.timeout.ms
    max_session_timeout_ms: int = 1_800_000  # group.max.session.timeout.ms
    initial_rebalance_delay_ms: int = 3000  # group.initial.rebalance.delay.ms
    max_size: int = 2**31 - 1  # group.max.size
    offsets_retention_ms: int = 10080 * 60 * 1000  # offsets.retention.minutes
    offset_metadata_max_bytes: int = 4096  # offset.metadata.max.bytes
    new_member_join_timeout_ms: int = NEW_MEMBER_JOIN_TIMEOUT_MS
    consumer_session_timeout_ms: int = 45_000  # group.consumer.session.timeout.ms
    consumer_heartbeat_interval_ms: int = 5000  # group.consumer.heartbeat.interval.ms
    consumer_assignors: tuple[str, ...] = ("uniform", "range")  # group.consumer.assignors
    # group.consumer.migration.policy: which online conversions between classic and consumer groups
    # are allowed (KIP-848): disabled, upgrade, downgrade or bidirectional.
    consumer_migration_policy: str = "bidirectional"

    @property
    def upgrade_enabled(self) -> bool:
        return self.consumer_migration_policy in ("upgrade", "bidirectional")

    @property
    def downgrade_enabled(self) -> bool:
        return self.consumer_migration_policy in ("downgrade", "bidirectional")

    @classmethod
    def from_settings(
        cls, get_int: Callable[[str], int], get_str: Callable[[str], str]
    ) -> GroupConfig:
        """Read Kafka's broker config names (`get_int(name)`, `get_str(name)`)."""
        assignors = tuple(
            known
            for name in get_str("group.consumer.assignors").split(",")
            if (known := assignor_name(name.strip())) is not None
        )
        return cls(
            consumer_session_timeout_ms=get_int("group.consumer.session.timeout.ms"),
            consumer_heartbeat_interval_ms=get_int("group.consumer.heartbeat.interval.ms"),
            consumer_assignors=assignors or ("uniform", "range"),
            consumer_migration_policy=get_str("group.consumer.migration.policy").lower(),
            min_session_timeout_ms=get_int("group.min.session.timeout.ms"),
            max_session_timeout_ms=get_int("group.max.session.timeout.ms"),
            initial_rebalance_delay_ms=get_int("group.initial.rebalance.delay.ms"),
            max_size=get_int("group.max.size"),
            offsets_retention_ms=get_int("offsets.retention.minutes") * 60_000,
            offset_metadata_max_bytes=get_int("offset.metadata.max.bytes"),
        )
