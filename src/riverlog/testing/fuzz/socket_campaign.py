"""Garbage frames against a running broker process, with valid traffic alongside, and the checks.

Threads, all against one `BrokerProcess` (its own process, so its RSS and descriptors are its own):

- garbage senders: each opens a connection, writes a burst of mutated frames (`mutate`) in one go,
  reads what comes back until the broker closes the connection or goes quiet, and starts again;
- a witness: one connection writing bursts of valid read-only requests (generated for ApiVersions,
  Metadata, ListGroups, DescribeCluster, ListOffsets, OffsetFetch, DescribeConfigs, DescribeGroups,
  FindCoordinator), each burst answered in order, correlation ids matching, never closed;
- a canary: one connection, one ApiVersions at a time, whose round trips are timed;
- real clients: a confluent-kafka producer (acks=all) recording every acknowledged record, and a
  consumer in a group reading alongside;
- a sampler: the broker's RSS and open descriptors from /proc every second.

At the end: every acknowledged record is read back at its offset by a fresh consumer, every
partition of every topic on the broker is read to its end by a real consumer, and the figures are
returned in a `CampaignReport` (the caller asserts and prints). Deterministic given the seed except
for thread interleaving.
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.protocol.codec import decode_response
from riverlog.testing.broker_process import BrokerProcess
from riverlog.testing.fuzz.generate import Frame, all_request_apis, generate
from riverlog.testing.fuzz.mutate import frame_with_prefix, mutate

WITNESS_APIS: Final = frozenset({2, 3, 9, 10, 15, 16, 18, 32, 60})
CLIENT_TOPIC: Final = "fuzz-clients-topic"  # longer than any name the generator writes
CLIENT_GROUP: Final = "fuzz-clients-group"
GARBAGE_TOPIC: Final = "fuzz-garbage-topic"
_SIZE: Final = struct.Struct(">i")


class ConnectionLost(Exception):
    """A connection that is not a garbage one was closed or went silent."""


@dataclass
class CampaignReport:
    frames_sent: int = 0
    frames_read: int = 0  # answered, plus the one that closed each connection the broker closed
    garbage_connections: int = 0
    closed_by_broker: int = 0
    answers_to_garbage: int = 0
    quiet_at_deadline: int = 0  # connections with requests unanswered when the sender gave up
    mutations: Counter[str] = field(default_factory=Counter)
    witness_requests: int = 0
    witness_failures: list[str] = field(default_factory=list)
    canary_ms: list[float] = field(default_factory=list)
    produced_acked: int = 0
    producer_errors: list[str] = field(default_factory=list)
    consumed_live: int = 0
    client_errors: list[str] = field(default_factory=list)
    records_missing: int = 0
    missing_detail: list[str] = field(default_factory=list)  # per partition: watermarks, offsets
    partitions_read: int = 0
    partitions_unreadable: list[str] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    socket_fds: list[int] = field(default_factory=list)  # of `fds`, those that are sockets
    topics: int = 0
    broker_alive: bool = False
    log_findings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def canary_summary(self) -> str:
        if not self.canary_ms:
            return "no samples"
        ordered = sorted(self.canary_ms)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"{len(ordered)} round trips, p50 {statistics.median(ordered):.1f} ms, "
            f"p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms"
        )

    def summary(self) -> str:
        rate = self.frames_sent / self.seconds if self.seconds else 0.0
        return "\n".join(
            [
                f"frames sent {self.frames_sent} (read by the broker at least "
                f"{self.frames_read}) in {self.seconds:.0f} s ({rate:.0f}/s) on "
                f"{self.garbage_connections} garbage connections; closed by the broker "
                f"{self.closed_by_broker}; answers to garbage {self.answers_to_garbage}; "
                f"quiet when the sender gave up {self.quiet_at_deadline}",
                f"mutations {dict(self.mutations.most_common())}",
                f"broker alive {self.broker_alive}; log findings {len(self.log_findings)}",
                f"witness: {self.witness_requests} valid requests pipelined, failures "
                f"{len(self.witness_failures)}",
                f"canary: {self.canary_summary()}",
                f"clients: {self.produced_acked} records acknowledged, {self.records_missing} "
                f"missing on read-back, {self.consumed_live} consumed live, client errors "
                f"{len(self.client_errors)}, producer errors {len(self.producer_errors)}",
                f"partitions read to their end {self.partitions_read}, unreadable "
                f"{len(self.partitions_unreadable)} {self.partitions_unreadable[:5]}",
                f"missing by partition {self.missing_detail}",
                f"broker RSS KiB first/max/last {_fmm(self.rss_kib)}; open fds first/max/last "
                f"{_fmm(self.fds)}, of them sockets {_fmm(self.socket_fds)}; topics at the end "
                f"{self.topics}",
            ]
        )


def _fmm(series: list[int]) -> str:
    """first/max/last, then the samples at each quarter of the run (is it flat once warm?)."""
    if not series:
        return "-"
    quarters = "/".join(str(series[len(series) * q // 4]) for q in (1, 2, 3))
    return f"{series[0]}/{max(series)}/{series[-1]} (at 1/4, 1/2, 3/4 of the run {quarters})"


# --- framing helpers ------------------------------------------------------------------------------


def _read_exact(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionLost("closed by the broker")
        data += chunk
    return bytes(data)


def _read_response(sock: socket.socket) -> bytes:
    (size,) = _SIZE.unpack(_read_exact(sock, 4))
    return _read_exact(sock, size)


# --- the threads -------------------------------------------------------------------------------


class Campaign:
    """One run; `run()` returns the report."""

    def __init__(
        self,
        broker: BrokerProcess,
        *,
        seed: int,
        frames: int,
        senders: int = 3,
        burst: int = 8,
        produce_rate: float = 200.0,
    ) -> None:
        self.broker = broker
        self.seed = seed
        self.frames_target = frames
        self.senders = senders
        self.burst = burst
        self.produce_rate = produce_rate
        self.report = CampaignReport()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.acked: dict[tuple[int, int], bytes] = {}
        rng = random.Random(seed)
        self.corpus: list[Frame] = [generate(rng, *api) for api in all_request_apis() * 3]
        # Produce to topics that exist (the clients' own among them), so corrupt batches meet
        # the validation and the log rather than UNKNOWN_TOPIC_OR_PARTITION.
        topics = (CLIENT_TOPIC, GARBAGE_TOPIC)
        produce = [api for api in all_request_apis() if api[0] == 0]
        self.corpus += [generate(rng, *api, topics=topics) for api in produce * 30]
        self.witness_corpus: list[Frame] = []  # filled by run(): versions the broker advertises

    # garbage ---------------------------------------------------------------------------------

    def _garbage(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        while not self.stop.is_set():
            with self.lock:
                if self.report.frames_sent >= self.frames_target:
                    return
                self.report.frames_sent += self.burst
                self.report.garbage_connections += 1
            self._one_garbage_connection(rng)

    def _one_garbage_connection(self, rng: random.Random) -> None:
        names: list[str] = []
        out = bytearray()
        for position in range(self.burst):
            body, applied = mutate(rng, rng.choice(self.corpus))
            names += applied
            lie = position == self.burst - 1 and rng.random() < 0.05
            out += frame_with_prefix(rng, body, lie=lie)
        answers, closed, quiet = 0, False, False
        with socket.create_connection(("127.0.0.1", self.broker.port), timeout=10) as sock:
            try:
                sock.sendall(out)
                sock.settimeout(0.5)
                while True:
                    _read_response(sock)
                    answers += 1
            except TimeoutError:
                quiet = True
            except (ConnectionLost, ConnectionResetError, BrokenPipeError):
                closed = True
        with self.lock:
            self.report.mutations.update(names)
            self.report.answers_to_garbage += answers
            self.report.closed_by_broker += closed
            self.report.frames_read += answers + closed
            self.report.quiet_at_deadline += quiet

    # witness and canary ------------------------------------------------------------------------

    def _witness(self) -> None:
        rng = random.Random(self.seed + 1)
        correlation = 1
        try:
            sock = socket.create_connection(("127.0.0.1", self.broker.port), timeout=30)
        except OSError as exc:
            self.report.witness_failures.append(f"connect: {exc!r}")
            return
        with sock:
            while not self.stop.is_set():
                burst: list[tuple[int, int, int]] = []
                out = bytearray()
                for _ in range(10):
                    base = rng.choice(self.witness_corpus)
                    frame = generate(rng, base.api_key, base.version, correlation_id=correlation)
                    burst.append((correlation, base.api_key, base.version))
                    out += frame.framed()
                    correlation += 1
                try:
                    sock.sendall(out)
                    for expected, api_key, version in burst:
                        answer = decode_response(_read_response(sock), api_key, version)
                        if answer.correlation_id != expected:
                            raise ConnectionLost(
                                f"answer {answer.correlation_id} where {expected} was due"
                            )
                except (OSError, ConnectionLost, ValueError) as exc:
                    self.report.witness_failures.append(f"{exc!r} (burst {burst})")
                    return
                self.report.witness_requests += len(burst)
                time.sleep(0.05)

    def _canary(self) -> None:
        frame = generate(random.Random(0), 18, 3, correlation_id=7)
        framed = frame.framed()
        try:
            sock = socket.create_connection(("127.0.0.1", self.broker.port), timeout=30)
        except OSError as exc:
            self.report.witness_failures.append(f"canary connect: {exc!r}")
            return
        with sock:
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    sock.sendall(framed)
                    _read_response(sock)
                except (OSError, ConnectionLost) as exc:
                    self.report.witness_failures.append(f"canary: {exc!r}")
                    return
                self.report.canary_ms.append((time.perf_counter() - started) * 1000)
                time.sleep(0.1)

    # real clients --------------------------------------------------------------------------------

    def _client_error(self, error: KafkaError) -> None:
        self.report.client_errors.append(str(error))

    def _producer(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.broker.bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "error_cb": self._client_error,
            }
        )
        number = 0

        def delivered(error: KafkaError | None, message: object) -> None:
            if error is not None:
                self.report.producer_errors.append(str(error))
                return
            with self.lock:
                self.acked[(message.partition(), message.offset())] = message.value()  # type: ignore[attr-defined]
                self.report.produced_acked += 1

        while not self.stop.is_set():
            producer.produce(CLIENT_TOPIC, f"value-{number}".encode(), on_delivery=delivered)
            number += 1
            producer.poll(0)
            time.sleep(1 / self.produce_rate)
        producer.flush(30)

    def _consumer(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.broker.bootstrap,
                "group.id": CLIENT_GROUP,
                "auto.offset.reset": "earliest",
                "error_cb": self._client_error,
            }
        )
        consumer.subscribe([CLIENT_TOPIC])
        try:
            while not self.stop.is_set():
                message = consumer.poll(0.5)
                if message is None:
                    continue
                if message.error() is not None:
                    self.report.client_errors.append(str(message.error()))
                    continue
                self.report.consumed_live += 1
        finally:
            consumer.close()

    # sampler ---------------------------------------------------------------------------------------

    def _sample(self) -> None:
        pid = self.broker.pid
        while not self.stop.wait(1.0) and pid is not None:
            try:
                self._sample_once()
            except (OSError, StopIteration):
                return

    # the run -----------------------------------------------------------------------------------

    def run(self) -> CampaignReport:
        started = time.monotonic()
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        for future in admin.create_topics(
            [NewTopic(CLIENT_TOPIC, 3, 1), NewTopic(GARBAGE_TOPIC, 3, 1)]
        ).values():
            future.result(timeout=30)
        advertised = _advertised_versions(self.broker.port)
        self.witness_corpus = [
            f
            for f in self.corpus
            if f.api_key in WITNESS_APIS
            and advertised.get(f.api_key, (0, -1))[0] <= f.version <= advertised[f.api_key][1]
        ]
        background = [
            threading.Thread(target=target, name=f"fuzz-{target.__name__}", daemon=True)
            for target in (
                self._witness,
                self._canary,
                self._producer,
                self._consumer,
                self._sample,
            )
        ]
        senders = [
            threading.Thread(target=self._garbage, args=(i,), name=f"fuzz-garbage-{i}", daemon=True)
            for i in range(self.senders)
        ]
        for thread in background + senders:
            thread.start()
        for thread in senders:
            thread.join()
        time.sleep(2)  # valid traffic goes on a little after the last garbage
        self.stop.set()
        for thread in background:
            thread.join(timeout=60)
        self.report.seconds = time.monotonic() - started
        self._read_back()
        self._read_every_partition(admin)
        time.sleep(1)
        self._sample_once()
        self.report.broker_alive = self.broker.is_running
        self.report.log_findings = self._log_findings()
        return self.report

    def _sample_once(self) -> None:
        """One sample of the broker's RSS and descriptors (sockets counted apart: log segments
        of the topics garbage created are files, and legitimately stay open)."""
        pid = self.broker.pid
        if pid is None:
            return
        status = Path(f"/proc/{pid}/status").read_text()
        rss = next(int(line.split()[1]) for line in status.splitlines() if "VmRSS" in line)
        targets = []
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                targets.append(os.readlink(fd))
            except OSError:  # closed while listing
                continue
        self.report.rss_kib.append(rss)
        self.report.fds.append(len(targets))
        self.report.socket_fds.append(sum(t.startswith("socket:") for t in targets))

    def _read_back(self) -> None:
        """Every acknowledged record, read by a fresh consumer at its offset."""
        found = _read_to_end(self.broker.bootstrap, [(CLIENT_TOPIC, p) for p in range(3)])
        values = {(p, o): v for (_, p, o), v in found.records.items()}
        missing = sorted(key for key, value in self.acked.items() if values.get(key) != value)
        self.report.records_missing = len(missing)
        for partition in range(3):
            offsets = [o for p, o in missing if p == partition]
            if offsets:
                self.report.missing_detail.append(
                    f"p{partition}: {len(offsets)} from {offsets[0]} to {offsets[-1]}, "
                    f"watermarks {found.watermarks.get((CLIENT_TOPIC, partition))}"
                )
        self.report.partitions_unreadable += found.unreadable

    def _read_every_partition(self, admin: AdminClient) -> None:
        topics = admin.list_topics(timeout=30).topics
        self.report.topics = len(topics)
        partitions = [(name, p) for name, topic in topics.items() for p in topic.partitions]
        found = _read_to_end(self.broker.bootstrap, partitions)
        self.report.partitions_read = len(partitions) - len(found.unreadable)
        self.report.partitions_unreadable += found.unreadable

    def _log_findings(self) -> list[str]:
        text = self.broker.log_path.read_text(errors="replace")
        # Refused frames are WARNING lines ("closing connection ... malformed request"); an ERROR,
        # a CRITICAL or a traceback is a handler or a timer failing: a finding.
        keep = (" ERROR ", " CRITICAL ", "Traceback")
        return [line for line in text.splitlines() if any(word in line for word in keep)]


def _advertised_versions(port: int) -> dict[int, tuple[int, int]]:
    """The (min, max) version of every API the broker advertises in ApiVersions v3."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(generate(random.Random(0), 18, 3, correlation_id=1).framed())
        answer = decode_response(_read_response(sock), 18, 3).body
    return {int(k.api_key): (int(k.min_version), int(k.max_version)) for k in answer.api_keys}


