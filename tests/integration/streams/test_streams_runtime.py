"""KafkaStreams in the test process on a real broker: states, internal topics, restoration, errors."""

from __future__ import annotations

import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from riverlog.streams import (
    Consumed,
    Grouped,
    KafkaStreams,
    KeyValue,
    Materialized,
    Produced,
    Serdes,
    StreamsBuilder,
    TimeWindows,
)
from riverlog.streams.errors import StreamsException
from riverlog.streams.runtime.kafka_streams import State, StreamThreadExceptionResponse
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration


def wordcount_topology(source: str, sink: str, on_word: Callable[[str], None] | None = None) -> Any:
    builder = StreamsBuilder()

    def split(line: str) -> list[str]:
        words = line.lower().split()
        if on_word is not None:
            for word in words:
                on_word(word)
        return words

    (
        builder.stream(source, Consumed.with_(Serdes.String(), Serdes.String()))
        .flat_map_values(split)
        .group_by(lambda key, word: word, Grouped.with_(Serdes.String(), Serdes.String()))
        .count(Materialized.as_("counts-store"))
        .to_stream()
        .to(sink, Produced.with_(Serdes.String(), Serdes.Long()))
    )
    return builder.build()


@pytest.fixture
def streams_apps() -> Iterator[list[KafkaStreams]]:
    started: list[KafkaStreams] = []
    yield started
    for app in started:
        app.close(timedelta(seconds=30))


def _config(broker: RunningBroker, app_id: str, state_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "application.id": app_id,
        "bootstrap.servers": broker.bootstrap_servers,
        "state.dir": str(state_dir),
        "commit.interval.ms": 100,
        "statestore.cache.max.bytes": 0,
        **extra,
    }


def _produce(
    broker: RunningBroker, topic: str, lines: list[str], timestamp: int | None = None
) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i, line in enumerate(lines):
        producer.produce(topic, key=f"k{i}".encode(), value=line.encode(), timestamp=timestamp or 0)
    assert producer.flush(30) == 0


def _read_counts(
    broker: RunningBroker, topic: str, want: dict[str, int], timeout_s: float = 60
) -> dict[str, int]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"check-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    last: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and last != want:
            for message in consumer.consume(500, 0.3):
                if not message.error():
                    last[message.key().decode()] = struct.unpack(">q", message.value())[0]
    finally:
        consumer.close()
    return last


