"""The engine's view of the Kafka cluster through confluent-kafka: topics and produced records."""

from __future__ import annotations

import threading
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.sql.errors import SqlStatementError


class ClusterKafka:
    def __init__(self, bootstrap: str, replicas: int = 1) -> None:
        self.base: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap}
        self.admin = AdminClient(self.base)
        self.replicas = replicas
        self._producer: Producer | None = None
        self._lock = threading.Lock()

    def _metadata(self, topic: str | None = None) -> Any:
        return self.admin.list_topics(topic=topic, timeout=10)

    def cluster_id(self) -> str:
        md = self._metadata()
        return str(getattr(md, "cluster_id", "") or "")

    def topic_partitions(self, name: str) -> int | None:
        md = self._metadata()
        t = md.topics.get(name)
        if t is None or t.error is not None:
            return None
        return len(t.partitions)

    def describe_topic(self, name: str) -> tuple[int, int] | None:
        """(partitions, replicas of partition 0), None when the topic does not exist."""
        md = self._metadata()  # all topics: asking for one may auto-create it
        t = md.topics.get(name)
        if t is None or t.error is not None or not t.partitions:
            return None
        return len(t.partitions), len(t.partitions[0].replicas)

    def create_topic(
        self, name: str, partitions: int, replicas: int, config: dict[str, str]
    ) -> None:
        futures = self.admin.create_topics([NewTopic(name, partitions, replicas, config=config)])
        try:
            futures[name].result(30)
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise SqlStatementError(f"Could not create topic '{name}': {e}") from None

    def delete_topic(self, name: str) -> None:
        futures = self.admin.delete_topics([name])
        try:
            futures[name].result(30)
        except KafkaException as e:
            raise SqlStatementError(f"Could not delete topic '{name}': {e}") from None

    def list_topics(self) -> dict[str, int]:
        md = self._metadata()
        return {n: len(t.partitions) for n, t in md.topics.items() if t.error is None}

    def producer(self) -> Producer:
        with self._lock:
            if self._producer is None:
                # murmur2: records land where Java clients and Kafka Streams put their keys
                self._producer = Producer(
                    {
                        **self.base,
                        "linger.ms": 5,
                        "enable.idempotence": True,
                        "partitioner": "murmur2_random",
                    }
                )
            return self._producer

    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, timestamp: int | None
    ) -> None:
        p = self.producer()
        errors: list[str] = []

        def done(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": done}
        if timestamp is not None and timestamp > 0:
            kwargs["timestamp"] = timestamp
        p.produce(topic, **kwargs)
        p.flush(30)
        if errors:
            raise SqlStatementError(f"Failed to insert values into '{topic}': {errors[0]}")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
