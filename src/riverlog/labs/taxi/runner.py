"""The taxi lab against a real cluster: write the generated events, run an exercise, read its output.

Run protocol (`riverlog labs taxi run`), in steps:
1. create fresh topics named with a run id (`taxi-rides-<id>`, `taxi-fares-<id>`, `taxi-<exercise>-<id>`),
   one partition each — flink-training's generators are single, ordered sources;
2. write the bounded input (rides 1..N with their STARTs and ENDs in the generator's order, fares
   1..N in order, then the two end-of-input marks), each record timestamped with its event time;
3. start the exercise (a `KafkaStreams` app, or the statements on an in-process SQL server);
4. wait until every consumer group of the run has committed, on every topic it reads (inputs,
   repartition and intermediate topics), the topic's end offset. At-least-once commits flush the
   producer before committing offsets, so once a group is at the end of its inputs everything it
   will ever write for them is written;
5. read the output topic to its end, render each record as flink-training prints it, stop the app
   and delete the run's topics.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.labs.taxi.data import BEGINNING_MS, TaxiFare, TaxiRide
from riverlog.labs.taxi.exercises import Exercise, Topics
from riverlog.labs.taxi.generators import bounded_rides, taxi_fares, taxi_rides
from riverlog.labs.taxi.local import RawRecord, input_records
from riverlog.labs.taxi.records import encode_fare, encode_key, encode_ride
from riverlog.streams import KafkaStreams, Topology
from riverlog.streams.runtime.kafka_streams import State

log = logging.getLogger("riverlog.labs.taxi")

FLINK_SPEEDUP = 2000.0  # flink-training's generators: 20 s of event time per 10 ms of sleep
# Each at-least-once commit flushes the producer and reads every changelog's end offset back from
# the broker; Kafka's default is 30 s, a lab run wants its answer sooner.
COMMIT_INTERVAL_MS = 1000
# After each commit the stream thread asks the broker for the changelogs' end offsets through its
# main consumer; on the same connection that request waits behind the consumer's long-poll fetch
# (librdkafka's default fetch.wait.max.ms is 500). A short long-poll keeps commits quick.
FETCH_WAIT_MAX_MS = 10


class LabError(Exception):
    """A lab run that cannot go on (the message says why)."""


def bounded_input(rides: int) -> tuple[list[TaxiRide], list[TaxiFare]]:
    """Rides 1..N (START and END of each, in the generator's order) and fares 1..N."""
    fares: list[TaxiFare] = []
    for fare in taxi_fares():
        if fare.ride_id > rides:
            break
        fares.append(fare)
    return list(bounded_rides(rides)), fares


# -- topics and records ----------------------------------------------------------------------


def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=-1) for n in names]
    )
    for name, future in futures.items():
        try:
            future.result(timeout=30)
        except Exception as e:  # KafkaException, or the future's TimeoutError
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise LabError(f"cannot create topic {name} on {bootstrap}: {e}") from None


def delete_topics_containing(bootstrap: str, marker: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:  # best effort: a leftover topic of a finished run harms nothing
        names = [t for t in admin.list_topics(timeout=10).topics if marker in t]
        if names:
            for future in admin.delete_topics(names, operation_timeout=30).values():
                future.result(timeout=30)
    except Exception as e:
        log.warning("could not delete the run's topics (*%s*): %s", marker, e)


def paced(records: Iterable[RawRecord], speedup: float | None) -> Iterator[RawRecord]:
    """Yield records no faster than event time divided by `speedup` (None: as fast as possible)."""
    if speedup is None:
        yield from records
        return
    started = time.monotonic()
    newest = BEGINNING_MS
    for record in records:
        newest = max(newest, record[3])
        due = started + (newest - BEGINNING_MS) / 1000.0 / speedup
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield record


def produce(bootstrap: str, records: Iterable[RawRecord]) -> int:
    """Write the records (topic, key, value, timestamp) in order; returns how many were written."""
    failures: list[str] = []

    def report(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True}
    )
    count = 0
    try:
        for topic, key, value, ts in records:
            while True:
                try:
                    producer.produce(topic, value, key, timestamp=ts, on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.1)
            count += 1
            if count % 1_000 == 0:
                producer.poll(0)
    finally:  # also when interrupted: what was handed to the producer gets written
        unsent = producer.flush(60)
    if unsent or failures:
        raise LabError(f"writing the input failed: {failures[0] if failures else 'timed out'}")
    return count


