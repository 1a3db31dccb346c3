"""Random interleavings of transactional and plain producers, checked against a model of the log.

Hypothesis draws a sequence of operations for two transactional producers and a plain idempotent
one (confluent-kafka), and a transactions V2 producer (`riverlog.testing.txn_v2`: an epoch bump per
transaction, partitions added by its first produce) over 2 or 3 partitions: send a record to a partition (a transactional producer
begins a transaction first if it has none), commit, abort. The model lays out each partition as the
broker must: records in send order and one control marker per partition of a transaction when it
ends (riverlog answers EndTxn after its markers are written, so their place is known). Then, with
transactions possibly still open, and again once every transaction has ended:
- ListOffsets latest with read_committed is the LSO (the first offset of the oldest open
  transaction on the partition, else the log end), read_uncommitted the high watermark;
- read_committed returns exactly the plain and committed records below the LSO, in order;
- read_uncommitted returns every record.
A rare "restart" operation stops the broker cleanly and starts it on the same data in between
(producer state snapshots, the LSO and the aborted-transaction index must come back as they were).

15 examples by default (a few seconds); RIVERLOG_TXN_EXAMPLES=500 for a longer hunt.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode
from test_txn_aiokafka import SMALL, last_stable_offset

from riverlog.testing.broker import RunningBroker
from riverlog.testing.txn_v2 import TxnV2Producer

pytestmark = pytest.mark.integration

TIMEOUT_S = 15
TRANSACTIONAL = ("T0", "T1", "V2")
EXAMPLES = int(os.environ.get("RIVERLOG_TXN_EXAMPLES", "15"))  # more for a longer hunt
Op = tuple[str, str, int]  # (action, producer, partition)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with RunningBroker(tmp_path_factory.mktemp("txn-property"), **SMALL) as running:
        yield running


@dataclass
class LogModel:
    """Each partition's log: (value, transaction) per offset; a marker has value None."""

    partitions: int
    log: dict[int, list[tuple[bytes | None, str | None]]] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)  # producer -> its open transaction
    touched: dict[str, set[int]] = field(default_factory=dict)  # transaction -> its partitions
    outcome: dict[str, bool] = field(default_factory=dict)  # transaction -> committed

    def __post_init__(self) -> None:
        self.log = {p: [] for p in range(self.partitions)}

    def begin(self, producer: str, number: int) -> None:
        self.current[producer] = f"{producer}#{number}"
        self.touched[self.current[producer]] = set()

    def send(self, producer: str, partition: int, value: bytes) -> None:
        txn = self.current.get(producer)
        if txn is not None:
            self.touched[txn].add(partition)
        self.log[partition].append((value, txn))

    def end(self, producer: str, commit: bool) -> None:
        txn = self.current.pop(producer)
        self.outcome[txn] = commit
        for partition in sorted(self.touched[txn]):
            self.log[partition].append((None, txn))

    def last_stable_offset(self, partition: int) -> int:
        entries = self.log[partition]
        open_at = [i for i, (_, t) in enumerate(entries) if t is not None and t not in self.outcome]
        return min(open_at, default=len(entries))

    def committed(self) -> dict[int, list[bytes]]:
        return {
            p: [
                v
                for v, t in entries[: self.last_stable_offset(p)]
                if v is not None and (t is None or self.outcome[t])
            ]
            for p, entries in self.log.items()
        }

    def everything(self) -> dict[int, list[bytes]]:
        return {p: [v for v, _ in entries if v is not None] for p, entries in self.log.items()}


class Clients:
    """Long-lived clients for the module (starting librdkafka clients costs more than a whole
    example): an admin client, the two transactional producers and the plain one, and one consumer
    per isolation level, reassigned to each example's topic."""

    def __init__(self, broker: RunningBroker) -> None:
        self.broker = broker
        bootstrap = broker.bootstrap_servers
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        prefix = uuid.uuid4().hex[:8]
        common = {"bootstrap.servers": bootstrap, "linger.ms": 0}
        self.producers = {
            name: Producer({**common, "transactional.id": f"prop-{prefix}-{name}"})
            for name in TRANSACTIONAL
            if name != "V2"
        }
        self.v2 = TxnV2Producer(("127.0.0.1", broker.port), f"prop-{prefix}-V2")
        assert self.v2.init() is ErrorCode.none
        for producer in self.producers.values():
            producer.init_transactions(TIMEOUT_S)
        self.producers["plain"] = Producer({**common, "enable.idempotence": True})
        self.consumers = {
            isolation: Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "group.id": "unused",  # assign() never joins it
                    "enable.auto.commit": False,
                    "isolation.level": isolation,
                    "enable.partition.eof": True,
                    "fetch.wait.max.ms": 20,
                }
            )
            for isolation in ("read_committed", "read_uncommitted")
        }

    def create_topic(self, partitions: int) -> str:
        name = f"prop-{uuid.uuid4().hex[:10]}"
        futures = self.admin.create_topics([NewTopic(name, num_partitions=partitions)])
        futures[name].result(TIMEOUT_S)
        return name

    def read(self, topic: str, partitions: int, isolation: str) -> dict[int, list[bytes]]:
        """Every value of each partition in offset order, up to the end for the isolation level."""
        consumer = self.consumers[isolation]
        consumer.list_topics(topic, TIMEOUT_S)  # metadata first: assign() alone learns it slowly
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        found: dict[int, list[bytes]] = {p: [] for p in range(partitions)}
        at_eof: set[int] = set()
        while len(at_eof) < partitions:
            msg = consumer.poll(TIMEOUT_S)
            assert msg is not None, f"timed out reading {topic} ({isolation})"
            error = msg.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                at_eof.add(msg.partition() or 0)
            elif msg.value() is not None:
                found[msg.partition() or 0].append(msg.value() or b"")
        consumer.unassign()
        return found

    def close(self) -> None:
        for consumer in self.consumers.values():
            consumer.close()
        for producer in self.producers.values():
            producer.purge()
        self.producers.clear()


