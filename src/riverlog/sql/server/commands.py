"""The command topic: every statement that changes the engine, in order.

Invariants: the topic `_confluent-ksql-<service id>_command_topic` has one partition, infinite
retention and is never compacted; a command's offset is its sequence number, which also numbers the
query it creates (`CSAS_<SINK>_<offset>`); a server replays the topic from offset 0 before serving,
so a restarted server — or a second server with the same service id — rebuilds the same metastore
and the same queries with the same ids. A command is written only after the statement executed
successfully on this server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from riverlog.sql.server.kafka import ClusterKafka


@dataclass(frozen=True)
class Command:
    offset: int
    command_id: str
    statement: str
    properties: dict[str, Any]


class CommandTopic:
    def __init__(self, kafka: ClusterKafka, service_id: str, replicas: int) -> None:
        self.kafka = kafka
        self.topic = f"_confluent-ksql-{service_id}_command_topic"
        self.replicas = replicas
        self._producer: Producer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.own_offsets: set[int] = set()
        self.next_offset = 0

    def ensure(self) -> None:
        if self.kafka.topic_partitions(self.topic) is None:
            self.kafka.create_topic(
                self.topic, 1, self.replicas, {"retention.ms": "-1", "cleanup.policy": "delete"}
            )

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                **self.kafka.base,
                "group.id": f"{self.topic}-reader",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
            }
        )

    def read_all(self) -> list[Command]:
        """Every command from offset 0 to the current end."""
        consumer = self._consumer()
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=10)
            out: list[Command] = []
            if high <= low:
                self.next_offset = high
                return out
            consumer.assign([TopicPartition(self.topic, 0, low)])
            while True:
                msg = consumer.poll(1.0)
                if msg is None:
                    continue
                err, offset = msg.error(), msg.offset() or 0
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if offset >= high:
                            break
                        continue
                    raise RuntimeError(f"reading {self.topic}: {err}")
                out.append(_decode(offset, msg.key(), msg.value()))
                if offset + 1 >= high:
                    break
            self.next_offset = high
            return out
        finally:
            consumer.close()

    def end_offset(self) -> int:
        consumer = self._consumer()
        try:
            _low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=10)
            return int(high)
        finally:
            consumer.close()

    def append(self, command_id: str, statement: str, properties: dict[str, Any]) -> int:
        """Write a command; returns its offset."""
        if self._producer is None:
            self._producer = Producer(
                {**self.kafka.base, "enable.idempotence": True, "linger.ms": 0}
            )
        result: dict[str, Any] = {}

        def done(err: Any, msg: Any) -> None:
            result["err"] = err
            result["offset"] = None if msg is None else msg.offset()

        value = json.dumps(
            {
                "statement": statement,
                "streamsProperties": properties,
                "originalProperties": {},
                "version": 1,
            }
        ).encode()
        self._producer.produce(
            self.topic, key=json.dumps(command_id).encode(), value=value, on_delivery=done
        )
        self._producer.flush(30)
        if result.get("err") is not None or result.get("offset") is None:
            raise RuntimeError(f"could not write to {self.topic}: {result.get('err')}")
        offset = int(result["offset"])
        self.own_offsets.add(offset)
        self.next_offset = max(self.next_offset, offset + 1)
        return offset

    def follow(self, start: int, on_command: Callable[[Command], None]) -> None:
        """In a thread: run commands other servers write from `start` on."""

        def run() -> None:
            consumer = self._consumer()
            consumer.assign([TopicPartition(self.topic, 0, start)])
            try:
                while not self._stop.is_set():
                    msg = consumer.poll(0.5)
                    if msg is None or msg.error() is not None:
                        continue
                    on_command(_decode(msg.offset() or 0, msg.key(), msg.value()))
            finally:
                consumer.close()

        self._thread = threading.Thread(target=run, name="ksql-command-runner", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._producer is not None:
            self._producer.flush(5)


def _decode(offset: int, key: bytes | None, value: bytes | None) -> Command:
    body = json.loads(value or b"{}")
    command_id = json.loads(key) if key else ""
    return Command(
        offset,
        str(command_id),
        str(body.get("statement", "")),
        dict(body.get("streamsProperties") or {}),
    )