@dataclass
class _ReadResult:
    records: dict[tuple[str, int, int], bytes | None]
    unreadable: list[str]
    watermarks: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)


def _read_to_end(
    bootstrap: str, partitions: list[tuple[str, int]], timeout: float = 60.0
) -> _ReadResult:
    """Read each partition from its start to its high watermark with one real consumer."""
    result = _ReadResult({}, [])
    if not partitions:
        return result
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "fuzz-read-back",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_uncommitted",
        }
    )
    try:
        ends: dict[tuple[str, int], int] = {}
        for topic, partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            result.watermarks[(topic, partition)] = (low, high)
            if high > low:
                ends[(topic, partition)] = high
        consumer.assign([TopicPartition(t, p, result.watermarks[(t, p)][0]) for t, p in ends])
        position = {key: 0 for key in ends}
        deadline = time.monotonic() + timeout
        while any(position[k] < ends[k] for k in ends) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            key = (str(message.topic()), int(message.partition() or 0))
            offset = int(message.offset() or 0)
            result.records[(key[0], key[1], offset)] = message.value()
            position[key] = max(position[key], offset + 1)
        result.unreadable = [
            f"{t}/{p} at {position[(t, p)]} of {ends[(t, p)]}"
            for t, p in ends
            if position[(t, p)] < ends[(t, p)]
        ]
    finally:
        consumer.close()
    return result


def run_campaign(
    work_dir: Path, *, seed: int, frames: int, senders: int = 3, burst: int = 8
) -> CampaignReport:
    """Start a broker process under ``work_dir``, run a campaign against it, stop it."""
    broker = BrokerProcess(
        0,
        work_dir / "broker",
        zookeeper=None,
        settings={"group.initial.rebalance.delay.ms": "0", "auto.create.topics.enable": "false"},
    )
    broker.start()
    try:
        return Campaign(broker, seed=seed, frames=frames, senders=senders, burst=burst).run()
    finally:
        broker.stop()
