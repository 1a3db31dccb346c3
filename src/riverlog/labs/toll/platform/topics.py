"""The toll lab's topics: the contract's topics plus the SQL monitoring outputs.

Reference topics and `toll.balances` are compacted (latest value per key); every topic has the same
partition count so the streams apps' joins are co-partitioned.
"""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from riverlog.labs.toll.model import REFERENCE_TOPICS, TOPICS

BALANCES = "toll.balances"
COMPACTED = frozenset([TOPICS[name] for name in REFERENCE_TOPICS] + [BALANCES])
MONITOR_TOPICS = (
    "toll.monitor.gantry_minute",
    "toll.monitor.passages_checked",
    "toll.monitor.unknown_ratio",
    "toll.monitor.gantry_revenue",
    "toll.monitor.gantry_last_seen",
)


def lab_topics() -> list[str]:
    return sorted(set(TOPICS.values()) | {BALANCES})


def ensure_topics(bootstrap: str, partitions: int = 1, replication: int = 1) -> list[str]:
    """Create the lab's topics that are missing; returns the names created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [
        NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=replication,
            config={"cleanup.policy": "compact"} if name in COMPACTED else {},
        )
        for name in lab_topics()
        if name not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted).items():
        try:
            future.result(30)
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return sorted(created)


def delete_topics(bootstrap: str, *, include_monitoring: bool = True) -> list[str]:
    """Delete the lab's topics that exist (the data); returns the names deleted."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    names = lab_topics() + (list(MONITOR_TOPICS) if include_monitoring else [])
    doomed = [name for name in names if name in existing]
    if not doomed:
        return []
    for future in admin.delete_topics(doomed).values():
        future.result(30)
    return doomed
