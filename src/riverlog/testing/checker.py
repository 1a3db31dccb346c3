"""A Jepsen-style checker for a replicated log: what was acknowledged must be read back, once, in place.

    producer = AckRecorder(cluster.bootstrap_servers, topic)
    producer.produce_values(1000)           # unique values, recorded as the producer sends them
    producer.flush()
    result = check(producer.acked, read_all(cluster.bootstrap_servers, topic))
    assert result.ok, result.summary()

The producer is confluent-kafka's, idempotent with acks=all; a record counts as acknowledged only when
its delivery report carries no error, and then at the partition and offset that report gives. Failed
deliveries are counted by error name (`refused`), never as acknowledged. The reader reads every
partition from its start to the end offset it had when reading began.

`check` compares the two (values must be unique, which `AckRecorder` guarantees):
- lost: acknowledged, and the value was not read anywhere;
- wrong_offset: acknowledged, read, but never at the acknowledged partition and offset;
- duplicated: a value read more than once (acknowledged or not: an idempotent producer never writes
  twice);
- out_of_order: in a partition's log, an acknowledged record that sits after another acknowledged
  record its producer sent later (send order is `Ack.sequence`, per `Ack.producer`);
- unacknowledged_read: read, but not acknowledged (allowed: a write whose acknowledgement was lost may
  still have succeeded) — reported, not an error.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition


@dataclass(frozen=True, slots=True)
class Ack:
    """An acknowledged record: where the broker said it is, and when (`sequence`) which producer
    (`producer`) sent it. Order is only defined between records of the same producer."""

    partition: int
    offset: int
    value: bytes
    sequence: int
    producer: str = ""


@dataclass(frozen=True, slots=True)
class Read:
    """A record as read back."""

    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Counts (and up to `DETAIL_LIMIT` examples of each anomaly)."""

    acknowledged: int = 0
    read: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    wrong_offset: int = 0
    unacknowledged_read: int = 0
    examples: Mapping[str, tuple[object, ...]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every acknowledged record read back exactly once, at its offset, in order."""
        return self.lost == self.duplicated == self.out_of_order == self.wrong_offset == 0

    def summary(self) -> str:
        """One line of counts, with examples of anomalies when there are any."""
        line = (
            f"acknowledged={self.acknowledged} read={self.read} lost={self.lost} "
            f"duplicated={self.duplicated} out_of_order={self.out_of_order} "
            f"wrong_offset={self.wrong_offset} unacknowledged_read={self.unacknowledged_read}"
        )
        details = "; ".join(
            f"{kind}: {list(found)}" for kind, found in self.examples.items() if found
        )
        return f"{line} ({details})" if details else line

    def __add__(self, other: CheckResult) -> CheckResult:
        """Sum of two results (for many episodes); examples are concatenated, then capped."""
        kinds = dict.fromkeys([*self.examples, *other.examples])
        return CheckResult(
            acknowledged=self.acknowledged + other.acknowledged,
            read=self.read + other.read,
            lost=self.lost + other.lost,
            duplicated=self.duplicated + other.duplicated,
            out_of_order=self.out_of_order + other.out_of_order,
            wrong_offset=self.wrong_offset + other.wrong_offset,
            unacknowledged_read=self.unacknowledged_read + other.unacknowledged_read,
            examples={
                kind: (self.examples.get(kind, ()) + other.examples.get(kind, ()))[:DETAIL_LIMIT]
                for kind in kinds
            },
        )


DETAIL_LIMIT = 5


def check(acked: Iterable[Ack], read: Iterable[Read]) -> CheckResult:
    """Compare what the producer was told against what the log holds (see the module docstring)."""
    acked = list(acked)
    read = list(read)
    places: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    for record in read:
        places[record.value].append((record.partition, record.offset))
    lost = [a for a in acked if a.value not in places]
    misplaced = [
        a for a in acked if a.value in places and (a.partition, a.offset) not in places[a.value]
    ]
    duplicated = [value for value, where in places.items() if len(where) > 1]
    out_of_order = _out_of_order(acked, read)
    acked_values = {a.value for a in acked}
    return CheckResult(
        acknowledged=len(acked),
        read=len(read),
        lost=len(lost),
        duplicated=len(duplicated),
        out_of_order=len(out_of_order),
        wrong_offset=len(misplaced),
        unacknowledged_read=len({r.value for r in read} - acked_values),
        examples={
            "lost": tuple(lost[:DETAIL_LIMIT]),
            "duplicated": tuple((v, tuple(places[v])) for v in duplicated[:DETAIL_LIMIT]),
            "out_of_order": tuple(out_of_order[:DETAIL_LIMIT]),
            "wrong_offset": tuple(misplaced[:DETAIL_LIMIT]),
        },
    )


def _out_of_order(acked: Sequence[Ack], read: Sequence[Read]) -> list[Read]:
    # Walk each partition's log in offset order; an acknowledged record that its producer sent
    # before another of its records already seen in that partition is out of order.
    sent = {a.value: (a.producer, a.sequence) for a in acked}
    latest: dict[tuple[int, str], int] = {}
    found = []
    for record in sorted(read, key=lambda r: (r.partition, r.offset)):
        if record.value not in sent:
            continue
        producer, sequence = sent[record.value]
        key = (record.partition, producer)
        if sequence < latest.get(key, -1):
            found.append(record)
        latest[key] = max(sequence, latest.get(key, -1))
    return found


class AckRecorder:
    """An idempotent acks=all producer that records each acknowledged record and counts refusals.

    `config` overrides the producer's settings (librdkafka names), e.g. `{"message.timeout.ms": 5000}`.
    """

    def __init__(
        self, bootstrap_servers: str, topic: str, config: Mapping[str, Any] | None = None
    ) -> None:
        self.topic = topic
        self.run_id = uuid.uuid4().hex[:8]
        self.acked: list[Ack] = []
        self.refused: Counter[str] = Counter()
        self.sent = 0
        self._sequence = itertools.count()
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": 30_000,
                **dict(config or {}),
            }
        )

    @property
    def pending(self) -> int:
        """Records sent whose delivery report has not arrived yet."""
        return self.sent - len(self.acked) - sum(self.refused.values())

    def next_value(self) -> bytes:
        """A value unique to this recorder and run."""
        return f"{self.run_id}-{self.sent}".encode()

    def produce(self, value: bytes | None = None, partition: int | None = None) -> bytes:
        """Send one record (a fresh unique value unless given); returns the value."""
        value = self.next_value() if value is None else value
        kwargs: dict[str, Any] = {"value": value}
        if partition is not None:
            kwargs["partition"] = partition
        callback = partial(self._on_delivery, next(self._sequence))
        while True:
            try:
                self._producer.produce(self.topic, on_delivery=callback, **kwargs)
                break
            except BufferError:
                self._producer.poll(0.1)
        self.sent += 1
        self._producer.poll(0)
        return value

    def produce_values(self, count: int, partition: int | None = None) -> list[bytes]:
        """Send `count` fresh records."""
        return [self.produce(partition=partition) for _ in range(count)]

    def poll(self, timeout: float = 0.0) -> None:
        """Serve delivery reports."""
        self._producer.poll(timeout)

    def flush(self, timeout: float = 60.0) -> int:
        """Wait for every delivery report (or `timeout`); returns how many are still pending."""
        remaining: int = self._producer.flush(timeout)
        return remaining

    def _on_delivery(self, sequence: int, err: Any, msg: Any) -> None:
        if err is not None:
            self.refused[err.name()] += 1
            return
        self.acked.append(Ack(msg.partition(), msg.offset(), msg.value(), sequence, self.run_id))


def read_all(
    bootstrap_servers: str,
    topic: str,
    partitions: Iterable[int] | None = None,
    timeout: float = 60.0,
) -> list[Read]:
    """Every record of the topic's partitions (all when None), from the start to the end offset.

    The end offsets are asked for once, before reading; raises TimeoutError when they are not reached
    in `timeout` seconds.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"riverlog-checker-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_uncommitted",
        }
    )
    try:
        wanted = (
            list(partitions) if partitions is not None else _partitions(consumer, topic, timeout)
        )
        ends = {p: _end_offset(consumer, topic, p, timeout) for p in wanted}
        return _read_until(consumer, topic, ends, timeout)
    finally:
        consumer.close()