def live_records(topics: Topics, speedup: float) -> Iterator[RawRecord]:
    """The endless generators, rides and fares merged by event time (no end-of-input marks)."""
    rides = (
        (topics.rides, encode_key(r.ride_id), encode_ride(r), r.event_time) for r in taxi_rides()
    )
    fares = (
        (topics.fares, encode_key(f.ride_id), encode_fare(f), f.start_time) for f in taxi_fares()
    )
    ride, fare = next(rides), next(fares)
    while True:
        if ride[3] <= fare[3]:
            yield ride
            ride = next(rides)
        else:
            yield fare
            fare = next(fares)


# -- waiting for the end ---------------------------------------------------------------------


@dataclass(frozen=True)
class GroupInputs:
    group: str
    topics: tuple[str, ...]


def topology_inputs(application_id: str, topology: Topology) -> GroupInputs:
    """The topics a streams app reads: its sources and its repartition topics (prefixed)."""
    names: set[str] = set()
    for sub in topology.subtopologies().values():
        for t in sub.source_topics:
            names.add(f"{application_id}-{t}" if topology.is_internal(t) else t)
    return GroupInputs(application_id, tuple(sorted(names)))


class ProgressProbe:
    """Reads the groups' committed offsets and the topics' end offsets, with one consumer per group
    kept for the whole wait (creating librdkafka clients per check costs the app CPU it needs)."""

    def __init__(self, bootstrap: str, groups: Sequence[GroupInputs]) -> None:
        self.groups = list(groups)
        self.consumers = [
            Consumer(
                {"bootstrap.servers": bootstrap, "group.id": g.group, "enable.auto.commit": False}
            )
            for g in self.groups
        ]

    def caught_up(self) -> bool:
        """Has every group committed the end offset of every partition it reads? Committed offsets
        are read before end offsets, so records written meanwhile count as not yet processed."""
        positions: list[tuple[str, int, int]] = []
        for g, consumer in zip(self.groups, self.consumers, strict=True):
            meta = consumer.list_topics(timeout=10)
            if any(t not in meta.topics for t in g.topics):
                return False
            tps = [TopicPartition(t, p) for t in g.topics for p in meta.topics[t].partitions]
            committed = consumer.committed(tps, timeout=10)
            positions += [(tp.topic, tp.partition, tp.offset) for tp in committed]
        probe = self.consumers[0]
        for topic, partition, offset in positions:
            _low, high = probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > 0 and offset != high:
                return False
        return True

    def close(self) -> None:
        for consumer in self.consumers:
            consumer.close()


def wait_caught_up(
    bootstrap: str,
    groups: Sequence[GroupInputs],
    timeout_s: float,
    failure: Callable[[], str | None] = lambda: None,
    poll_s: float = 0.5,
) -> None:
    """Return once every group has processed all of its input (see `ProgressProbe.caught_up`);
    `failure()` names a reason to give up at once (the app stopped with an error)."""
    deadline = time.monotonic() + timeout_s
    probe = ProgressProbe(bootstrap, groups)
    try:
        while not probe.caught_up():
            reason = failure()
            if reason is not None:
                raise LabError(reason)
            if time.monotonic() > deadline:
                raise LabError(f"the exercise did not finish its input within {timeout_s:.0f} s")
            time.sleep(poll_s)
    finally:
        probe.close()


def read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of the topic's partitions, from the start to the current end, in offset order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "riverlog-labs-reader",
            "enable.auto.commit": False,
        }
    )
    out: list[tuple[bytes | None, bytes | None]] = []
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        for p in sorted(meta.partitions):
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high == 0:
                continue
            consumer.assign([TopicPartition(topic, p, 0)])
            position = 0
            while position < high:
                msg = consumer.poll(5.0)
                if msg is None:
                    raise LabError(f"reading {topic} stalled at offset {position} of {high}")
                if msg.error():
                    raise LabError(f"reading {topic}: {msg.error()}")
                out.append((msg.key(), msg.value()))
                position = (msg.offset() or 0) + 1
    finally:
        consumer.close()
    return out


# -- running an exercise ---------------------------------------------------------------------


@dataclass
class RunResult:
    lines: list[str]
    input_records: int
    seconds: float  # from starting the app to having processed all of its input
    cpu_seconds: float  # CPU this process (the app, its clients' threads) used meanwhile


