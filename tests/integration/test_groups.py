"""Consumer groups with real clients: confluent-kafka (librdkafka), kafka-python and aiokafka."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

SETTINGS = {
    "offsets.topic.num.partitions": "3",
    "group.min.session.timeout.ms": "1000",
    # KIP-848 members take their heartbeat interval and session timeout from the broker.
    "group.consumer.heartbeat.interval.ms": "300",
    "group.consumer.session.timeout.ms": "4000",
}
COMMON = {
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
    "topic.metadata.refresh.interval.ms": 1000,
}
FAST = {**COMMON, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
KIP848 = {**COMMON, "group.protocol": "consumer"}  # timeouts and assignor are the broker's


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with RunningBroker(tmp_path_factory.mktemp("groups"), **SETTINGS) as running:
        yield running


def group_name() -> str:
    return f"g-{uuid.uuid4().hex[:8]}"


def produce(bootstrap: str, topic: str, values: list[str], partitions: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i, value in enumerate(values):
        producer.produce(topic, value.encode(), partition=i % partitions)
    assert producer.flush(10) == 0


class Member:
    """A confluent-kafka group consumer that records what it consumed and what it was given."""

    def __init__(
        self, bootstrap: str, group: str, topic: str, protocol: str = "classic", **extra: Any
    ) -> None:
        settings = KIP848 if protocol == "consumer" else FAST
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, **settings, **extra}
        )
        self.values: list[str] = []
        self.assigned: list[set[int]] = []
        self.revoked: list[set[int]] = []
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self.assigned.append({p.partition for p in partitions})

    def _on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self.revoked.append({p.partition for p in partitions})

    def poll(self) -> None:
        """One poll; a consumed record is committed synchronously after it is processed."""
        msg = self.consumer.poll(0.05)
        if msg is None or msg.error():
            return
        self.values.append(msg.value().decode())
        try:
            self.consumer.commit(message=msg, asynchronous=False)
        except KafkaException:
            pass  # e.g. REBALANCE_IN_PROGRESS: it may be consumed again (at least once)

    @property
    def partitions(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}

    def close(self) -> None:
        self.consumer.close()


def poll_until(members: list[Member], done: Callable[[], bool], timeout: float = 30) -> float:
    """Poll every member in turn until `done()`; returns the seconds it took."""
    start = time.monotonic()
    while not done():
        assert time.monotonic() - start < timeout, "timed out waiting for the group"
        for member in members:
            member.poll()
    return time.monotonic() - start


def consumed(members: list[Member]) -> list[str]:
    return [v for m in members for v in m.values]


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_consumers_share_partitions_and_take_over_when_one_leaves(
    broker: RunningBroker, make_topic: Callable[..., str], protocol: str
) -> None:
    topic = make_topic(partitions=6)
    group = group_name()
    first = [f"a{i}" for i in range(60)]
    produce(broker.bootstrap_servers, topic, first, 6)
    members = [Member(broker.bootstrap_servers, group, topic, protocol) for _ in range(3)]

    def balanced() -> bool:
        owned = [m.partitions for m in members]
        return all(len(p) == 2 for p in owned) and set().union(*owned) == set(range(6))

    poll_until(members, lambda: set(consumed(members)) >= set(first) and balanced())
    # One member leaves (LeaveGroup); its partitions move to the others, resuming where it committed.
    leaving, staying = members[0], members[1:]
    leaving.close()
    second = [f"b{i}" for i in range(60)]
    produce(broker.bootstrap_servers, topic, second, 6)
    poll_until(
        staying,
        lambda: (
            set(consumed(members)) >= set(first + second)
            and set().union(*(m.partitions for m in staying)) == set(range(6))
        ),
    )
    for member in staying:
        member.close()
    # Every record was processed at least once, and everything was committed.
    admin_consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": group})
    committed = admin_consumer.committed([TopicPartition(topic, p) for p in range(6)], timeout=10)
    admin_consumer.close()
    assert [tp.offset for tp in committed] == [20] * 6


def member_script(bootstrap: str, group: str, topic: str, protocol: str) -> str:
    """A slow member: prints each record it processed, then commits it synchronously."""
    settings = (
        {"group.protocol": "consumer"}
        if protocol == "consumer"
        else {"session.timeout.ms": 4000, "heartbeat.interval.ms": 500}
    )
    settings |= {"auto.offset.reset": "earliest", "enable.auto.commit": False}
    return textwrap.dedent(
        f"""
        import time
        from confluent_kafka import Consumer, KafkaException
        c = Consumer({{"bootstrap.servers": {bootstrap!r}, "group.id": {group!r}, **{settings!r}}})
        c.subscribe([{topic!r}])
        told = False
        while True:
            msg = c.poll(0.1)
            if c.assignment() and not told:
                print("ASSIGNED", flush=True)
                told = True
            if msg is None or msg.error():
                continue
            print("GOT", msg.value().decode(), flush=True)
            time.sleep(0.02)
            try:
                c.commit(message=msg, asynchronous=False)
                print("COMMITTED", msg.value().decode(), flush=True)
            except KafkaException:
                pass
        """
    )


class ChildOutput:
    """Lines a child process prints, collected by a thread."""

    def __init__(self, child: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert child.stdout is not None
        self._stream = child.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self.lines.append(line.strip())

    def values(self, prefix: str) -> set[str]:
        return {line.split(" ", 1)[1] for line in list(self.lines) if line.startswith(prefix + " ")}


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_member_that_stops_heartbeating_loses_its_partitions_after_session_timeout(
    broker: RunningBroker, make_topic: Callable[..., str], protocol: str
) -> None:
    topic = make_topic(partitions=4)
    group = group_name()
    values = [f"r{i}" for i in range(400)]
    produce(broker.bootstrap_servers, topic, values, 4)
    child = subprocess.Popen(
        [sys.executable, "-c", member_script(broker.bootstrap_servers, group, topic, protocol)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    output = ChildOutput(child)
    try:
        # The child processes (slowly) and commits before the survivor joins it.
        deadline = time.monotonic() + 30
        while len(output.values("COMMITTED")) < 10:
            assert time.monotonic() < deadline and child.poll() is None, output.lines[-5:]
            time.sleep(0.05)
        extra = {"session.timeout.ms": 4000} if protocol == "classic" else {}
        survivor = Member(broker.bootstrap_servers, group, topic, protocol, **extra)
        poll_until([survivor], lambda: len(survivor.partitions) == 2)
        committed_before_kill = len(output.values("COMMITTED"))
        child.kill()  # SIGKILL: no LeaveGroup, the connection just drops
        child.wait(10)
        took = poll_until([survivor], lambda: survivor.partitions == set(range(4)))
        poll_until([survivor], lambda: set(survivor.values) | output.values("GOT") >= set(values))
        survivor.close()
    finally:
        if child.poll() is None:
            child.kill()
    # Not before the session timeout expired (less the heartbeats it had already missed), not long after.
    assert 2.0 <= took <= 12.0
    # Every record was processed at least once; only what the killed member had processed but not
    # committed was processed again.
    again = set(survivor.values) & output.values("GOT")
    assert again <= output.values("GOT") - output.values("COMMITTED")
    assert len(survivor.values) == len(set(survivor.values))
    assert committed_before_kill < len(values)  # the kill did land mid-stream


def test_cooperative_sticky_rebalance_keeps_unaffected_partitions(
    broker: RunningBroker, make_topic: Callable[..., str]
) -> None:
    topic = make_topic(partitions=4)
    group = group_name()
    cooperative = {"partition.assignment.strategy": "cooperative-sticky"}
    first = Member(broker.bootstrap_servers, group, topic, **cooperative)
    poll_until([first], lambda: first.partitions == set(range(4)))
    second = Member(broker.bootstrap_servers, group, topic, **cooperative)
    poll_until([first, second], lambda: len(first.partitions) == 2 and len(second.partitions) == 2)
    kept = first.partitions
    # Incremental: the first member gave up exactly the two partitions that moved, nothing else.
    assert set().union(*first.revoked) == set(range(4)) - kept
    assert all(kept.isdisjoint(r) for r in first.revoked)
    assert second.partitions == set(range(4)) - kept
    second.close()
    first.close()


def test_static_member_rejoins_without_a_rebalance(
    broker: RunningBroker, make_topic: Callable[..., str]
) -> None:
    topic = make_topic(partitions=4)
    group = group_name()
    leader = Member(broker.bootstrap_servers, group, topic, **{"group.instance.id": "s1"})
    poll_until([leader], lambda: leader.partitions == set(range(4)))
    follower = Member(broker.bootstrap_servers, group, topic, **{"group.instance.id": "s2"})
    poll_until([leader, follower], lambda: len(leader.partitions) == len(follower.partitions) == 2)
    before = follower.partitions
    leader_events = (len(leader.assigned), len(leader.revoked))
    follower.close()  # a static member leaves no LeaveGroup behind
    again = Member(broker.bootstrap_servers, group, topic, **{"group.instance.id": "s2"})
    poll_until([leader, again], lambda: bool(again.partitions), timeout=20)
    for _ in range(20):  # let any rebalance that would happen show itself
        leader.poll()
        again.poll()
    assert again.partitions == before
    assert (len(leader.assigned), len(leader.revoked)) == leader_events
    assert len(leader.partitions) == 2
    again.close()
    leader.close()


def test_manual_assignment_commit_and_fetch(
    broker: RunningBroker, make_topic: Callable[..., str]
) -> None:
    topic = make_topic(partitions=2)
    group = group_name()
    produce(broker.bootstrap_servers, topic, [str(i) for i in range(10)], 2)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": group})
    consumer.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    consumer.commit(
        offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 5)], asynchronous=False
    )
    committed = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
    assert [(tp.partition, tp.offset) for tp in committed] == [(0, 3), (1, 5)]
    consumer.close()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    listed = admin.list_consumer_groups().result(timeout=10)
    assert group in {g.group_id for g in listed.valid}


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_committed_offsets_survive_a_broker_restart(tmp_path: Path, protocol: str) -> None:
    with RunningBroker(tmp_path / "data", **SETTINGS) as running:
        admin = AdminClient({"bootstrap.servers": running.bootstrap_servers})
        from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

        admin.create_topics([NewTopic("t", 2, 1)])["t"].result(timeout=10)
        produce(running.bootstrap_servers, "t", [str(i) for i in range(20)], 2)
        member = Member(running.bootstrap_servers, "durable", "t", protocol)
        poll_until([member], lambda: len(member.values) == 20)
        member.close()
        running.restart()
        check = Consumer({"bootstrap.servers": running.bootstrap_servers, "group.id": "durable"})
        committed = check.committed([TopicPartition("t", 0), TopicPartition("t", 1)], timeout=10)
        check.close()
        assert [tp.offset for tp in committed] == [10, 10]
        produce(running.bootstrap_servers, "t", ["late0", "late1"], 2)
        resumed = Member(running.bootstrap_servers, "durable", "t", protocol)
        poll_until([resumed], lambda: len(resumed.values) == 2)
        assert sorted(resumed.values) == ["late0", "late1"]  # resumed, nothing re-read
        resumed.close()


def test_kafka_python_group_consumers(
    broker: RunningBroker, make_topic: Callable[..., str]
) -> None:
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTopicPartition

    topic = make_topic(partitions=4)
    group = group_name()
    values = [f"k{i}" for i in range(40)]
    produce(broker.bootstrap_servers, topic, values, 4)
    consumers = [
        KafkaConsumer(
            bootstrap_servers=broker.bootstrap_servers,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
            metadata_max_age_ms=1000,
        )
        for _ in range(2)
    ]
    # kafka-python's group leader assigns from the metadata it holds; one that joins before its
    # first Metadata answer assigns nothing ("No partition metadata for topic") and may not
    # rejoin in time (seen under full-suite load). Learn the topic first, then subscribe.
    for consumer in consumers:
        deadline = time.monotonic() + 10
        while not consumer.partitions_for_topic(topic):
            assert time.monotonic() < deadline, "kafka-python never learned the topic"
            time.sleep(0.05)
        consumer.subscribe([topic])
    got: list[str] = []
    deadline = time.monotonic() + 30
    while len(got) < len(values) or not all(len(c.assignment()) == 2 for c in consumers):
        assert time.monotonic() < deadline
        for consumer in consumers:
            for records in consumer.poll(timeout_ms=100).values():
                got += [r.value.decode() for r in records]
                consumer.commit()
    assert set(got) == set(values)
    owned = [{tp.partition for tp in c.assignment()} for c in consumers]
    assert owned[0].isdisjoint(owned[1]) and owned[0] | owned[1] == set(range(4))
    offsets = [consumers[0].committed(KTopicPartition(topic, p)) for p in range(4)]
    for consumer in consumers:
        consumer.close()
    assert offsets == [10, 10, 10, 10]


def test_aiokafka_group_consumers(broker: RunningBroker, make_topic: Callable[..., str]) -> None:
    from aiokafka import AIOKafkaConsumer

    topic = make_topic(partitions=2)
    group = group_name()
    values = [f"a{i}" for i in range(20)]
    produce(broker.bootstrap_servers, topic, values, 2)

    async def run() -> tuple[list[str], list[set[int]]]:
        consumers = [
            AIOKafkaConsumer(
                topic,
                bootstrap_servers=broker.bootstrap_servers,
                group_id=group,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                session_timeout_ms=6000,
                heartbeat_interval_ms=500,
            )
            for _ in range(2)
        ]
        for consumer in consumers:
            await consumer.start()
        got: list[str] = []
        deadline = time.monotonic() + 30
        while len(got) < len(values) or not all(len(c.assignment()) == 1 for c in consumers):
            assert time.monotonic() < deadline
            for consumer in consumers:
                batches = await consumer.getmany(timeout_ms=100)
                for records in batches.values():
                    got += [r.value.decode() for r in records]
                    await consumer.commit()
        owned = [{tp.partition for tp in c.assignment()} for c in consumers]
        for consumer in consumers:
            await consumer.stop()
        return got, owned

    got, owned = asyncio.run(run())
    assert set(got) == set(values)
    assert owned[0] | owned[1] == {0, 1} and owned[0].isdisjoint(owned[1])


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_admin_describe_and_delete_groups(
    broker: RunningBroker, make_topic: Callable[..., str], protocol: str
) -> None:
    topic = make_topic(partitions=2)
    group = group_name()
    member = Member(broker.bootstrap_servers, group, topic, protocol, **{"client.id": "describer"})
    poll_until([member], lambda: member.partitions == {0, 1})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    assert str(described.state).endswith("STABLE")
    assert str(described.type).endswith("CONSUMER" if protocol == "consumer" else "CLASSIC")
    assert [m.client_id for m in described.members] == ["describer"]
    assigned = described.members[0].assignment.topic_partitions
    assert {(tp.topic, tp.partition) for tp in assigned} == {(topic, 0), (topic, 1)}
    refused = admin.delete_consumer_groups([group])[group]
    with pytest.raises(KafkaException, match="NON_EMPTY_GROUP"):
        refused.result(timeout=10)
    member.close()
    admin.delete_consumer_groups([group])[group].result(timeout=10)
    listed = admin.list_consumer_groups().result(timeout=10)
    assert group not in {g.group_id for g in listed.valid}


# --- the `riverlog groups` command ----------------------------------------------------------------


def cli(broker: RunningBroker, *args: str) -> Any:
    from typer.testing import CliRunner

    from riverlog.cli.main import app

    return CliRunner().invoke(app, ["groups", *args, "-b", broker.bootstrap_servers])


def cli_ok(broker: RunningBroker, *args: str) -> str:
    result = cli(broker, *args)
    assert result.exit_code == 0, (result.stdout, result.exception)
    return str(result.stdout)


def cli_error(broker: RunningBroker, *args: str) -> str:
    from riverlog.cli.errors import CliError

    result = cli(broker, *args)
    assert isinstance(result.exception, CliError), (result.stdout, result.exception)
    return str(result.exception)


def offsets_rows(output: str, topic: str) -> dict[int, list[str]]:
    """Rows of the describe offsets table for `topic`: partition -> [committed, log end, lag, member]."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) == 6 and cells[0] == topic:
            rows[int(cells[1])] = cells[2:]
    return rows


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_cli_describe_shows_lag_as_log_end_minus_committed(
    broker: RunningBroker, make_topic: Callable[..., str], protocol: str
) -> None:
    topic = make_topic(partitions=3)
    group = group_name()
    produce(broker.bootstrap_servers, topic, [str(i) for i in range(30)], 3)  # 10 per partition
    member = Member(broker.bootstrap_servers, group, topic, protocol, **{"client.id": "lagger"})
    poll_until([member], lambda: len(member.values) == 30)
    member.consumer.commit(
        offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 10)], asynchronous=False
    )
    produce(broker.bootstrap_servers, topic, [str(i) for i in range(3)], 3)  # 11 per partition
    output = cli_ok(broker, "describe", group)
    assert "State: Stable" in output and "lagger" in output
    rows = offsets_rows(output, topic)
    assert rows[0][:3] == ["4", "11", "7"]
    assert rows[1][:3] == ["10", "11", "1"]
    assert rows[2][:3] == ["10", "11", "1"]  # committed by the synchronous commit of each record
    owners = {row[3] for row in rows.values()}  # the one member owns every partition
    assert len(owners) == 1 and owners != {"-"} and next(iter(owners)) in output.split("Offsets")[0]
    [row] = [line for line in cli_ok(broker, "list").splitlines() if group in line]
    assert "Stable" in row and protocol in row
    refused = cli_error(broker, "reset-offsets", group, "--topic", topic, "--to-earliest")
    assert "active" in refused
    member.close()
    output = cli_ok(broker, "describe", group)
    assert "State: Empty" in output and offsets_rows(output, topic)[0][3] == "-"