def _partitions(consumer: Consumer, topic: str, timeout: float) -> list[int]:
    # Right after a failover a broker may still answer with stale metadata: ask until it lists some.
    deadline = time.monotonic() + timeout
    while True:
        found = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if found is not None and found.error is None and found.partitions:
            return sorted(found.partitions)
        if time.monotonic() > deadline:
            raise TimeoutError(f"read_all({topic}): no partitions in metadata ({found})")
        time.sleep(0.1)


def _end_offset(consumer: Consumer, topic: str, partition: int, timeout: float) -> int:
    # Around a failover the answer may be an error for a while: OFFSET_NOT_AVAILABLE from a new
    # leader whose high watermark has not caught up (KIP-207), or an unknown partition or leader
    # in stale metadata. Ask again until an answer comes or `timeout` passes.
    deadline = time.monotonic() + timeout
    while True:
        try:
            return end_offset(consumer, topic, partition, timeout)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def end_offset(consumer: Consumer, topic: str, partition: int, timeout: float = 10.0) -> int:
    """The partition's end offset (high watermark) as its leader reports it now."""
    _low, high = consumer.get_watermark_offsets(
        TopicPartition(topic, partition), timeout=timeout, cached=False
    )
    return int(high)


def _read_until(
    consumer: Consumer, topic: str, ends: Mapping[int, int], timeout: float
) -> list[Read]:
    # Read from the beginning until each partition's position reaches its end offset.
    todo = {p: end for p, end in ends.items() if end > 0}
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in todo])
    records: list[Read] = []
    deadline = time.monotonic() + timeout
    while todo:
        if time.monotonic() > deadline:
            raise TimeoutError(f"read_all({topic}): end offsets not reached for {sorted(todo)}")
        for msg in consumer.consume(num_messages=1000, timeout=0.5):
            if msg.error() is not None:
                continue
            partition, offset = msg.partition(), msg.offset()
            if partition is None or offset is None:
                continue
            if offset < ends[partition]:
                records.append(Read(partition, offset, msg.value() or b""))
            if partition in todo and offset + 1 >= todo[partition]:
                del todo[partition]
                consumer.pause([TopicPartition(topic, partition)])
    return records
