"""Transactions with aiokafka's transactional producer, read back by aiokafka and confluent-kafka.

Commits and aborts of two transactional producers and a plain idempotent one interleave across three
partitions; read_committed consumers (both clients) must see exactly the committed and plain records,
in log order, and nothing past the last stable offset; read_uncommitted sees everything.
Consume-transform-produce with `send_offsets_to_transaction` commits the group's offsets with the
output records, and an aborted round leaves neither.

The reading helpers here (`read_confluent`, `last_stable_offset`) are shared by the other
`test_txn_*` files.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from confluent_kafka import Consumer, KafkaError
from confluent_kafka import TopicPartition as ConfluentTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i32, i64

from riverlog.broker.responses import request_schema
from riverlog.testing import wire
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

TIMEOUT_S = 15
SMALL = {"offsets.topic.num.partitions": "1", "transaction.state.log.num.partitions": "1"}
LIST_OFFSETS, LATEST = 2, -1
Partitions = dict[int, list[bytes]]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with RunningBroker(tmp_path_factory.mktemp("txn-aiokafka"), **SMALL) as running:
        yield running


# --- shared reading helpers ------------------------------------------------------------------------


def create_topic(
    bootstrap: str, partitions: int, prefix: str = "t", config: dict[str, str] | None = None
) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = NewTopic(name, num_partitions=partitions, config=config or {})
    admin.create_topics([new])[name].result(TIMEOUT_S)
    return name


def last_stable_offset(port: int, topic: str, partition: int, committed: bool = True) -> int:
    """ListOffsets v5 latest: the LSO (read_committed) or the high watermark (read_uncommitted)."""
    schema = request_schema(LIST_OFFSETS, 5)
    part = schema.ListOffsetsPartition(partition_index=i32(partition), timestamp=i64(LATEST))
    request = schema.ListOffsetsRequest(
        replica_id=i32(-1),
        isolation_level=i8(1 if committed else 0),
        topics=(schema.ListOffsetsTopic(name=topic, partitions=(part,)),),
    )
    answer = wire.call(port, request).topics[0].partitions[0]
    assert answer.error_code == ErrorCode.none
    return int(answer.offset)


def read_confluent(bootstrap: str, topic: str, partitions: int, isolation: str) -> Partitions:
    """Every value of each partition in offset order, read to the end with confluent-kafka
    (for read_committed, librdkafka's end is the last stable offset)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused",  # assign() never joins it
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "enable.partition.eof": True,
        }
    )
    try:
        consumer.list_topics(topic, TIMEOUT_S)  # metadata first: assign() alone learns it slowly
        consumer.assign([ConfluentTopicPartition(topic, p, 0) for p in range(partitions)])
        found: Partitions = {p: [] for p in range(partitions)}
        at_eof: set[int] = set()
        while len(at_eof) < partitions:
            msg = consumer.poll(TIMEOUT_S)
            assert msg is not None, f"timed out reading {topic} ({isolation})"
            error = msg.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                at_eof.add(msg.partition() or 0)
                continue
            value = msg.value()
            assert value is not None
            found[msg.partition() or 0].append(value)
        return found
    finally:
        consumer.close()


async def read_aiokafka(bootstrap: str, topic: str, partitions: int, isolation: str) -> Partitions:
    """Every value of each partition in offset order, up to the end offset aiokafka sees for the
    isolation level (ListOffsets latest: the LSO for read_committed)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level=isolation,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        found: Partitions = {p: [] for p in range(partitions)}
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=200), TIMEOUT_S)
            for tp, messages in batches.items():
                found[tp.partition].extend(m.value for m in messages if m.value is not None)
        return found
    finally:
        await consumer.stop()


# --- a scripted interleaving and its model ---------------------------------------------------------


@dataclass
class Model:
    """Per partition, each value in log order with the transaction that wrote it (None: plain)."""

    log: dict[int, list[tuple[bytes, str | None]]]
    outcome: dict[str, bool] = field(default_factory=dict)  # transaction -> committed

    def sent(self, partition: int, value: bytes, txn: str | None) -> None:
        self.log[partition].append((value, txn))

    def committed(self) -> Partitions:
        """What read_committed returns: plain and committed values below each partition's LSO."""
        found: Partitions = {}
        for partition, entries in self.log.items():
            open_at = [i for i, (_, t) in enumerate(entries) if t and t not in self.outcome]
            stable = entries[: min(open_at, default=len(entries))]
            found[partition] = [v for v, t in stable if t is None or self.outcome[t]]
        return found

    def everything(self) -> Partitions:
        return {p: [v for v, _ in entries] for p, entries in self.log.items()}