@pytest.fixture(scope="module")
def clients(broker: RunningBroker) -> Iterator[Clients]:
    made = Clients(broker)
    yield made
    made.close()


class Run:
    """One example: the operations applied to the producers and mirrored in the model."""

    def __init__(self, clients: Clients, topic: str, model: LogModel) -> None:
        self.clients = clients
        self.topic = topic
        self.model = model
        self.begun = 0

    def apply(self, op: Op, number: int) -> None:
        action, who, partition = op
        if action == "send":
            self.send(who, partition % self.model.partitions, number)
        elif action == "restart":
            self.clients.broker.restart()  # producer state, LSO and aborted index reloaded
        elif who in self.model.current:
            self.end(who, commit=action == "commit")

    def send(self, who: str, partition: int, number: int) -> None:
        if who in TRANSACTIONAL and who not in self.model.current:
            if who != "V2":  # a V2 transaction begins with its first produce
                self.clients.producers[who].begin_transaction()
            self.begun += 1
            self.model.begin(who, self.begun)
        value = f"{number}-{who}-p{partition}".encode()
        if who == "V2":
            assert self.clients.v2.send(self.topic, partition, [value]) is ErrorCode.none
        else:
            producer = self.clients.producers[who]
            producer.produce(self.topic, value=value, partition=partition)
            assert producer.flush(TIMEOUT_S) == 0
        self.model.send(who, partition, value)

    def end(self, who: str, commit: bool) -> None:
        if who == "V2":
            epoch = self.clients.v2.producer_epoch
            assert self.clients.v2.end(commit)[0] is ErrorCode.none
            assert self.clients.v2.producer_epoch == epoch + 1
            self.model.end(who, commit)
            return
        producer = self.clients.producers[who]
        if commit:
            producer.commit_transaction(TIMEOUT_S)
        else:
            producer.abort_transaction(TIMEOUT_S)
        self.model.end(who, commit)

    def end_all(self) -> None:
        for who in sorted(self.model.current):
            self.end(who, commit=who == "T1")  # T0 aborts what is left open, T1 commits

    def check(self) -> None:
        port, model = self.clients.broker.port, self.model
        for p in range(model.partitions):
            lso = last_stable_offset(port, self.topic, p)
            hw = last_stable_offset(port, self.topic, p, committed=False)
            assert (lso, hw) == (model.last_stable_offset(p), len(model.log[p])), f"partition {p}"
        read = self.clients.read
        assert read(self.topic, model.partitions, "read_committed") == model.committed()
        assert read(self.topic, model.partitions, "read_uncommitted") == model.everything()


# Sends are the common case; a restart (clean stop and start on the same data) is rare.
ACTIONS = ("send", "send", "send", "send", "commit", "abort", "restart")
ops = st.lists(
    st.tuples(
        st.sampled_from(ACTIONS), st.sampled_from([*TRANSACTIONAL, "plain"]), st.integers(0, 2)
    ),
    min_size=1,
    max_size=16,
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(partitions=st.integers(2, 3), ops=ops)
def test_read_committed_matches_the_model(clients: Clients, partitions: int, ops: list[Op]) -> None:
    run = Run(clients, clients.create_topic(partitions), LogModel(partitions))
    try:
        for number, op in enumerate(ops):
            run.apply(op, number)
        run.check()  # transactions may still be open: the LSO holds
    finally:
        run.end_all()  # (also after a failure: the producers serve the next example)
    run.check()


def test_model_lays_out_markers_and_the_lso() -> None:
    """The model itself, on a fixed history (so that a wrong model cannot pass by agreeing)."""
    model = LogModel(2)
    model.begin("T0", 1)
    model.send("T0", 0, b"a")
    model.send("plain", 0, b"x")
    model.begin("T1", 2)
    model.send("T1", 1, b"b")
    model.end("T0", commit=False)
    model.send("plain", 1, b"y")
    assert model.log[0] == [(b"a", "T0#1"), (b"x", None), (None, "T0#1")]
    assert (model.last_stable_offset(0), model.last_stable_offset(1)) == (3, 0)
    assert model.committed() == {0: [b"x"], 1: []}
    model.end("T1", commit=True)
    assert model.committed() == {0: [b"x"], 1: [b"b", b"y"]}
    assert model.everything() == {0: [b"a", b"x"], 1: [b"b", b"y"]}
