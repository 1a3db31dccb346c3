"""The broker SIGKILLed with a transaction open and during its commit (a broker in a subprocess).

Each trial: a transactional producer speaking the protocol directly (so that nothing retries behind
the test's back) commits a first transaction ("pre") on every partition, then writes one record per
partition in a second ("mid"), and the broker is killed at some point: with "mid" open, or after
EndTxn was sent (as soon as `__transaction_state` grows, or after a random delay). Before restarting,
the test reads the files to learn how far the broker got (the last `__transaction_state` record of
the id, and which partitions already hold a marker after "mid").

What must hold after the restart, for every outcome (Kafka's transaction protocol):
- PrepareCommit/PrepareAbort (or Complete*) was written: the coordinator finishes the markers by
  itself; every partition's LSO reaches its high watermark; "mid" is visible to read_committed on
  every partition (commit) or on none (abort).
- "mid" still Ongoing: read_committed stops at "mid" (the LSO holds) until the transaction is
  aborted, by its timeout or by a successor with the same transactional id; "mid" is never visible.
- Either way, "pre" is always visible, and a later transaction and plain writes become visible to
  read_committed (the LSO moves on).

A few trials run in the normal suite; `make chaos` (RIVERLOG_CHAOS=1) runs many with random kill
points, in both durability modes.
"""

from __future__ import annotations

import datetime
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from kio.schema.errors import ErrorCode
from kio.static.primitive import i16, i32, i32Timedelta, i64
from test_txn_aiokafka import SMALL, create_topic, last_stable_offset, read_confluent

from riverlog.broker.responses import request_schema
from riverlog.coordinator.txn import decode_record
from riverlog.protocol.codec import encode_request
from riverlog.protocol.records import (
    build_batch,
    control_record_type,
    decode_records,
    iter_batches,
)
from riverlog.testing import wire
from riverlog.testing.broker_process import BrokerProcess

pytestmark = pytest.mark.integration

TIMEOUT_S = 15
PRODUCE, FIND_COORDINATOR, INIT_PRODUCER_ID, ADD_PARTITIONS, END_TXN = 0, 10, 22, 24, 26
RETRIABLE = frozenset(
    {
        ErrorCode.concurrent_transactions,
        ErrorCode.coordinator_load_in_progress,
        ErrorCode.coordinator_not_available,
        ErrorCode.not_coordinator,
    }
)
# Whether broker/handlers/produce.py runs KIP-890's check (see test_txn_zombie): until it does, a
# zombie is fenced on a partition only where a marker carried the bumped epoch (an aborted "mid").
PRODUCE_VERIFIES_TRANSACTIONS = True
SETTINGS = {**SMALL, "transaction.abort.timed.out.transaction.cleanup.interval.ms": "200"}
LONG_TIMEOUT_MS = 60_000


# --- a transactional producer on raw requests --------------------------------------------------------


def _call(port: int, api_key: int, version: int, cls: str, **fields: Any) -> Any:
    request = getattr(request_schema(api_key, version), cls)(**fields)
    return wire.call(port, request, timeout=TIMEOUT_S)


