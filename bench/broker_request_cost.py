"""The broker's CPU cost per Produce request: where a request's microseconds go.

At linger.ms=0 librdkafka sends one Produce request per few dozen records (4,000-5,000 a second at
100k records/s here), so the broker's per-request cost, not its per-byte cost, decides whether it keeps
up. Two measurements, both of CPU time (so they hold up on a shared machine better than wall time):

- `--socket`: a `riverlog broker start` subprocess and a plain blocking client that sends one Produce
  v10 request of `--records` records of 100 bytes, waits for the answer, and repeats (one request in
  flight, as at linger.ms=0 under light load); the figure is the broker process's user + system CPU per
  request, best of `--rounds` rounds of `--requests`. Everything is in it: the event loop, the socket
  reads and writes, the log write. The process's environment is passed on, so
  `PYTHONPATH=<other checkout>/src python -m bench.broker_request_cost --socket` measures another
  version of riverlog the same way (that is how the before/after figures in bench/RESULTS.md were made).
- in-process (default): a `BrokerNode` in this process, no sockets; the same request fed through
  `KafkaConnection`'s receive path (`get_buffer`/`buffer_updated`, as the event loop does) up to the
  response handed to a recording transport, then the pieces on their own: framing, request decode
  (specialised and kio), `PartitionLog.append` of the batch, `encode_response`. CPU time of this thread.

    python -m bench.broker_request_cost [--socket] [--requests N] [--rounds R] [--records K] [--profile]

`--profile` (in-process) adds a cProfile of one round, top functions by own and cumulative time.
`--socket --fetch` measures a consumer's Fetch instead: one Produce of `--records` records first, then
Fetch v12 requests for them from offset 0 (max wait 0, one partition, partition max bytes 1 MiB), one
in flight, the same CPU figure per request.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import os
import pstats
import socket
import struct
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop
from kio.index import load_request_schema
from kio.serial import entity_writer
from kio.static.primitive import i32Timedelta

from bench.broker_runs import create_topics
from bench.broker_support import cpu_seconds, load_average, riverlog_broker
from riverlog.broker.config import BrokerConfig
from riverlog.broker.network.server import KafkaConnection
from riverlog.broker.replication.peer import read_exactly
from riverlog.broker.responses import request_schema
from riverlog.cluster.node import BrokerNode
from riverlog.protocol import codec
from riverlog.protocol.codec import decode_request, encode_response
from riverlog.protocol.framing import FrameDecoder
from riverlog.protocol.records import build_batch

TOPIC = "cost"
PRODUCE_VERSION = 10
FETCH_VERSION = 12
_SIZE = struct.Struct(">i")


def kio_decode_request(frame: bytes) -> Any:
    """The generic (kio) decode of a request, also for Produce."""
    return codec.decode_request(frame, specialised=False)


class _Transport:
    """Just enough of asyncio.Transport for a KafkaConnection: counts what is written."""

    def __init__(self) -> None:
        self.written = 0

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else None

    def write(self, data: bytes) -> None:
        self.written += 1

    def writelines(self, items: list[bytes]) -> None:
        self.written += len(items)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def produce_frame(records: int, correlation_id: int = 7) -> bytes:
    """A framed Produce v10 request (header v2, client id `rdkafka`) with one batch of `records`."""
    batch = build_batch([(None, b"x" * 100, (), 1_700_000_000_000 + i) for i in range(records)])
    schema = request_schema(0, PRODUCE_VERSION)
    body = schema.ProduceRequest(
        transactional_id=None,
        acks=1,
        timeout=i32Timedelta.parse(datetime.timedelta(seconds=30)),
        topic_data=(
            schema.TopicProduceData(
                name=TOPIC, partition_data=(schema.PartitionProduceData(index=0, records=batch),)
            ),
        ),
    )
    out = io.BytesIO()
    out.write(struct.pack(">hhih", 0, PRODUCE_VERSION, correlation_id, 7) + b"rdkafka\x00")
    entity_writer(load_request_schema(0, PRODUCE_VERSION))(out, body)
    payload = out.getvalue()
    return _SIZE.pack(len(payload)) + payload


def best_of(rounds: int, requests: int, run: Callable[[int], None]) -> float:
    """Microseconds per call of the fastest round."""
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        run(requests)
        best = min(best, time.thread_time() - start)
    return best / requests * 1e6


async def best_of_async(rounds: int, requests: int, run: Callable[[int], Awaitable[None]]) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        await run(requests)
        best = min(best, time.thread_time() - start)
    return best / requests * 1e6


async def measure(args: argparse.Namespace, data_dir: Path) -> dict[str, float]:
    config = BrokerConfig.load(
        None, {"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": str(data_dir)}, environ={}
    )
    node = BrokerNode(config)
    await node.start()
    try:
        return await _measure_node(node, args)
    finally:
        await node.stop()


async def _measure_node(node: BrokerNode, args: argparse.Namespace) -> dict[str, float]:
    services = node.services
    assert services is not None and node._server is not None
    services.topics.create_topic(TOPIC, 1, 1)
    services.replicas.sync_with_image(services.metadata.image)
    server = node._server
    framed = produce_frame(args.records)
    payload = framed[4:]
    connection = KafkaConnection(server)
    transport = _Transport()
    connection.connection_made(transport)  # type: ignore[arg-type]

    async def requests_through_connection(n: int) -> None:
        for _ in range(n):
            _feed(connection, framed)
            worker = connection.worker
            if worker is not None:
                await worker

    await requests_through_connection(200)  # warm-up: handler import, schema caches
    results = {
        "request": await best_of_async(args.rounds, args.requests, requests_through_connection)
    }
    if args.profile:
        profiler = cProfile.Profile(time.thread_time)
        profiler.enable()
        await requests_through_connection(args.requests)
        profiler.disable()
        _print_profile(profiler)

    decoder = FrameDecoder()

    def framing(n: int) -> None:
        for _ in range(n):
            decoder.receive_data(framed)
            decoder.next_frame()

    results["framing"] = best_of(args.rounds, args.requests, framing)
    results["decode_request"] = best_of(
        args.rounds, args.requests, lambda n: [decode_request(payload) for _ in range(n)] and None
    )
    results["decode_request(specialised=False)"] = best_of(
        args.rounds,
        args.requests,
        lambda n: [kio_decode_request(payload) for _ in range(n)] and None,
    )
    part = services.replicas.get(TOPIC, 0)
    assert part is not None
    batch = bytes(decode_request(payload).body.topic_data[0].partition_data[0].records)

    def append(n: int) -> None:
        for _ in range(n):
            part.log.append(batch, leader_epoch=0, now_ms=1_700_000_000_000)

    results["PartitionLog.append"] = best_of(args.rounds, args.requests, append)
    response = await _one_response(node, payload)
    results["encode_response"] = best_of(
        args.rounds,
        args.requests,
        lambda n: [encode_response(7, 0, PRODUCE_VERSION, response) for _ in range(n)] and None,
    )
    return results


async def _one_response(node: BrokerNode, payload: bytes) -> Any:
    from riverlog.broker.handlers import produce
    from riverlog.broker.network.context import RequestContext

    assert node.services is not None
    ctx = RequestContext(node.services, 0, PRODUCE_VERSION, 7, "rdkafka", "127.0.0.1")
    return await produce.handle(ctx, decode_request(payload).body)


def _feed(connection: KafkaConnection, data: bytes) -> None:
    """Bytes in the way the event loop delivers them (BufferedProtocol if the connection is one)."""
    get_buffer = getattr(connection, "get_buffer", None)
    if get_buffer is None:
        connection.data_received(data)
        return
    view = memoryview(data)
    while view:
        buffer = get_buffer(len(view))
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        connection.buffer_updated(size)
        view = view[size:]


def _print_profile(profiler: cProfile.Profile) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(18)
    stats.sort_stats("cumulative").print_stats(18)
    print(out.getvalue())


def fetch_frame(correlation_id: int = 8) -> bytes:
    """A framed Fetch v12 request (header v2, client id `rdkafka`) for partition 0 from offset 0."""
    schema = request_schema(1, FETCH_VERSION)
    body = schema.FetchRequest(
        replica_id=-1,
        max_wait=i32Timedelta.parse(datetime.timedelta(0)),
        min_bytes=1,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=(
            schema.FetchTopic(
                topic=TOPIC,
                partitions=(
                    schema.FetchPartition(
                        partition=0,
                        current_leader_epoch=-1,
                        fetch_offset=0,
                        last_fetched_epoch=-1,
                        log_start_offset=-1,
                        partition_max_bytes=1 << 20,
                    ),
                ),
            ),
        ),
        forgotten_topics_data=(),
        rack_id="",
    )
    out = io.BytesIO()
    out.write(struct.pack(">hhih", 1, FETCH_VERSION, correlation_id, 7) + b"rdkafka\x00")
    entity_writer(load_request_schema(1, FETCH_VERSION))(out, body)
    payload = out.getvalue()
    return _SIZE.pack(len(payload)) + payload


def socket_cost(args: argparse.Namespace) -> float:
    """Broker CPU µs per request over a loopback socket, one request in flight (see the docstring)."""
    framed = produce_frame(args.records)
    log = Path(tempfile.gettempdir()) / "riverlog-request-cost.log"
    with riverlog_broker(log, env=dict(os.environ)) as broker:
        create_topics(broker.bootstrap, [TOPIC])
        with socket.create_connection(("127.0.0.1", broker.port)) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if args.fetch:  # the records to read, then the requests measured are Fetches
                conn.sendall(framed)
                (size,) = _SIZE.unpack(read_exactly(conn, 4))
                read_exactly(conn, size)
                framed = fetch_frame()

            def requests(n: int) -> None:
                for _ in range(n):
                    conn.sendall(framed)
                    (size,) = _SIZE.unpack(read_exactly(conn, 4))
                    read_exactly(conn, size)

            requests(500)  # warm-up
            best = float("inf")
            for _ in range(args.rounds):
                before = cpu_seconds(broker.pid)
                requests(args.requests)
                best = min(best, cpu_seconds(broker.pid) - before)
    return best / args.requests * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--socket", action="store_true", help="broker subprocess, over a socket")
    parser.add_argument("--requests", type=int, default=None, help="per round (3000; socket 20000)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--records", type=int, default=30, help="records per Produce request")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--fetch", action="store_true", help="with --socket: Fetch requests")
    args = parser.parse_args(argv)
    args.requests = args.requests or (20_000 if args.socket else 3000)
    print(f"load average {load_average()}")
    if args.socket:
        micros = socket_cost(args)
        api = "Fetch" if args.fetch else "Produce"
        print(
            f"broker CPU per {api} request ({args.records} records, over a socket): {micros:.1f} µs"
        )
    else:
        with tempfile.TemporaryDirectory(prefix="riverlog-cost-") as tmp:
            results = uvloop.run(measure(args, Path(tmp)))
        for name, micros in results.items():
            print(f"{name:>34}: {micros:7.1f} µs")
    print(f"load average {load_average()}")


if __name__ == "__main__":
    main()
