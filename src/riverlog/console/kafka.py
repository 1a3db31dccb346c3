"""The console's view of a Kafka cluster, through confluent-kafka only (any Kafka cluster works).

Invariants:
- Cluster metadata (one Metadata request lists every topic) is cached for METADATA_TTL_S, so a page
  of 1,000 topics costs one request per TTL, not one per topic; mutations drop the cache.
- A page never scans a partition: the message browser reads at most `limit` records from one
  partition, and a key/value filter examines at most SCAN_LIMIT records per request, returning where it
  stopped so the next page carries on from there.
- Browsing uses one consumer (assign, never subscribe, never commit) guarded by a lock; its group id is
  never joined. Blocking calls run on Starlette's thread pool, never on the event loop.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

# confluent_kafka.admin re-exports these without `__all__`, which strict mypy flags.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    OffsetSpec,
)

METADATA_TTL_S = 2.0
TIMEOUT_S = 10.0
SCAN_LIMIT = 2000  # records examined per filtered browse request
SPEC: Any = OffsetSpec  # its factory methods are untyped
Decoder = Callable[[bytes | None], "tuple[str, str] | None"]  # raw value -> (text, format label)


class ConsoleError(Exception):
    """A Kafka operation failed; the message is shown on the page (HTTP 502)."""


class BadInput(ConsoleError):
    """A form or query parameter is wrong (HTTP 400)."""


class NotFound(ConsoleError):
    """No such topic (HTTP 404)."""


@dataclass(frozen=True)
class PartitionInfo:
    index: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: tuple[PartitionInfo, ...]

    @property
    def replication(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    @property
    def internal(self) -> bool:
        return self.name.startswith("__")

    @property
    def under_replicated(self) -> int:
        return sum(1 for p in self.partitions if len(p.isr) < len(p.replicas))

    @property
    def offline(self) -> int:
        return sum(1 for p in self.partitions if p.leader < 0)


@dataclass(frozen=True)
class ClusterInfo:
    cluster_id: str | None
    controller: int
    brokers: tuple[tuple[int, str], ...]  # id, host:port
    topics: dict[str, TopicInfo]


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value: str | None
    headers: tuple[tuple[str, str], ...]
    json_value: str | None  # pretty-printed when the value is JSON (or decoded with its schema)
    value_format: str = ""  # e.g. "AVRO schema 3" when decoded through the registry


@dataclass
class BrowseResult:
    messages: list[Message] = field(default_factory=list)
    next_offset: int = 0
    low: int = 0
    high: int = 0
    scanned: int = 0


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return raw.decode("utf-8", errors="replace")


def _pretty_json(text: str | None) -> str | None:
    if not text or text[0] not in "{[":
        return None
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return None


def _raise_for(error: Any) -> None:
    if error is not None and error.code() != KafkaError.NO_ERROR:
        raise ConsoleError(str(error))


class KafkaGateway:
    """AdminClient, a browsing consumer and a producer for one cluster."""

    def __init__(self, bootstrap: str, extra: dict[str, str] | None = None) -> None:
        self.bootstrap = bootstrap
        self.settings = {"bootstrap.servers": bootstrap, **(extra or {})}
        self.auth_error: str | None = None  # the last authentication failure librdkafka reported
        admin_config: dict[str, Any] = {**self.settings, "error_cb": self._on_error}
        self.admin = AdminClient(admin_config)
        self._cluster: tuple[float, ClusterInfo] | None = None
        self._lock = threading.Lock()
        self._browser: Consumer | None = None
        self._browser_lock = threading.Lock()
        self._producer: Producer | None = None

    def close(self) -> None:
        with self._browser_lock:
            if self._browser is not None:
                self._browser.close()
                self._browser = None
        if self._producer is not None:
            self._producer.flush(5)

    def _on_error(self, error: Any) -> None:
        if error.code() == KafkaError._AUTHENTICATION:
            self.auth_error = error.str()

    def check_login(self, timeout: float = TIMEOUT_S) -> None:
        """One Metadata request with these credentials; ConsoleError as soon as the broker refuses
        them (librdkafka reports that through error_cb, served by poll) or when it stays out of
        reach."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.admin.list_topics(timeout=0.5)
                return
            except KafkaException:
                pass
            self.admin.poll(0)
            if self.auth_error is not None:
                raise ConsoleError(f"login failed: {self.auth_error.split(': ', 1)[-1]}")
            if time.monotonic() > deadline:
                raise ConsoleError(f"cannot reach the cluster at {self.bootstrap}")

    # --- metadata ---

    def cluster(self, fresh: bool = False) -> ClusterInfo:
        with self._lock:
            cached = self._cluster
            if not fresh and cached is not None and time.monotonic() - cached[0] < METADATA_TTL_S:
                return cached[1]
        try:
            md = self.admin.list_topics(timeout=TIMEOUT_S)
        except KafkaException as exc:
            raise ConsoleError(f"cannot reach the cluster at {self.bootstrap}: {exc}") from None
        topics = {}
        for name, topic in md.topics.items():
            if topic.error is not None:
                continue
            parts = tuple(
                PartitionInfo(p.id, p.leader, tuple(p.replicas), tuple(p.isrs))
                for p in sorted(topic.partitions.values(), key=lambda p: p.id)
            )
            topics[name] = TopicInfo(name, parts)
        brokers = tuple(sorted((b.id, f"{b.host}:{b.port}") for b in md.brokers.values()))
        info = ClusterInfo(md.cluster_id, md.controller_id, brokers, topics)
        with self._lock:
            self._cluster = (time.monotonic(), info)
        return info

    def topic(self, name: str) -> TopicInfo:
        info = self.cluster().topics.get(name) or self.cluster(fresh=True).topics.get(name)
        if info is None:
            raise NotFound(f"topic {name!r} does not exist")
        return info

    def watermarks(self, name: str) -> dict[int, tuple[int, int]]:
        """(earliest, latest) offset per partition, two ListOffsets requests for the whole topic."""
        parts = [p.index for p in self.topic(name).partitions]
        result: dict[int, list[int]] = {p: [0, 0] for p in parts}
        for slot, spec in ((0, SPEC.earliest()), (1, SPEC.latest())):
            futures = self.admin.list_offsets(
                {TopicPartition(name, p): spec for p in parts}, request_timeout=TIMEOUT_S
            )
            for tp, future in futures.items():
                try:
                    result[tp.partition][slot] = future.result().offset
                except KafkaException as exc:
                    raise ConsoleError(str(exc)) from None
        return {p: (lo, hi) for p, (lo, hi) in result.items()}

    def topic_configs(self, name: str) -> list[tuple[str, str | None, bool, bool]]:
        """(name, value, is default, read only) per topic config."""
        resource = ConfigResource(ConfigResource.Type.TOPIC, name)
        try:
            entries = self.admin.describe_configs([resource])[resource].result(TIMEOUT_S)
        except KafkaException as exc:
            raise ConsoleError(str(exc)) from None
        return [
            (e.name, e.value, bool(e.is_default), bool(e.is_read_only))
            for e in sorted(entries.values(), key=lambda e: e.name)
        ]

    # --- topic admin ---

    def create_topic(
        self, name: str, partitions: int, replication: int, configs: dict[str, str]
    ) -> None:
        future = self.admin.create_topics(
            [
                NewTopic(
                    name, num_partitions=partitions, replication_factor=replication, config=configs
                )
            ]
        )[name]
        self._wait(future)

    def delete_topic(self, name: str) -> None:
        self._wait(self.admin.delete_topics([name])[name])

    def set_topic_config(self, name: str, key: str, value: str | None) -> None:
        """Set (or, with None, delete back to the default) one topic config."""
        op = AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE
        entry = ConfigEntry(key, value, incremental_operation=op)
        resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[entry])
        self._wait(self.admin.incremental_alter_configs([resource])[resource])

    def _wait(self, future: Any) -> None:
        try:
            future.result(TIMEOUT_S)
        except KafkaException as exc:
            raise ConsoleError(str(exc.args[0] if exc.args else exc)) from None
        finally:
            with self._lock:
                self._cluster = None

    # --- messages ---

    def _consumer(self) -> Consumer:
        if self._browser is None:
            self._browser = Consumer(
                {
                    **self.settings,
                    "group.id": f"riverlog-console-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "enable.partition.eof": True,
                    "fetch.wait.max.ms": 50,
                }
            )
        return self._browser

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int:
        tp = TopicPartition(topic, partition, timestamp_ms)
        with self._browser_lock:
            found = self._consumer().offsets_for_times([tp], timeout=TIMEOUT_S)[0]
        _raise_for(found.error)
        if found.offset < 0:  # no record at or after it: the end of the log
            return self.watermarks(topic)[partition][1]
        return int(found.offset)

    def browse(
        self,
        topic: str,
        partition: int,
        start: int,
        limit: int,
        text: str = "",
        decode: Decoder | None = None,
    ) -> BrowseResult:
        """Up to `limit` records from `start` (those whose key or value contains `text`)."""
        low, high = self.watermarks(topic)[partition]
        start = min(max(start, low), high)
        result = BrowseResult(next_offset=start, low=low, high=high)
        if start >= high:
            return result
        needle = text.lower()
        budget = SCAN_LIMIT if needle else limit
        with self._browser_lock:
            consumer = self._consumer()
            consumer.assign([TopicPartition(topic, partition, start)])
            try:
                deadline = time.monotonic() + TIMEOUT_S
                while (
                    len(result.messages) < limit
                    and result.scanned < budget
                    and result.next_offset < high
                    and time.monotonic() < deadline
                ):
                    want = min(500, budget - result.scanned)
                    for record in consumer.consume(want, timeout=0.5):
                        error = record.error()
                        if error is not None:
                            if error.code() == KafkaError._PARTITION_EOF:
                                break
                            raise ConsoleError(str(error))
                        result.scanned += 1
                        result.next_offset = int(record.offset() or 0) + 1
                        if not needle or _matches(record, needle):
                            result.messages.append(_message(record, decode))
                            if len(result.messages) >= limit:
                                break
            finally:
                consumer.unassign()
        return result

    def produce(
        self,
        topic: str,
        key: str | None,
        value: str | None,
        headers: Sequence[tuple[str, str]],
        partition: int | None,
    ) -> tuple[int, int]:
        """Produce one record and wait for it; returns (partition, offset)."""
        if self._producer is None:
            self._producer = Producer({**self.settings, "linger.ms": 0})
        delivered: list[Any] = []

        def on_delivery(error: Any, record: Any) -> None:
            delivered.append((error, record))

        kwargs: dict[str, Any] = {
            "key": key.encode() if key is not None else None,
            "value": value.encode() if value is not None else None,
            "headers": [(k, v.encode()) for k, v in headers],
            "on_delivery": on_delivery,
        }
        if partition is not None:
            kwargs["partition"] = partition
        self._producer.produce(topic, **kwargs)
        self._producer.flush(TIMEOUT_S)
        if not delivered:
            raise ConsoleError("the record was not acknowledged in time")
        error, record = delivered[0]
        _raise_for(error)
        return int(record.partition()), int(record.offset())

    # --- groups ---

    def groups(self) -> list[tuple[str, str, str]]:
        """(group id, state, type) of every group."""
        try:
            listed = self.admin.list_consumer_groups(request_timeout=TIMEOUT_S).result()
        except KafkaException as exc:
            raise ConsoleError(str(exc)) from None
        return sorted(
            (g.group_id, _enum_name(g.state), _enum_name(getattr(g, "type", "")))
            for g in listed.valid
        )

    def describe_group(self, group: str) -> Any:
        try:
            return self.admin.describe_consumer_groups([group], request_timeout=TIMEOUT_S)[
                group
            ].result()
        except KafkaException as exc:
            raise ConsoleError(str(exc)) from None

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        request = [ConsumerGroupTopicPartitions(group)]
        try:
            answer = self.admin.list_consumer_group_offsets(request, request_timeout=TIMEOUT_S)[
                group
            ].result()
        except KafkaException as exc:
            raise ConsoleError(str(exc)) from None
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in answer.topic_partitions
            if tp.offset >= 0 and tp.error is None
        }

    def lag(self, group: str) -> list[tuple[str, int, int, int, int]]:
        """(topic, partition, committed, log end, lag) per committed partition."""
        committed = self.committed(group)
        ends: dict[tuple[str, int], int] = {}
        if committed:
            futures = self.admin.list_offsets(
                {TopicPartition(t, p): SPEC.latest() for t, p in committed},
                request_timeout=TIMEOUT_S,
            )
            for tp, future in futures.items():
                try:
                    ends[tp.topic, tp.partition] = future.result().offset
                except KafkaException:
                    ends[tp.topic, tp.partition] = -1
        rows = []
        for (topic, part), offset in sorted(committed.items()):
            end = ends.get((topic, part), -1)
            rows.append((topic, part, offset, end, max(0, end - offset) if end >= 0 else 0))
        return rows

    def reset_plan(
        self, group: str, topic: str, to: str, value: int | None
    ) -> list[tuple[int, int | None, int]]:
        """(partition, committed now, new offset) for resetting `group` on `topic` to `to`
        (earliest, latest, timestamp: value ms, offset: value)."""
        marks = self.watermarks(topic)
        committed = self.committed(group)
        plan = []
        for part, (low, high) in sorted(marks.items()):
            if to == "earliest":
                new = low
            elif to == "latest":
                new = high
            elif to == "timestamp" and value is not None:
                new = self.offset_for_time(topic, part, value)
            elif to == "offset" and value is not None:
                new = min(max(value, low), high)
            else:
                raise BadInput(f"cannot reset to {to!r} without a value")
            plan.append((part, committed.get((topic, part)), new))
        return plan

    def reset_offsets(self, group: str, topic: str, offsets: Sequence[tuple[int, int]]) -> None:
        """Commit the new offsets (Kafka accepts this only while the group has no members)."""
        request = [
            ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, o) for p, o in offsets])
        ]
        future = self.admin.alter_consumer_group_offsets(request, request_timeout=TIMEOUT_S)[group]
        try:
            answer = future.result()
        except KafkaException as exc:
            raise ConsoleError(str(exc.args[0] if exc.args else exc)) from None
        for tp in answer.topic_partitions:
            _raise_for(tp.error)


def _enum_name(value: Any) -> str:
    name = getattr(value, "name", value)
    return str(name).replace("_", " ").title().replace(" ", "") if name else ""


def _message(record: Any, decode: Decoder | None = None) -> Message:
    raw = record.value()
    decoded = decode(raw) if decode is not None else None
    value = _text(raw)
    _, timestamp = record.timestamp()
    headers = tuple((k, _text(v) or "") for k, v in (record.headers() or []))
    return Message(
        record.partition(),
        record.offset(),
        timestamp,
        _text(record.key()),
        value,
        headers,
        decoded[0] if decoded else _pretty_json(value),
        decoded[1] if decoded else "",
    )


def _matches(record: Any, needle: str) -> bool:
    """Whether the record's key or value contains `needle` (lower case), before decoding it for show."""
    return any(needle in (_text(raw) or "").lower() for raw in (record.key(), record.value()))