def _until_done(attempt: Any) -> Any:
    """Retry `attempt()` (an answer with `error_code`) while the coordinator says so."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        body = attempt()
        if ErrorCode(body.error_code) not in RETRIABLE or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


class RawTransactions:
    """InitProducerId, AddPartitionsToTxn, Produce and EndTxn, one request each, no retries
    (except while the coordinator loads); one record per partition per produce."""

    def __init__(self, port: int, transactional_id: str, timeout_ms: int) -> None:
        self.port = port
        self.transactional_id = transactional_id
        self.timeout_ms = timeout_ms
        self.producer_id, self.epoch = -1, -1
        self.sequences: Counter[tuple[str, int]] = Counter()

    def init(self) -> None:
        find = lambda: _call(  # noqa: E731
            self.port, FIND_COORDINATOR, 1, "FindCoordinatorRequest", key="x", key_type=1
        )
        assert ErrorCode(_until_done(find).error_code) is ErrorCode.none
        body = _until_done(
            lambda: _call(
                self.port,
                INIT_PRODUCER_ID,
                3,
                "InitProducerIdRequest",
                transactional_id=self.transactional_id,
                transaction_timeout=i32Timedelta.parse(
                    datetime.timedelta(milliseconds=self.timeout_ms)
                ),
                producer_id=i64(-1),
                producer_epoch=i16(-1),
            )
        )
        assert ErrorCode(body.error_code) is ErrorCode.none
        self.producer_id, self.epoch = int(body.producer_id), int(body.producer_epoch)

    def add(self, topic: str, partitions: range) -> None:
        schema = request_schema(ADD_PARTITIONS, 3)
        body = _call(
            self.port,
            ADD_PARTITIONS,
            3,
            "AddPartitionsToTxnRequest",
            v3_and_below_transactional_id=self.transactional_id,
            v3_and_below_producer_id=i64(self.producer_id),
            v3_and_below_producer_epoch=i16(self.epoch),
            v3_and_below_topics=(
                schema.AddPartitionsToTxnTopic(name=topic, partitions=tuple(map(i32, partitions))),
            ),
        )
        codes = {
            ErrorCode(p.partition_error_code)
            for t in body.results_by_topic_v3_and_below
            for p in t.results_by_partition
        }
        assert codes == {ErrorCode.none}

    def produce(self, topic: str, values: dict[int, bytes]) -> None:
        assert self.try_produce(topic, values) == {ErrorCode.none}

    def try_produce(self, topic: str, values: dict[int, bytes]) -> set[ErrorCode]:
        """The error codes of one Produce request with a record for each partition given."""
        schema = request_schema(PRODUCE, 9)
        data = []
        for partition, value in values.items():
            batch = build_batch(
                [(None, value, (), int(time.time() * 1000))],
                producer_id=self.producer_id,
                producer_epoch=self.epoch,
                base_sequence=self.sequences[(topic, partition)],
                transactional=True,
            )
            self.sequences[(topic, partition)] += 1
            data.append(schema.PartitionProduceData(index=i32(partition), records=batch))
        body = _call(
            self.port,
            PRODUCE,
            9,
            "ProduceRequest",
            transactional_id=self.transactional_id,
            acks=i16(-1),
            timeout=i32Timedelta.parse(datetime.timedelta(seconds=TIMEOUT_S)),
            topic_data=(schema.TopicProduceData(name=topic, partition_data=tuple(data)),),
        )
        return {ErrorCode(p.error_code) for p in body.responses[0].partition_responses}

    def end_request(self, commit: bool) -> bytes:
        request = request_schema(END_TXN, 3).EndTxnRequest(
            transactional_id=self.transactional_id,
            producer_id=i64(self.producer_id),
            producer_epoch=i16(self.epoch),
            committed=commit,
        )
        return encode_request(1, "crash-test", request)

    def end(self, commit: bool) -> ErrorCode:
        body = _call(
            self.port,
            END_TXN,
            3,
            "EndTxnRequest",
            transactional_id=self.transactional_id,
            producer_id=i64(self.producer_id),
            producer_epoch=i16(self.epoch),
            committed=commit,
        )
        return ErrorCode(body.error_code)


# --- what the files say at the kill -------------------------------------------------------------------


def _batches(directory: Path) -> Iterator[tuple[bytes, int, Any]]:
    for path in sorted(directory.glob("*.log")):
        data = path.read_bytes()
        for pos, header in iter_batches(data, allow_partial_tail=True):
            yield data, pos, header


@dataclass(frozen=True)
class AtKill:
    """How far the broker got: the id's last `__transaction_state` state, and the partitions that
    hold a marker (commit or abort) after the "mid" record."""

    state: str
    marked: frozenset[int]
    commit_markers: frozenset[int]


def read_files(data_dir: Path, transactional_id: str, topic: str, partitions: int) -> AtKill:
    states = [
        record.value.state.name
        for data, pos, header in _batches(data_dir / "__transaction_state-0")
        if not header.is_control
        for raw in decode_records(data, pos, header)
        if (record := decode_record(raw.key, raw.value)).transactional_id == transactional_id
        and record.value is not None
    ]
    marked, commits = set(), set()
    for partition in range(partitions):
        kinds = [
            control_record_type(data, pos, header) if header.is_control else None
            for data, pos, header in _batches(data_dir / f"{topic}-{partition}")
        ]
        after_mid = kinds[len(kinds) - kinds[::-1].index(None) :]  # after the last data batch
        if after_mid:
            marked.add(partition)
        if 1 in after_mid:
            commits.add(partition)
    return AtKill(states[-1], frozenset(marked), frozenset(commits))


# --- one trial ----------------------------------------------------------------------------------------


@dataclass
class Trial:
    broker: BrokerProcess
    partitions: int
    commit: bool
    kill: str  # "open": with "mid" open; "grown": when the state log grows; "delay:<ms>"
    resolve: str = "successor"  # how an Ongoing "mid" ends: "successor" or "timeout"
    fsync_each: bool = False  # flush.messages=1: each marker waits for an fsync (a wider window)

    def __post_init__(self) -> None:
        config = {"flush.messages": "1"} if self.fsync_each else {}
        self.topic = create_topic(self.broker.bootstrap, self.partitions, "crash", config)
        self.transactional_id = f"crash-{uuid.uuid4().hex[:8]}"
        self.all = range(self.partitions)
        self.pre = {p: f"pre-{p}".encode() for p in self.all}
        self.mid = {p: f"mid-{p}".encode() for p in self.all}
        self.post = {p: f"post-{p}".encode() for p in self.all}
        self.plain = {p: f"plain-{p}".encode() for p in self.all}

    def run(self) -> AtKill:
        """Write pre, write mid, kill as told, read the files, restart, check. Returns the files'
        verdict (for the tally)."""
        timeout_ms = 3000 if self.resolve == "timeout" else LONG_TIMEOUT_MS
        self.client = client = RawTransactions(self.broker.port, self.transactional_id, timeout_ms)
        client.init()
        client.add(self.topic, self.all)
        client.produce(self.topic, self.pre)
        assert client.end(commit=True) is ErrorCode.none
        client.add(self.topic, self.all)
        client.produce(self.topic, self.mid)
        self._kill(client)
        at_kill = read_files(
            self.broker.data_dir, self.transactional_id, self.topic, self.partitions
        )
        self.broker.start()
        self.check(at_kill)
        self._check_after_another_kill()
        return at_kill

    def _kill(self, client: RawTransactions) -> None:
        if self.kill == "open":
            self.broker.kill()
            return
        state_log = sorted((self.broker.data_dir / "__transaction_state-0").glob("*.log"))[-1]
        size = state_log.stat().st_size
        with socket.create_connection(("127.0.0.1", self.broker.port)) as conn:
            conn.sendall(client.end_request(self.commit))  # the answer is never read
            if self.kill == "grown":
                _wait_for_growth(state_log, size)
            else:
                time.sleep(int(self.kill.split(":")[1]) / 1000)
            self.broker.kill()

    # --- the checks after the restart -----------------------------------------------------------

    def check(self, at_kill: AtKill) -> None:
        assert at_kill.state in {"ONGOING", "PREPARE_COMMIT", "COMPLETE_COMMIT"} | {
            "PREPARE_ABORT",
            "COMPLETE_ABORT",
        }, at_kill
        assert self._read("read_uncommitted") == {p: [self.pre[p], self.mid[p]] for p in self.all}
        if at_kill.state == "ONGOING":
            assert not at_kill.marked, at_kill  # no marker before PrepareX is written
            self._check_held()
            mid_committed = False
            self._end_ongoing()
        else:
            mid_committed = at_kill.state.endswith("COMMIT")
            assert mid_committed == self.commit
            assert at_kill.commit_markers <= at_kill.marked
            assert at_kill.commit_markers == (at_kill.marked if self.commit else frozenset())
        self.mid_state = at_kill.state
        self._wait_stable(mid_committed)  # markers completed after restart (or the abort done)
        expected = {p: [self.pre[p], *([self.mid[p]] if mid_committed else [])] for p in self.all}
        assert self._read("read_committed") == expected
        self._write_after(expected)

    def _check_held(self) -> None:
        """With "mid" open, read_committed ends just below it on every partition (when it times
        out, the coordinator's timer may have aborted it already: then the LSO is past its marker)."""
        for p in self.all:
            end = last_stable_offset(self.broker.port, self.topic, p, committed=False)
            held = last_stable_offset(self.broker.port, self.topic, p)
            assert held == end - 1 or (self.resolve == "timeout" and held == end == 4)
        assert self._read("read_committed") == {p: [self.pre[p]] for p in self.all}

    def _end_ongoing(self) -> None:
        if self.resolve == "timeout":
            return  # the coordinator's timer aborts it (`_wait_stable` waits)
        successor = Producer(
            {"bootstrap.servers": self.broker.bootstrap, "transactional.id": self.transactional_id}
        )
        successor.init_transactions(TIMEOUT_S)  # aborts "mid" with a bumped epoch
        del successor

    def _wait_stable(self, mid_committed: bool) -> None:
        """Every partition's LSO reaches its high watermark (nothing left open); meanwhile an
        aborted "mid" is never readable."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            ends = [
                (
                    last_stable_offset(self.broker.port, self.topic, p),
                    last_stable_offset(self.broker.port, self.topic, p, committed=False),
                )
                for p in self.all
            ]
            if all(lso == hw for lso, hw in ends):
                return
            if not mid_committed:
                seen = self._read("read_committed")
                assert seen == {p: [self.pre[p]] for p in self.all}, "aborted records visible"
            assert time.monotonic() < deadline, f"LSO stuck: {ends}"
            time.sleep(0.1)

    def _write_after(self, expected: dict[int, list[bytes]]) -> None:
        """A later transaction (the same id, a new producer) and plain records are readable."""
        producer = Producer(
            {
                "bootstrap.servers": self.broker.bootstrap,
                "transactional.id": self.transactional_id,
                "linger.ms": 0,
            }
        )
        producer.init_transactions(TIMEOUT_S)
        if PRODUCE_VERIFIES_TRANSACTIONS or self.mid_state == "ONGOING":
            self._check_zombie_fenced()
        producer.begin_transaction()
        for p in self.all:
            producer.produce(self.topic, value=self.post[p], partition=p)
        producer.commit_transaction(TIMEOUT_S)
        plain = Producer({"bootstrap.servers": self.broker.bootstrap, "enable.idempotence": True})
        for p in self.all:
            plain.produce(self.topic, value=self.plain[p], partition=p)
        assert plain.flush(TIMEOUT_S) == 0
        self.after = {p: [*expected[p], self.post[p], self.plain[p]] for p in self.all}
        assert self._read("read_committed") == self.after
        self._check_stable()

    def _check_stable(self) -> None:
        for p in self.all:
            end = last_stable_offset(self.broker.port, self.topic, p, committed=False)
            assert last_stable_offset(self.broker.port, self.topic, p) == end

    def _check_zombie_fenced(self) -> None:
        """The pre-crash producer (an older epoch) can no longer write."""
        zombie = {p: f"zombie-{p}".encode() for p in self.all}
        assert ErrorCode.none not in self.client.try_produce(self.topic, zombie)
        found = self._read("read_uncommitted")
        assert not {v for values in found.values() for v in values} & set(zombie.values())

    def _check_after_another_kill(self) -> None:
        """SIGKILL once more and restart: the log recovered from its files (producer state, the
        aborted-transaction index) gives read_committed the same records, and nothing is open."""
        self.broker.kill()
        self.broker.start()
        assert self._read("read_committed") == self.after
        self._check_stable()

    def _read(self, isolation: str) -> dict[int, list[bytes]]:
        return read_confluent(self.broker.bootstrap, self.topic, self.partitions, isolation)


def _wait_for_growth(path: Path, size: int) -> None:
    """Spin until the file is larger than `size` (the broker appended to it)."""
    deadline = time.monotonic() + TIMEOUT_S
    while path.stat().st_size <= size:
        assert time.monotonic() < deadline, f"{path} did not grow"


# --- the tests ------------------------------------------------------------------------------------------


def _broker(tmp_path: Path, durability: str = "kafka") -> BrokerProcess:
    settings = {**SETTINGS, "riverlog.durability": durability}
    return BrokerProcess(0, tmp_path / "data", zookeeper=None, settings=settings)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    process = _broker(tmp_path).start()
    yield process
    process.kill()


@pytest.mark.parametrize("resolve", ["successor", "timeout"])
def test_killed_with_a_transaction_open(broker: BrokerProcess, resolve: str) -> None:
    at_kill = Trial(broker, 3, commit=True, kill="open", resolve=resolve).run()
    assert at_kill.state == "ONGOING"


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "abort"])
def test_killed_between_prepare_and_markers(broker: BrokerProcess, commit: bool) -> None:
    """Killed once PrepareX is in `__transaction_state` and before every marker is written (each
    marker waits for an fsync, flush.messages=1): the restarted coordinator writes the missing
    markers. Up to 3 trials to land in that window; every trial is checked."""
    verdicts = []
    for _ in range(3):
        at_kill = Trial(broker, 16, commit=commit, kill="grown", fsync_each=True).run()
        verdicts.append(at_kill)
        if at_kill.state.startswith("PREPARE") and len(at_kill.marked) < 16:
            return
    pytest.fail(f"never killed between PrepareX and the last marker: {verdicts}")


def _random_trials(broker: BrokerProcess, trials: int, seed: int) -> Counter[str]:
    rng = random.Random(seed)
    tally: Counter[str] = Counter()
    for number in range(trials):
        kill = rng.choice(["open", "grown", f"delay:{rng.randrange(0, 40)}"])
        commit = rng.random() < 0.6
        partitions = rng.randint(1, 12)
        resolve = rng.choice(["successor", "timeout"])
        fsync_each = rng.random() < 0.5
        trial = Trial(broker, partitions, commit, kill, resolve, fsync_each)
        try:
            at_kill = trial.run()
        except AssertionError as exc:
            raise AssertionError(f"seed {seed} trial {number} {trial}: {exc}") from exc
        markers = "all" if len(at_kill.marked) == partitions else len(at_kill.marked)
        tally[f"{at_kill.state}/markers={markers}"] += 1
    return tally


def test_random_kill_points(broker: BrokerProcess) -> None:
    """The short version: a few trials with a fixed seed."""
    tally = _random_trials(broker, 2, seed=5)
    assert sum(tally.values()) == 2


@pytest.mark.chaos
@pytest.mark.skipif(os.environ.get("RIVERLOG_CHAOS") != "1", reason="long run: make chaos")
def test_random_kill_points_chaos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trials = int(os.environ.get("RIVERLOG_CHAOS_TRIALS", "40"))
    seed = int(os.environ.get("RIVERLOG_CHAOS_SEED", str(random.randrange(1 << 30))))
    process = _broker(tmp_path).start()
    try:
        tally = _random_trials(process, trials, seed)
    finally:
        process.kill()
    with capsys.disabled():
        print(f"\ntxn crash seed={seed} trials={trials}: {dict(tally)}")
    assert sum(tally.values()) == trials


def test_strict_durability_keeps_acknowledged_records_readable_after_a_kill(
    tmp_path: Path,
) -> None:
    process = _broker(tmp_path, "strict").start()
    try:
        topic = create_topic(process.bootstrap, 1)
        producer = Producer({"bootstrap.servers": process.bootstrap, "acks": "all"})
        producer.produce(topic, value=b"acknowledged", partition=0)
        assert producer.flush(TIMEOUT_S) == 0  # strict: fsynced before the answer
        process.kill()
        process.start()
        assert read_confluent(process.bootstrap, topic, 1, "read_uncommitted") == {
            0: [b"acknowledged"]
        }
    finally:
        process.kill()