class Writers:
    """Two aiokafka transactional producers and a plain idempotent one, recorded in a Model."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.topic = topic
        self.model = Model({p: [] for p in range(partitions)})
        prefix = uuid.uuid4().hex[:6]
        self.txn = {
            name: AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{prefix}-{name}")
            for name in ("A", "B")
        }
        self.plain = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
        self.round = {"A": 0, "B": 0}

    async def start(self) -> None:
        for producer in (*self.txn.values(), self.plain):
            await producer.start()

    async def stop(self) -> None:
        for producer in (*self.txn.values(), self.plain):
            await producer.stop()

    def _name(self, who: str) -> str:
        return f"{who}{self.round[who]}"

    async def begin(self, who: str) -> None:
        self.round[who] += 1
        await self.txn[who].begin_transaction()

    async def send(self, who: str, partition: int, value: str) -> None:
        producer = self.plain if who == "plain" else self.txn[who]
        await producer.send_and_wait(self.topic, value.encode(), partition=partition)
        self.model.sent(partition, value.encode(), None if who == "plain" else self._name(who))

    async def end(self, who: str, commit: bool) -> None:
        producer = self.txn[who]
        await (producer.commit_transaction() if commit else producer.abort_transaction())
        self.model.outcome[self._name(who)] = commit


async def _interleave(bootstrap: str, topic: str, check_midway: Callable[[Model], None]) -> Model:
    writers = Writers(bootstrap, topic, 3)
    await writers.start()
    try:
        await writers.begin("A")
        await writers.send("A", 0, "a1-p0")
        await writers.send("A", 1, "a1-p1")
        await writers.begin("B")
        await writers.send("B", 0, "b1-p0")
        await writers.send("B", 2, "b1-p2")
        await writers.send("plain", 0, "x1-p0")
        await writers.end("A", commit=True)
        await writers.send("plain", 1, "x2-p1")
        check_midway(writers.model)  # B open: p0 and p2 stable only below B's first records
        await writers.end("B", commit=False)
        await writers.begin("A")
        await writers.send("A", 2, "a2-p2")
        await writers.begin("B")
        await writers.send("B", 1, "b2-p1")
        await writers.send("A", 0, "a2-p0")
        await writers.send("B", 0, "b2-p0")
        await writers.end("A", commit=False)
        await writers.send("plain", 2, "x3-p2")
        await writers.end("B", commit=True)
        await writers.begin("A")
        await writers.send("A", 1, "a3-p1")
        await writers.send("A", 2, "a3-p2")
        await writers.end("A", commit=True)
    finally:
        await writers.stop()
    return writers.model


def test_interleaved_commits_and_aborts_across_partitions(broker: RunningBroker) -> None:
    bootstrap = broker.bootstrap_servers
    topic = create_topic(bootstrap, 3)
    midway: list[tuple[Partitions, Partitions, list[int]]] = []

    def check_midway(model: Model) -> None:
        # A blocking read inside the producers' loop is fine: they are idle, the broker has its own.
        lsos = [last_stable_offset(broker.port, topic, p) for p in range(3)]
        midway.append(
            (read_confluent(bootstrap, topic, 3, "read_committed"), model.committed(), lsos)
        )

    model = asyncio.run(_interleave(bootstrap, topic, check_midway))
    seen_midway, expected_midway, lsos = midway[0]
    assert expected_midway == {0: [b"a1-p0"], 1: [b"a1-p1", b"x2-p1"], 2: []}
    assert seen_midway == expected_midway
    assert lsos == [1, 3, 0]  # p0: b1 at 1; p1: a1, its marker, x2; p2: b1 at 0
    expected = model.committed()
    assert expected == {
        0: [b"a1-p0", b"x1-p0", b"b2-p0"],
        1: [b"a1-p1", b"x2-p1", b"b2-p1", b"a3-p1"],
        2: [b"x3-p2", b"a3-p2"],
    }
    assert read_confluent(bootstrap, topic, 3, "read_committed") == expected
    assert asyncio.run(read_aiokafka(bootstrap, topic, 3, "read_committed")) == expected
    everything = model.everything()
    assert read_confluent(bootstrap, topic, 3, "read_uncommitted") == everything
    assert asyncio.run(read_aiokafka(bootstrap, topic, 3, "read_uncommitted")) == everything


# --- consume-transform-produce ---------------------------------------------------------------------


async def _transform(bootstrap: str, source: str, sink: str, group: str, count: int) -> list[int]:
    """Copy `source` to `sink` upper-cased, in transactions that also commit the group's offsets;
    the second round is aborted and redone from the committed offset. Returns the committed offset
    seen after each round."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"ctp-{uuid.uuid4().hex[:6]}"
    )
    await consumer.start()
    await producer.start()
    tp = TopicPartition(source, 0)
    consumer.assign([tp])
    committed_after: list[int] = []
    try:
        round_number = 0
        while await consumer.position(tp) < count:
            round_number += 1
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=4)
            messages = batch.get(tp, [])
            await producer.begin_transaction()
            for message in messages:
                assert message.value is not None
                await producer.send(sink, message.value.upper(), partition=message.offset % 2)
            if messages:
                offsets = {tp: messages[-1].offset + 1}
                await producer.send_offsets_to_transaction(offsets, group)
            if round_number == 2:
                await producer.abort_transaction()
                consumer.seek(tp, await consumer.committed(tp) or 0)  # redo from the commit
            else:
                await producer.commit_transaction()
            committed_after.append(await consumer.committed(tp) or 0)
    finally:
        await producer.stop()
        await consumer.stop()
    return committed_after


