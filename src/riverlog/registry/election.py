"""Leader election among registry instances through Kafka's group protocol.

Confluent's registry joins the group `schema.registry.group.id` with a protocol type of its own and
carries each instance's identity in the member metadata. riverlog keeps to Kafka's group protocol but
uses a plain consumer group (confluent-kafka has no raw group client): every leader-eligible instance
runs a consumer in that group subscribed to the one-partition `kafkastore.topic`; the member the group
assigns partition 0 to is the leader (it pauses the partition: the elector reads nothing). An instance's
`client.id` carries its URL, so any instance (eligible or not) learns the leader's URL by describing the
group (DescribeGroups: the member holding partition 0). A leader that dies leaves the group when its
session times out and the group reassigns partition 0 to another member.

Invariants: `is_leader` is True only between the assignment of partition 0 and its revocation (or the
elector's stop); the poll thread is the only caller of the consumer.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaException
from confluent_kafka import TopicPartition as KafkaPartition
from confluent_kafka.admin import AdminClient

log = logging.getLogger(__name__)

CLIENT_ID_PREFIX = "schema-registry@"
LEADER_CACHE_S = 1.0


class LeaderElector:
    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        topic: str,
        my_url: str,
        eligible: bool = True,
        session_timeout_ms: int = 10000,
        client_config: dict[str, Any] | None = None,
    ) -> None:
        self.group_id = group_id
        self.topic = topic
        self.my_url = my_url
        self.eligible = eligible
        self.base = {"bootstrap.servers": bootstrap, **(client_config or {})}
        self.session_timeout_ms = session_timeout_ms
        self.is_leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._admin: AdminClient | None = AdminClient(self.base)
        self._cached: tuple[float, str | None] = (0.0, None)
        self.changed = threading.Condition()

    def start(self) -> None:
        if not self.eligible:
            return
        self._thread = threading.Thread(target=self._run, name="registry-elector", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._set_leader(False)
        self._admin = None

    def _run(self) -> None:
        try:
            self._elect()
        except Exception:
            log.exception("schema registry leader election stopped")

    def _elect(self) -> None:
        consumer = Consumer(
            {
                **self.base,
                "group.id": self.group_id,
                "client.id": CLIENT_ID_PREFIX + self.my_url,
                "enable.auto.commit": False,
                "session.timeout.ms": self.session_timeout_ms,
                "heartbeat.interval.ms": min(3000, self.session_timeout_ms // 3),
                "partition.assignment.strategy": "range",
            }
        )

        def on_assign(c: Consumer, partitions: list[KafkaPartition]) -> None:
            c.assign(partitions)
            if partitions:
                c.pause(partitions)
            self._set_leader(any(p.partition == 0 for p in partitions))

        def on_revoke(c: Consumer, partitions: list[KafkaPartition]) -> None:
            self._set_leader(False)

        consumer.subscribe([self.topic], on_assign=on_assign, on_revoke=on_revoke)
        try:
            while not self._stop.is_set():
                consumer.poll(0.2)
        finally:
            self._set_leader(False)
            consumer.close()

    def _set_leader(self, leader: bool) -> None:
        with self.changed:
            if leader != self.is_leader:
                log.info(
                    "schema registry %s is %s", self.my_url, "leader" if leader else "follower"
                )
            self.is_leader = leader
            self._cached = (0.0, None)
            self.changed.notify_all()

    def leader_url(self, refresh: bool = False) -> str | None:
        """The leader's URL (this instance's own when it leads), or None when no member leads."""
        if self.is_leader:
            return self.my_url
        at, url = self._cached
        if not refresh and url is not None and time.monotonic() - at < LEADER_CACHE_S:
            return url
        url = self._describe()
        self._cached = (time.monotonic(), url)
        return url

    def _describe(self) -> str | None:
        if self._admin is None:
            return None
        try:
            futures = self._admin.describe_consumer_groups([self.group_id], request_timeout=5)
            group = futures[self.group_id].result(5)
        except (KafkaException, KeyError) as exc:
            log.warning("cannot describe group %s: %s", self.group_id, exc)
            return None
        for member in group.members:
            assigned = member.assignment.topic_partitions if member.assignment else []
            if any(tp.topic == self.topic and tp.partition == 0 for tp in assigned):
                client_id = str(member.client_id)
                if client_id.startswith(CLIENT_ID_PREFIX):
                    return client_id[len(CLIENT_ID_PREFIX) :]
        return None

    def wait_for_leader(self, timeout_s: float) -> str | None:
        """Poll for a leader until one is known or `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        while True:
            url = self.leader_url(refresh=True)
            if url is not None or time.monotonic() >= deadline:
                return url
            with self.changed:
                self.changed.wait(min(0.2, max(0.0, deadline - time.monotonic())))