def test_states_internal_topics_and_counts(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    streams_apps: list[KafkaStreams],
    tmp_path: Path,
) -> None:
    source, sink = make_topic(partitions=3, prefix="in"), make_topic(partitions=1, prefix="out")
    app_id = f"wc-{uuid.uuid4().hex[:6]}"
    app = KafkaStreams(wordcount_topology(source, sink), _config(broker, app_id, tmp_path))
    transitions: list[tuple[State, State]] = []
    app.set_state_listener(lambda new, old: transitions.append((old, new)))
    streams_apps.append(app)
    app.start()
    assert app.wait_for_state(State.RUNNING, 60)
    lines = ["the quick brown fox", "the lazy dog", "The end"]
    _produce(broker, source, lines)
    want = dict(Counter(w for line in lines for w in line.lower().split()))
    assert _read_counts(broker, sink, want) == want

    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    topics = admin.list_topics(timeout=10).topics
    changelog = f"{app_id}-counts-store-changelog"
    repartitions = [t for t in topics if t.startswith(app_id) and t.endswith("-repartition")]
    assert changelog in topics and len(topics[changelog].partitions) == 3
    assert len(repartitions) == 1 and len(topics[repartitions[0]].partitions) == 3
    resource = ConfigResource(ConfigResource.Type.TOPIC, changelog)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["cleanup.policy"].value == "compact"

    assert app.close(timedelta(seconds=30))
    assert app.state is State.NOT_RUNNING
    assert transitions[0] == (State.CREATED, State.REBALANCING)
    assert (State.REBALANCING, State.RUNNING) in transitions
    assert transitions[-2:] == [
        (State.RUNNING, State.PENDING_SHUTDOWN),
        (State.PENDING_SHUTDOWN, State.NOT_RUNNING),
    ]
    # a clean close leaves Kafka's .checkpoint files behind
    checkpoints = list((tmp_path / app_id).glob("*/.checkpoint"))
    assert checkpoints
    assert checkpoints[0].read_text().splitlines()[0] == "0"


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once_v2"])
def test_state_restored_from_changelog_after_wiping_state_dir(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    streams_apps: list[KafkaStreams],
    tmp_path: Path,
    guarantee: str,
) -> None:
    source, sink = make_topic(partitions=2, prefix="in"), make_topic(partitions=1, prefix="out")
    app_id = f"wc-{uuid.uuid4().hex[:6]}"
    config = _config(broker, app_id, tmp_path, **{"processing.guarantee": guarantee})
    first_lines = [f"a b c{i % 3}" for i in range(30)]
    app = KafkaStreams(wordcount_topology(source, sink), config)
    app.start()
    _produce(broker, source, first_lines)
    want = dict(Counter(w for line in first_lines for w in line.split()))
    assert _read_counts(broker, sink, want) == want
    assert app.close(timedelta(seconds=30))

    # A clean restart reads its .checkpoint files: nothing before the checkpointed offsets is read.
    middle = KafkaStreams(wordcount_topology(source, sink), config)
    middle.start()
    assert middle.wait_for_state(State.RUNNING, 60)
    assert middle.metrics()["restore-total"] == 0
    _produce(broker, source, ["a"])
    want["a"] += 1
    assert _read_counts(broker, sink, want) == want
    assert middle.close(timedelta(seconds=30))
    first_lines.append("a")

    middle.clean_up()
    assert not (tmp_path / app_id).exists()

    again = KafkaStreams(wordcount_topology(source, sink), config)
    streams_apps.append(again)
    again.start()
    assert again.wait_for_state(State.RUNNING, 60)
    second_lines = ["a b", "c0"]
    _produce(broker, source, second_lines)
    want = dict(Counter(w for line in first_lines + second_lines for w in line.split()))
    assert _read_counts(broker, sink, want) == want  # counts continue from the restored stores
    assert again.metrics()["restore-total"] > 0


def test_user_code_error_ends_in_error_state(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    streams_apps: list[KafkaStreams],
    tmp_path: Path,
) -> None:
    source, sink = make_topic(partitions=1, prefix="in"), make_topic(partitions=1, prefix="out")

    def explode(word: str) -> None:
        if word == "boom":
            raise ValueError("user code failed")

    app = KafkaStreams(
        wordcount_topology(source, sink, explode),
        _config(broker, f"err-{uuid.uuid4().hex[:6]}", tmp_path),
    )
    seen: list[BaseException] = []
    app.set_uncaught_exception_handler(
        lambda exc: seen.append(exc) or StreamThreadExceptionResponse.SHUTDOWN_CLIENT
    )
    transitions: list[State] = []
    app.set_state_listener(lambda new, old: transitions.append(new))
    streams_apps.append(app)
    app.start()
    _produce(broker, source, ["fine", "boom"])
    assert app.wait_for_state(State.ERROR, 60)
    assert transitions[-2:] == [State.PENDING_ERROR, State.ERROR]
    assert seen and getattr(seen[0], "node_name", None)  # the failing processor node is named


def test_replace_thread_carries_on(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    streams_apps: list[KafkaStreams],
    tmp_path: Path,
) -> None:
    source, sink = make_topic(partitions=1, prefix="in"), make_topic(partitions=1, prefix="out")
    failed = threading.Event()

    def explode_once(word: str) -> None:
        if word == "boom" and not failed.is_set():
            failed.set()
            raise ValueError("first time only")

    app = KafkaStreams(
        wordcount_topology(source, sink, explode_once),
        _config(broker, f"rep-{uuid.uuid4().hex[:6]}", tmp_path),
    )
    app.set_uncaught_exception_handler(lambda exc: StreamThreadExceptionResponse.REPLACE_THREAD)
    streams_apps.append(app)
    app.start()
    _produce(broker, source, ["one", "boom", "two"])
    assert _read_counts(broker, sink, {"one": 1, "boom": 1, "two": 1}) == {
        "one": 1,
        "boom": 1,
        "two": 1,
    }
    assert failed.is_set()
    assert app.state in (State.RUNNING, State.REBALANCING)