def test_consume_transform_produce_with_send_offsets_to_transaction(broker: RunningBroker) -> None:
    bootstrap = broker.bootstrap_servers
    source, sink = create_topic(bootstrap, 1, "src"), create_topic(bootstrap, 2, "sink")
    values = [f"v{i:02d}".encode() for i in range(10)]

    async def fill() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait(source, value, partition=0)
        finally:
            await producer.stop()

    asyncio.run(fill())
    group = f"g-{uuid.uuid4().hex[:8]}"
    committed_after = asyncio.run(_transform(bootstrap, source, sink, group, len(values)))
    assert committed_after[:3] == [4, 4, 8]  # round 2 aborted: its offsets never committed
    assert committed_after[-1] == len(values)
    upper = [v.upper() for v in values]
    expected = {0: upper[0::2], 1: upper[1::2]}  # offsets are even/odd per sink partition
    assert read_confluent(bootstrap, sink, 2, "read_committed") == expected
    assert asyncio.run(read_aiokafka(bootstrap, sink, 2, "read_committed")) == expected
    everything = read_confluent(bootstrap, sink, 2, "read_uncommitted")
    assert sum(len(v) for v in everything.values()) == len(values) + 4  # the aborted round too
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed([ConfluentTopicPartition(source, 0)], TIMEOUT_S)
        assert found[0].offset == len(values)
    finally:
        consumer.close()


def test_open_transaction_holds_the_lso_for_both_clients(broker: RunningBroker) -> None:
    """A plain record written after an open transaction's first record is not readable with
    read_committed until that transaction ends; ListOffsets latest reports the LSO."""
    bootstrap = broker.bootstrap_servers
    topic = create_topic(bootstrap, 1)

    async def scenario() -> tuple[Partitions, Partitions, int, int]:
        writers = Writers(bootstrap, topic, 1)
        await writers.start()
        try:
            await writers.send("plain", 0, "before")
            await writers.begin("A")
            await writers.send("A", 0, "open")
            await writers.send("plain", 0, "after")
            lso, hw = (last_stable_offset(broker.port, topic, 0, c) for c in (True, False))
            held = await read_aiokafka(bootstrap, topic, 1, "read_committed")
            confluent_held = read_confluent(bootstrap, topic, 1, "read_committed")
            await writers.end("A", commit=True)
        finally:
            await writers.stop()
        assert held == confluent_held
        return held, writers.model.committed(), lso, hw

    held, final, lso, hw = asyncio.run(scenario())
    assert (lso, hw) == (1, 3)
    assert held == {0: [b"before"]}
    assert final == {0: [b"before", b"open", b"after"]}
    assert read_confluent(bootstrap, topic, 1, "read_committed") == final
    assert last_stable_offset(broker.port, topic, 0) == 4  # the marker is below the LSO too
