"""Cross-instance interactive-query metadata and the built-in HTTP endpoint (`application.server`).

librdkafka cannot carry Kafka Streams' assignment userdata, so instances tell each other where they
are through a compacted internal topic, `<application.id>-streams-metadata` (1 partition): every
instance with `application.server` set publishes, whenever its active partitions change (checked
every 500 ms), `{"host", "port", "partitions": {topic: [p…]}, "ts"}` under its own instance id, and
a tombstone on a clean close; every instance reads the topic from the start. A partition's owner is
the instance whose latest record (highest `ts`) claims it, so after a crash the new owner's record
supersedes the dead one's as soon as the group has reassigned the partition.

Invariants: the local map is only updated by this module's thread; a key's partition is Java's
murmur2 of the serialized key modulo the partition count of the store's source topics (what the
producer's `murmur2_random` partitioner and Kafka's default partitioner do).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

if TYPE_CHECKING:
    from riverlog.streams.runtime.kafka_streams import KafkaStreams

log = logging.getLogger("riverlog.streams")


def murmur2_partition(data: bytes, partitions: int) -> int:
    """Java Kafka's `Utils.toPositive(Utils.murmur2(key)) % partitions`."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail = length - length % 4
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class HostInfo:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class KeyQueryMetadata:
    active_host: HostInfo
    standby_hosts: frozenset[HostInfo]
    partition: int


@dataclass
class StreamsMetadata:
    host_info: HostInfo
    state_store_names: set[str] = field(default_factory=set)
    topic_partitions: set[tuple[str, int]] = field(default_factory=set)


def parse_host(value: str) -> HostInfo:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"application.server must be host:port, got {value!r}")
    return HostInfo(host, int(port))


class MetadataExchange:
    """Publishes this instance's partitions and reads everyone's (one daemon thread)."""

    def __init__(self, app: KafkaStreams, host: HostInfo) -> None:
        self.app = app
        self.host = host
        self.instance_id = uuid.uuid4().hex
        self.topic = f"{app.config.application_id}-streams-metadata"
        self.members: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: dict[str, list[int]] | None = None

    def start(self) -> None:
        bs = self.app.config["bootstrap.servers"]
        admin = AdminClient({"bootstrap.servers": bs})
        futures = admin.create_topics(
            [NewTopic(self.topic, num_partitions=1, config={"cleanup.policy": "compact"})]
        )
        for f in futures.values():
            try:
                f.result(timeout=30)
            except KafkaException as exc:
                if "already exists" not in str(exc).lower():
                    raise
        self.producer = Producer({"bootstrap.servers": bs, "linger.ms": 0})
        self.consumer = Consumer(
            {
                "bootstrap.servers": bs,
                "group.id": f"{self.topic}-reader",
                "enable.auto.commit": False,
            }
        )
        self.consumer.assign([KafkaTopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        self._thread = threading.Thread(target=self._run, name="streams-metadata", daemon=True)
        self._thread.start()

    def local_partitions(self) -> dict[str, list[int]]:
        out: dict[str, set[int]] = {}
        with self.app._lock:
            threads = list(self.app._threads)
        for thread in threads:
            for tps in list(thread.tasks.partitions.values()):
                for tp in tps:
                    out.setdefault(tp.topic, set()).add(tp.partition)
        return {t: sorted(ps) for t, ps in sorted(out.items())}

    def _publish(self, parts: dict[str, list[int]] | None) -> None:
        value = (
            None
            if parts is None
            else json.dumps(
                {
                    "host": self.host.host,
                    "port": self.host.port,
                    "partitions": parts,
                    "ts": time.time(),
                }
            ).encode()
        )
        self.producer.produce(self.topic, key=self.instance_id.encode(), value=value)
        self.producer.flush(10)

    def _run(self) -> None:
        next_check = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_check:
                next_check = now + 0.5
                parts = self.local_partitions()
                if parts != self._last:
                    try:
                        self._publish(parts)
                        self._last = parts
                    except Exception:
                        log.exception("could not publish streams metadata")
            for m in self.consumer.consume(100, 0.1):
                if m.error() is not None or m.key() is None:
                    continue
                key = m.key().decode()  # type: ignore[union-attr]
                raw = m.value()
                if raw is None:
                    self.members.pop(key, None)
                else:
                    self.members[key] = json.loads(raw)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            self._publish(None)
        except Exception:
            log.debug("could not withdraw streams metadata", exc_info=True)
        self.consumer.close()

    def owner(self, topic: str, partition: int) -> HostInfo | None:
        best: tuple[float, HostInfo] | None = None
        for info in list(self.members.values()):
            if partition in info["partitions"].get(topic, []):
                cand = (float(info["ts"]), HostInfo(info["host"], int(info["port"])))
                if best is None or cand[0] > best[0]:
                    best = cand
        return None if best is None else best[1]

    def all_hosts(self) -> list[StreamsMetadata]:
        latest: dict[tuple[str, int], tuple[float, HostInfo]] = {}
        for info in list(self.members.values()):
            host = HostInfo(info["host"], int(info["port"]))
            for topic, ps in info["partitions"].items():
                for p in ps:
                    cur = latest.get((topic, p))
                    if cur is None or float(info["ts"]) > cur[0]:
                        latest[(topic, p)] = (float(info["ts"]), host)
        out: dict[HostInfo, StreamsMetadata] = {}
        for info in list(self.members.values()):
            host = HostInfo(info["host"], int(info["port"]))
            out.setdefault(host, StreamsMetadata(host))
        for (topic, p), (_, host) in latest.items():
            out[host].topic_partitions.add((topic, p))
        return list(out.values())
