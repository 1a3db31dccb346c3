"""The `_schemas` topic as the registry's store, as Confluent's `KafkaStore` keeps it.

Invariants:
- The topic has exactly one partition and `cleanup.policy=compact`; it is created on first start
  (replication factor min(`kafkastore.topic.replication.factor`, live brokers), as Confluent does).
- One reader thread consumes the partition from the beginning for the life of the store and applies
  every record to the `RegistryState` in offset order; nothing else changes the state.
- `write` produces one record (acks=all) and returns only after the reader has applied that record's
  offset; `sync` returns after the reader has applied everything up to the log end at the time of the
  call. Both raise RegistryError 50002 after `kafkastore.timeout.ms`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.registry import errors
from riverlog.registry.records import RegistryKey
from riverlog.registry.state import RegistryState

log = logging.getLogger(__name__)


class KafkaStore:
    def __init__(
        self,
        state: RegistryState,
        bootstrap: str,
        topic: str = "_schemas",
        replication_factor: int = 3,
        timeout_ms: int = 500,
        init_timeout_ms: int = 60000,
        client_config: dict[str, Any] | None = None,
    ) -> None:
        self.state = state
        self.topic = topic
        self.replication_factor = replication_factor
        self.timeout_s = timeout_ms / 1000
        self.init_timeout_s = init_timeout_ms / 1000
        self.base = {"bootstrap.servers": bootstrap, **(client_config or {})}
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        # Watermarks come from a client of their own: librdkafka's watermark query on a consumer that
        # another thread is consuming with waits without bound.
        self._offsets: Consumer | None = None
        self._offsets_lock = threading.Lock()
        self.cluster_id = ""

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Create/verify the topic, start the reader and wait until it has replayed the topic."""
        self._maybe_create_topic()
        self._producer = Producer(
            {**self.base, "acks": "all", "enable.idempotence": True, "linger.ms": 0}
        )
        self._consumer = Consumer(
            {
                **self.base,
                "group.id": "riverlog-schema-registry-reader",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "fetch.wait.max.ms": 50,
            }
        )
        self._consumer.assign([KafkaPartition(self.topic, 0, OFFSET_BEGINNING)])
        self._offsets = Consumer({**self.base, "group.id": "riverlog-schema-registry-offsets"})
        self._reader = threading.Thread(target=self._read_loop, name="registry-reader", daemon=True)
        self._reader.start()
        self._wait_for(self._end_offset(self.init_timeout_s) - 1, self.init_timeout_s)

    def stop(self) -> None:
        self._stop.set()
        if self._reader is not None:
            self._reader.join(5)
        if self._consumer is not None:
            self._consumer.close()
        if self._offsets is not None:
            self._offsets.close()
        if self._producer is not None:
            self._producer.flush(5)
        # librdkafka handles are destroyed when collected: drop them so none outlives the store.
        self._producer = self._consumer = self._offsets = None

    def _maybe_create_topic(self) -> None:
        admin = AdminClient(self.base)
        deadline = self.init_timeout_s
        try:
            metadata = admin.list_topics(timeout=deadline)
        except KafkaException as exc:
            raise errors.store_error(f"cannot reach kafkastore.bootstrap.servers: {exc}") from None
        self.cluster_id = metadata.cluster_id or ""
        existing = metadata.topics.get(self.topic)
        if existing is not None and existing.error is None:
            if len(existing.partitions) != 1:
                raise errors.store_error(
                    f"The schema topic {self.topic} should have only 1 partition but has "
                    f"{len(existing.partitions)}"
                )
            return
        replicas = max(1, min(self.replication_factor, len(metadata.brokers)))
        if replicas < self.replication_factor:
            log.warning(
                "creating %s with replication factor %d (fewer live brokers than %d)",
                self.topic,
                replicas,
                self.replication_factor,
            )
        topic = NewTopic(self.topic, 1, replicas, config={"cleanup.policy": "compact"})
        try:
            admin.create_topics([topic])[self.topic].result(deadline)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise errors.store_error(f"cannot create {self.topic}: {exc}") from None

    # -- reading ------------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        assert self._consumer is not None
        while not self._stop.is_set():
            try:
                # poll returns at the first record; consume(…, 0) then drains what else is there
                # (a batch consume with a timeout would wait for the whole batch).
                first = self._consumer.poll(0.1)
                messages = [] if first is None else [first, *self._consumer.consume(500, 0)]
            except KafkaException as exc:  # consumer closed under us at shutdown
                log.warning("registry reader: %s", exc)
                continue
            for message in messages:
                if message.error() is not None:
                    log.warning("registry reader: %s", message.error())
                    continue
                self.state.apply(message.offset() or 0, message.key(), message.value())

    def _end_offset(self, timeout_s: float) -> int:
        assert self._offsets is not None
        try:
            with self._offsets_lock:
                _, high = self._offsets.get_watermark_offsets(
                    KafkaPartition(self.topic, 0), timeout=timeout_s, cached=False
                )
        except KafkaException as exc:
            raise errors.store_timeout(f"cannot read the end of {self.topic}: {exc}") from None
        return int(high)

    def _wait_for(self, offset: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self.state.applied:
            while self.state.offset < offset:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise errors.store_timeout(
                        f"Timed out waiting for the registry to read offset {offset} of {self.topic}"
                    )
                self.state.applied.wait(left)

    # -- writing ------------------------------------------------------------------------------------

    def sync(self) -> None:
        self._wait_for(self._end_offset(self.timeout_s) - 1, self.timeout_s)

    def write(self, key: RegistryKey, value: bytes | None) -> None:
        assert self._producer is not None
        delivered: list[Any] = []

        def on_delivery(err: Any, message: Any) -> None:
            delivered.append(err if err is not None else message.offset())

        self._producer.produce(
            self.topic, value, key.encode(), partition=0, on_delivery=on_delivery
        )
        self._producer.flush(max(self.timeout_s, 5.0))
        if not delivered:
            raise errors.store_timeout(f"Write to {self.topic} timed out")
        outcome = delivered[0]
        if not isinstance(outcome, int):
            raise errors.store_error(f"Error while writing to {self.topic}: {outcome}")
        self._wait_for(outcome, max(self.timeout_s, 5.0))