def test_output_timestamps_are_kept(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    streams_apps: list[KafkaStreams],
    tmp_path: Path,
) -> None:
    source, sink = make_topic(partitions=1, prefix="in"), make_topic(partitions=1, prefix="out")
    builder = StreamsBuilder()
    builder.stream(source, Consumed.with_(Serdes.String(), Serdes.String())).map_values(
        str.upper
    ).to(sink, Produced.with_(Serdes.String(), Serdes.String()))
    app = KafkaStreams(builder.build(), _config(broker, f"ts-{uuid.uuid4().hex[:6]}", tmp_path))
    streams_apps.append(app)
    app.start()
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i, ts in enumerate([1, 5_000, 1_600_000_000_123]):
        producer.produce(source, key=f"k{i}".encode(), value=b"v", timestamp=ts)
    producer.flush(30)
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": "ts-check",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([sink])
    got: list[int] = []
    deadline = time.monotonic() + 60
    while len(got) < 3 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            got.append(message.timestamp()[1])
    consumer.close()
    assert got == [1, 5_000, 1_600_000_000_123]


def _java_murmur2_partition(key: bytes, partitions: int) -> int:
    """Kafka's `Utils.murmur2` and `toPositive(hash) % partitions` (the Java default partitioner)."""
    m, r = 0x5BD1E995, 24
    length = len(key)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= key[base + 2] << 16
    if tail >= 2:
        h ^= key[base + 1] << 8
    if tail >= 1:
        h ^= key[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def test_sink_partitioning_default_is_javas_and_custom_partitioners_see_the_count(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    streams_apps: list[KafkaStreams],
    tmp_path: Path,
) -> None:
    source = make_topic(partitions=1, prefix="in")
    by_key, custom = make_topic(partitions=5, prefix="out"), make_topic(partitions=3, prefix="out")
    seen_counts: list[int] = []

    def last_partition(topic: str, key: Any, value: Any, partitions: int) -> int:
        seen_counts.append(partitions)
        return partitions - 1

    builder = StreamsBuilder()
    stream = builder.stream(source, Consumed.with_(Serdes.String(), Serdes.String()))
    stream.to(by_key, Produced.with_(Serdes.String(), Serdes.String()))
    stream.to(custom, Produced.with_(Serdes.String(), Serdes.String(), last_partition))
    app = KafkaStreams(builder.build(), _config(broker, f"part-{uuid.uuid4().hex[:6]}", tmp_path))
    streams_apps.append(app)
    app.start()
    keys = [f"key-{i}" for i in range(20)]
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for key in keys:
        producer.produce(source, key=key.encode(), value=b"v")
    producer.flush(30)

    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"p-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([by_key, custom])
    placed: dict[tuple[str, str], int] = {}
    deadline = time.monotonic() + 60
    while len(placed) < 2 * len(keys) and time.monotonic() < deadline:
        for message in consumer.consume(100, 0.5):
            if not message.error():
                placed[(message.topic(), message.key().decode())] = message.partition()
    consumer.close()
    assert {k: placed[(by_key, k)] for k in keys} == {
        k: _java_murmur2_partition(k.encode(), 5) for k in keys
    }
    assert {placed[(custom, k)] for k in keys} == {2}
    assert set(seen_counts) == {3}


def test_a_second_instance_on_the_same_state_dir_is_refused(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    streams_apps: list[KafkaStreams],
    tmp_path: Path,
) -> None:
    source, sink = make_topic(partitions=1, prefix="in"), make_topic(partitions=1, prefix="out")
    config = _config(broker, f"lock-{uuid.uuid4().hex[:6]}", tmp_path)
    first = KafkaStreams(wordcount_topology(source, sink), config)
    streams_apps.append(first)
    first.start()
    second = KafkaStreams(wordcount_topology(source, sink), config)
    with pytest.raises(StreamsException, match="locked by another instance"):
        second.start()
    assert second.state is State.ERROR
    assert first.close(timedelta(seconds=30))
    third = KafkaStreams(wordcount_topology(source, sink), config)  # the lock went with the first
    streams_apps.append(third)
    third.start()
    assert third.wait_for_state(State.RUNNING, 60)


def test_windowed_changelog_and_repartition_topic_configs(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    streams_apps: list[KafkaStreams],
    tmp_path: Path,
) -> None:
    source, sink = make_topic(partitions=2, prefix="in"), make_topic(partitions=1, prefix="out")
    app_id = f"win-{uuid.uuid4().hex[:6]}"
    builder = StreamsBuilder()
    (
        builder.stream(source, Consumed.with_(Serdes.String(), Serdes.String()))
        .group_by(
            lambda key, value: value,
            Grouped.as_("by-value")
            .with_key_serde(Serdes.String())
            .with_value_serde(Serdes.String()),
        )
        .windowed_by(TimeWindows.of_size_and_grace(timedelta(minutes=1), timedelta(seconds=30)))
        .count(Materialized.as_("per-minute"))
        .to_stream()
        .map(lambda key, count: KeyValue(key.key, count))
        .to(sink, Produced.with_(Serdes.String(), Serdes.Long()))
    )
    app = KafkaStreams(
        builder.build(), _config(broker, app_id, tmp_path, **{"replication.factor": 1})
    )
    streams_apps.append(app)
    app.start()
    assert app.wait_for_state(State.RUNNING, 60)

    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    changelog, repartition = f"{app_id}-per-minute-changelog", f"{app_id}-by-value-repartition"
    topics = admin.list_topics(timeout=10).topics
    assert len(topics[changelog].partitions) == 2 and len(topics[repartition].partitions) == 2
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in (changelog, repartition)]
    described = {r.name: f.result(timeout=10) for r, f in admin.describe_configs(resources).items()}
    assert described[changelog]["cleanup.policy"].value == "compact,delete"
    # retention = window size + grace + windowstore.changelog.additional.retention.ms (1 day)
    assert int(described[changelog]["retention.ms"].value) == 60_000 + 30_000 + 86_400_000
    assert described[repartition]["cleanup.policy"].value == "delete"