def run_id() -> str:
    return uuid.uuid4().hex[:8]


def run_on_cluster(
    exercise: Exercise,
    bootstrap: str,
    rides: Sequence[TaxiRide],
    fares: Sequence[TaxiFare],
    *,
    use_sql: bool = False,
    timeout_s: float = 600.0,
    keep_topics: bool = False,
    commit_interval_ms: int = COMMIT_INTERVAL_MS,
) -> RunResult:
    """Steps 1-5 of the run protocol above; returns the printed lines."""
    rid = run_id()
    topics = Topics(f"taxi-rides-{rid}", f"taxi-fares-{rid}", f"taxi-{exercise.name}-{rid}")
    try:
        create_topics(bootstrap, [topics.rides, topics.fares, topics.output])
        written = produce(bootstrap, input_records(exercise, topics, rides, fares))
        with tempfile.TemporaryDirectory(prefix="riverlog-taxi-") as state_dir:
            if use_sql:
                timing, render_pairs = _run_sql(
                    exercise, bootstrap, topics, rid, state_dir, timeout_s, commit_interval_ms
                )
            else:
                timing, render_pairs = _run_streams(
                    exercise, bootstrap, topics, rid, state_dir, timeout_s, commit_interval_ms
                )
        lines = [line for line in render_pairs if line is not None]
        return RunResult(lines, written, *timing)
    finally:
        if not keep_topics:
            delete_topics_containing(bootstrap, rid)


def _run_streams(
    exercise: Exercise,
    bootstrap: str,
    topics: Topics,
    rid: str,
    state_dir: str,
    timeout_s: float,
    commit_interval_ms: int,
) -> tuple[tuple[float, float], list[str | None]]:
    app_id = f"taxi-{exercise.name}-{rid}"
    topology = exercise.topology(topics)
    app = KafkaStreams(
        topology,
        {
            "application.id": app_id,
            "bootstrap.servers": bootstrap,
            "state.dir": state_dir,
            "commit.interval.ms": commit_interval_ms,
            "main.consumer.fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
        },
    )
    started, cpu_started = time.monotonic(), time.process_time()
    app.start()
    try:

        def failure() -> str | None:
            stopped = app.state in (State.PENDING_ERROR, State.ERROR, State.NOT_RUNNING)
            return f"the streams app stopped ({app.state.name}); see its log" if stopped else None

        wait_caught_up(bootstrap, [topology_inputs(app_id, topology)], timeout_s, failure)
        timing = (time.monotonic() - started, time.process_time() - cpu_started)
    finally:
        app.close(timeout=30)
    return timing, [exercise.render(k, v) for k, v in read_all(bootstrap, topics.output)]


def _run_sql(
    exercise: Exercise,
    bootstrap: str,
    topics: Topics,
    rid: str,
    state_dir: str,
    timeout_s: float,
    commit_interval_ms: int,
) -> tuple[tuple[float, float], list[str | None]]:
    from riverlog.sql.server.server import SqlServer, StatementFailure

    server = SqlServer(
        {
            "listeners": "http://127.0.0.1:0",
            "bootstrap.servers": bootstrap,
            "ksql.service.id": f"taxi_{rid}_",
            "ksql.streams.state.dir": state_dir,
            "ksql.streams.auto.offset.reset": "earliest",
            "ksql.streams.commit.interval.ms": commit_interval_ms,
            "ksql.streams.main.consumer.fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
        }
    )
    server.start()
    try:
        started, cpu_started = time.monotonic(), time.process_time()
        try:
            server.execute("\n".join(exercise.sql(topics)), {}, {})
        except StatementFailure as e:
            raise LabError(f"the SQL statements failed: {e.entity.get('message')}") from None
        groups = [
            topology_inputs(q.application_id, q.topology) for q in server.engine.queries.values()
        ]

        def failure() -> str | None:
            for q in server.engine.queries.values():
                if q.state == "ERROR":
                    return f"query {q.id} failed: {q.error}"
            return None

        wait_caught_up(bootstrap, groups, timeout_s, failure)
        timing = (time.monotonic() - started, time.process_time() - cpu_started)
    finally:
        server.stop()
    return timing, [exercise.render_sql(k, v) for k, v in read_all(bootstrap, topics.output)]
