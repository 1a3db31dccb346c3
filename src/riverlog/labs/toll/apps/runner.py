"""Running the toll apps: their topologies, their Kafka Streams configs, the topics they need.

`TollApps` owns one `KafkaStreams` client per application (`<prefix>-charging`, `<prefix>-billing`),
all exactly_once_v2, sharing one state directory (each application locks its own sub-directory).
Closing it closes every client; a client that was killed instead (the process died) leaves only
aborted transactions behind, and the next start resumes from the last committed offsets and store
changelogs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.labs.toll.apps.billing import UNPAID_AFTER_MS, billing_topology
from riverlog.labs.toll.apps.charging import charging_topology
from riverlog.labs.toll.model import REFERENCE_TOPICS, TOPICS
from riverlog.streams import KafkaStreams, Topology

# Lab settings read by build_topologies (not Kafka Streams configs; never passed to a client).
UNPAID_AFTER_KEY = "toll.unpaid.after.ms"

APP_DEFAULTS: dict[str, Any] = {
    "processing.guarantee": "exactly_once_v2",
    "commit.interval.ms": 100,  # Kafka's default under EOS: outputs become readable per commit
    "default.dsl.store": "in_memory",  # every store is restored from its changelog on start
    # A task waits this long for an empty input (the vehicles or accounts table) before processing
    # the other inputs, so reference data produced first is applied first on a fresh start.
    "max.task.idle.ms": 2000,
    "num.stream.threads": 1,
    # a reference record that is not JSON is logged and skipped, not fatal (passages never fail to
    # deserialize: a bad one goes to toll.dlq)
    "default.deserialization.exception.handler": "log-and-continue",
    # Both apps join (reading co-partitioned topics) with KIP-848's consumer group protocol, where
    # the session timeout is the broker's group.consumer.session.timeout.ms.
}


def build_topologies(config: Mapping[str, str] | None = None) -> dict[str, Topology]:
    """The toll apps by application.id suffix. `config` may set `toll.unpaid.after.ms`."""
    props = dict(config or {})
    raw = props.get(UNPAID_AFTER_KEY, str(UNPAID_AFTER_MS))
    try:
        unpaid_after_ms = int(raw)
        if unpaid_after_ms <= 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"{UNPAID_AFTER_KEY} must be a positive integer, got {raw!r}") from None
    return {"charging": charging_topology(), "billing": billing_topology(unpaid_after_ms)}


def create_topics(bootstrap: str, partitions: int = 3, timeout_s: float = 30.0) -> list[str]:
    """Create the toll topics that do not exist yet (reference tables compacted); their names."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    compacted = {TOPICS[name] for name in REFERENCE_TOPICS} | {TOPICS["balances"]}
    wanted = [
        NewTopic(
            topic,
            num_partitions=partitions,
            replication_factor=1,
            config={"cleanup.policy": "compact"} if topic in compacted else {},
        )
        for topic in TOPICS.values()
        if topic not in existing
    ]
    if not wanted:
        return []
    for future in admin.create_topics(wanted).values():
        try:
            future.result(timeout=timeout_s)
        except Exception as e:  # created meanwhile by someone else: fine
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise
    return [t.topic for t in wanted]


class TollApps:
    """The toll lab's stream processing, started and stopped as one."""

    def __init__(
        self,
        bootstrap: str,
        *,
        state_dir: str | Path,
        application_prefix: str = "toll",
        extra_config: Mapping[str, Any] | None = None,
        partitions: int = 3,
    ) -> None:
        self.bootstrap = bootstrap
        self.state_dir = Path(state_dir)
        self.application_prefix = application_prefix
        extra = dict(extra_config or {})
        self.lab_settings = {k: str(v) for k, v in extra.items() if k.startswith("toll.")}
        self.streams_config = {k: v for k, v in extra.items() if not k.startswith("toll.")}
        self.partitions = partitions
        self.clients: dict[str, KafkaStreams] = {}

    def config_for(self, suffix: str) -> dict[str, Any]:
        return {
            **APP_DEFAULTS,
            "bootstrap.servers": self.bootstrap,
            "state.dir": str(self.state_dir),
            **self.streams_config,
            "application.id": f"{self.application_prefix}-{suffix}",
        }

    def start(self) -> TollApps:
        """Create missing toll topics, then start every app (returns at once)."""
        create_topics(self.bootstrap, self.partitions)
        for suffix, topology in build_topologies(self.lab_settings).items():
            client = KafkaStreams(topology, self.config_for(suffix))
            self.clients[suffix] = client
            client.start()
        return self

    def wait_running(self, timeout_s: float = 60.0) -> bool:
        return all(
            c.wait_for_state(KafkaStreams.State.RUNNING, timeout_s) for c in self.clients.values()
        )

    def failed(self) -> list[str]:
        """The apps that stopped on their own (ERROR or NOT_RUNNING)."""
        return [s for s, c in self.clients.items() if c.state.has_completed_shutdown()]

    def metrics(self) -> dict[str, dict[str, float]]:
        return {s: c.metrics() for s, c in self.clients.items()}

    def close(self, timeout_s: float = 30.0) -> None:
        for client in self.clients.values():
            client.close(timedelta(seconds=timeout_s))

    def __enter__(self) -> TollApps:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