def test_fenced_eos_producer_is_replaced_and_output_stays_exact(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    streams_apps: list[KafkaStreams],
    tmp_path: Path,
) -> None:
    """A thread's transactional producer is fenced (another producer takes its transactional.id): as
    in Kafka Streams the thread starts a new producer, rebuilds its tasks from committed state, and
    carries on; read_committed output stays exactly right and the thread never fails."""
    source, sink = make_topic(partitions=2, prefix="in"), make_topic(partitions=1, prefix="out")
    app_id = f"fence-{uuid.uuid4().hex[:6]}"
    config = _config(broker, app_id, tmp_path, **{"processing.guarantee": "exactly_once_v2"})
    app = KafkaStreams(wordcount_topology(source, sink), config)
    failures: list[BaseException] = []

    def record(exc: BaseException) -> StreamThreadExceptionResponse:
        failures.append(exc)
        return StreamThreadExceptionResponse.SHUTDOWN_CLIENT

    app.set_uncaught_exception_handler(record)
    streams_apps.append(app)
    app.start()
    first = [f"a b c{i % 4}" for i in range(40)]
    _produce(broker, source, first)
    want = dict(Counter(w for line in first for w in line.split()))
    assert _read_counts(broker, sink, want) == want

    # Take over the thread's transactional id: its producer is fenced from now on.
    usurper = Producer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "transactional.id": f"{app_id}-{app.config.process_id}-1",
        }
    )
    usurper.init_transactions(30)
    second = [f"a c{i % 4}" for i in range(40)]
    _produce(broker, source, second)
    want = dict(Counter(w for line in first + second for w in line.split()))
    assert _read_counts(broker, sink, want) == want
    assert not failures
    assert app.state in (State.RUNNING, State.REBALANCING)