def test_cli_reset_offsets_every_way_and_delete(
    broker: RunningBroker, make_topic: Callable[..., str]
) -> None:
    topic = make_topic(partitions=2)
    group = group_name()
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i in range(20):
        producer.produce(topic, str(i).encode(), partition=i % 2, timestamp=1_700_000_000_000 + i)
    producer.flush(10)
    admin = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": group})
    admin.commit(
        offsets=[TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 5)], asynchronous=False
    )
    admin.close()

    def committed() -> list[int]:
        rows = offsets_rows(cli_ok(broker, "describe", group), topic)
        return [int(rows[p][0]) for p in (0, 1)]

    plan = cli_ok(broker, "reset-offsets", group, "--topic", topic, "--to-latest", "--dry-run")
    assert "Dry run" in plan and committed() == [5, 5]
    cli_ok(broker, "reset-offsets", group, "--topic", topic, "--to-latest")
    assert committed() == [10, 10]
    cli_ok(broker, "reset-offsets", group, "--topic", topic, "--shift-by", "-3")
    assert committed() == [7, 7]
    cli_ok(broker, "reset-offsets", group, "--topic", f"{topic}:1", "--to-earliest")
    assert committed() == [7, 0]
    cli_ok(broker, "reset-offsets", group, "--topic", topic, "--to-offset", "99")
    assert committed() == [10, 10]  # kept inside the log
    # Records i are at partition i % 2, offset i // 2, with timestamp base + i.
    cli_ok(
        broker,
        "reset-offsets",
        group,
        "--topic",
        topic,
        "--to-datetime",
        "2023-11-14T22:13:20.012Z",
    )
    assert committed() == [6, 6]
    assert "exactly one" in cli_error(broker, "reset-offsets", group, "--topic", topic)
    assert "Deleted" in cli_ok(broker, "delete", group)
    assert "does not exist" in cli_error(broker, "describe", group)
    assert "GROUP_ID_NOT_FOUND" in cli_error(broker, "delete", group)
