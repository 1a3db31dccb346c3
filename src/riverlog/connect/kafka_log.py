"""Kafka's `KafkaBasedLog` for the distributed herder: a topic read from the start by a group-less
consumer assigned every partition, kept up to date by a thread, and written with an idempotent producer.

Invariant: `read_to_end()` returns only after every record up to the end offsets observed when it was
called has been passed to the callback (in order per partition), so a writer that sends, flushes and then
reads to the end sees its own write applied.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

log = logging.getLogger(__name__)

RecordCallback = Callable[
    [bytes | None, bytes | None, int, int], None
]  # key, value, partition, offset


def ensure_topic(
    admin_config: dict[str, Any],
    topic: str,
    partitions: int,
    replication: int,
    compacted: bool = True,
) -> None:
    """Create the topic if it is missing (replication capped by the live broker count)."""
    admin = AdminClient(admin_config)
    md = admin.list_topics(timeout=10)
    if topic in md.topics and not md.topics[topic].error:
        return
    rf = max(1, min(replication, len(md.brokers)))
    config = {"cleanup.policy": "compact"} if compacted else {}
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=rf, config=config)]
    )
    try:
        futures[topic].result(15)
    except Exception as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise


class KafkaBasedLog:
    def __init__(
        self,
        topic: str,
        client_config: dict[str, Any],
        callback: RecordCallback,
        *,
        name: str,
        read_committed: bool = False,
    ) -> None:
        self.topic = topic
        self.callback = callback
        self.client_config = client_config
        self.producer = Producer(
            {
                **client_config,
                "enable.idempotence": True,
                "partitioner": "murmur2_random",
                "client.id": f"{name}-producer",
            }
        )
        self.consumer = Consumer(
            {
                **client_config,
                "group.id": f"riverlog-connect-log-{name}",
                "enable.auto.commit": False,
                "client.id": f"{name}-consumer",
                "enable.partition.eof": False,
                # exactly-once source offsets are written in transactions: read only committed ones
                "isolation.level": "read_committed" if read_committed else "read_uncommitted",
            }
        )
        # End offsets come from the admin client: its futures never hold the GIL while they wait (the
        # consumer's get_watermark_offsets does, which stalls an in-process broker).
        self.admin = AdminClient({**client_config, "client.id": f"{name}-admin"})
        self.position: dict[int, int] = {}
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"kafka-log-{name}", daemon=True)

    def start(self) -> KafkaBasedLog:
        md = self.consumer.list_topics(self.topic, timeout=10)
        parts = sorted(md.topics[self.topic].partitions)
        self.consumer.assign([KafkaTopicPartition(self.topic, p, OFFSET_BEGINNING) for p in parts])
        self.partitions = parts
        self._thread.start()
        self.read_to_end()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                msgs = self.consumer.consume(500, 0.1)
            except Exception as exc:  # the consumer was closed under us at shutdown
                if not self._stop.is_set():
                    log.warning("reading %s failed: %s", self.topic, exc)
                return
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        log.warning("reading %s: %s", self.topic, err)
                    continue
                try:
                    self.callback(
                        msg.key(), msg.value(), int(msg.partition() or 0), int(msg.offset() or 0)
                    )
                except Exception:
                    log.exception("applying a record of %s failed", self.topic)
                with self._lock:
                    self.position[int(msg.partition() or 0)] = int(msg.offset() or 0) + 1
                    self._lock.notify_all()
            # Transaction markers take offsets but are never delivered: after applying a batch, the
            # consumer's own position (past any marker) counts as read too.
            try:
                positions = self.consumer.position(self.consumer.assignment())
            except Exception:
                continue
            with self._lock:
                for tp in positions:
                    if tp.offset >= 0 and tp.offset > self.position.get(tp.partition, 0):
                        self.position[tp.partition] = tp.offset
                self._lock.notify_all()

    def end_offsets(self) -> dict[int, int]:
        """End offsets from the admin client: its futures wait without holding the GIL (the consumer's
        get_watermark_offsets holds it, which stalls an in-process broker)."""
        from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]

        specs = {KafkaTopicPartition(self.topic, p): OffsetSpec.latest() for p in self.partitions}  # type: ignore[no-untyped-call]
        futures = self.admin.list_offsets(specs, request_timeout=10)
        return {tp.partition: int(f.result(15).offset) for tp, f in futures.items()}

    def read_to_end(self, timeout_s: float = 30.0) -> None:
        ends = self.end_offsets()
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while any(self.position.get(p, 0) < end for p, end in ends.items()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"could not read {self.topic} to its end in {timeout_s} s")
                self._lock.wait(min(remaining, 0.1))

    def send(self, key: bytes | str, value: bytes | None, *, flush: bool = True) -> None:
        self.producer.produce(self.topic, key=key, value=value)
        if flush:
            self.flush()

    def flush(self) -> None:
        remaining = self.producer.flush(30)
        if remaining:
            raise TimeoutError(f"{remaining} records to {self.topic} not acknowledged in 30 s")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        try:
            self.producer.flush(5)
            self.consumer.close()
        except Exception:
            pass