def test_tasks_reading_several_topics_keep_their_partitions_together(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    streams_apps: list[KafkaStreams],
    tmp_path: Path,
) -> None:
    """A sub-topology over two topics (a merge into a count): across two instances each task owns
    partition p of both topics (KIP-848 range assignment), and the counts come out exact."""
    left, right = make_topic(partitions=4, prefix="l"), make_topic(partitions=4, prefix="r")
    sink = make_topic(partitions=1, prefix="out")
    app_id = f"merge-{uuid.uuid4().hex[:6]}"

    def topology() -> Any:
        builder = StreamsBuilder()
        one = builder.stream(left, Consumed.with_(Serdes.String(), Serdes.String()))
        two = builder.stream(right, Consumed.with_(Serdes.String(), Serdes.String()))
        (
            one.merge(two)
            .group_by_key(Grouped.with_(Serdes.String(), Serdes.String()))
            .count(Materialized.as_("merged-counts"))
            .to_stream()
            .to(sink, Produced.with_(Serdes.String(), Serdes.Long()))
        )
        return builder.build()

    apps = [KafkaStreams(topology(), _config(broker, app_id, tmp_path / name)) for name in "ab"]
    streams_apps.extend(apps)
    for app in apps:
        app.start()
    for app in apps:
        assert app.wait_for_state(State.RUNNING, 60)
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap_servers, "partitioner": "murmur2_random"}
    )
    keys = [f"key{i}" for i in range(16)]
    for i in range(160):
        producer.produce(left if i % 2 else right, key=keys[i % 16].encode(), value=b"v")
    producer.flush(30)
    want = {key: 10 for key in keys}
    assert _read_counts(broker, sink, want) == want

    owned = {}
    for app in apps:
        for thread in app._threads:
            for task_id, partitions in thread.tasks.partitions.items():
                assert str(task_id) not in owned, f"task {task_id} runs on both instances"
                owned[str(task_id)] = {(tp.topic, tp.partition) for tp in partitions}
    assert owned == {f"0_{p}": {(left, p), (right, p)} for p in range(4)}


def test_two_stream_threads_share_the_tasks(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    streams_apps: list[KafkaStreams],
    tmp_path: Path,
) -> None:
    source, sink = make_topic(partitions=4, prefix="in"), make_topic(partitions=1, prefix="out")
    config = _config(
        broker, f"threads-{uuid.uuid4().hex[:6]}", tmp_path, **{"num.stream.threads": 2}
    )
    app = KafkaStreams(wordcount_topology(source, sink), config)
    streams_apps.append(app)
    app.start()
    assert app.wait_for_state(State.RUNNING, 60)
    lines = [f"w{i % 7} w{i % 5}" for i in range(100)]
    _produce(broker, source, lines)
    want = dict(Counter(w for line in lines for w in line.split()))
    assert _read_counts(broker, sink, want) == want
    per_thread = [set(thread.tasks.tasks) for thread in app._threads]
    assert len(per_thread) == 2 and all(per_thread)
    assert not per_thread[0] & per_thread[1]


def test_latest_reset_policy_skips_what_was_there_before(
    broker: RunningBroker,
    make_topic: Callable[..., str],
    streams_apps: list[KafkaStreams],
    tmp_path: Path,
) -> None:
    source, sink = make_topic(partitions=1, prefix="in"), make_topic(partitions=1, prefix="out")
    _produce(broker, source, ["old one", "old two"])
    builder = StreamsBuilder()
    consumed = Consumed.with_(Serdes.String(), Serdes.String()).with_offset_reset_policy("latest")
    builder.stream(source, consumed).map_values(str.upper).to(
        sink, Produced.with_(Serdes.String(), Serdes.String())
    )
    app = KafkaStreams(builder.build(), _config(broker, f"latest-{uuid.uuid4().hex[:6]}", tmp_path))
    streams_apps.append(app)
    app.start()
    assert app.wait_for_state(State.RUNNING, 60)
    time.sleep(1)  # the assignment has set the start position
    _produce(broker, source, ["new"])
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"l-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([sink])
    values: list[bytes] = []
    deadline = time.monotonic() + 60
    while b"NEW" not in values and time.monotonic() < deadline:
        values += [m.value() for m in consumer.consume(10, 0.5) if not m.error()]
    consumer.close()
    assert values == [b"NEW"]
