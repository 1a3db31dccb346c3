"""KafkaConnection's receive path and eager processing: bytes written into the connection's buffer
(BufferedProtocol) come out as requests; a request that never waits is answered inside the read
callback, without a task; one that waits is carried on by a task, in order, and cancelled with the
connection."""

from __future__ import annotations

import asyncio
import struct

from test_server_coalescing import (
    RecordingTransport,
    ScriptedDispatcher,
    connect,
    frames,
)

from riverlog.broker.network.server import BrokerServer, KafkaConnection


def deliver(connection: KafkaConnection, data: bytes, read_size: int) -> None:
    """As the event loop does for a BufferedProtocol: reads of at most `read_size` bytes."""
    view = memoryview(data)
    while view:
        space = connection.get_buffer(-1)
        size = min(len(space), len(view), read_size)
        space[:size] = view[:size]
        del space
        connection.buffer_updated(size)
        view = view[size:]


def test_a_request_that_never_waits_is_answered_in_the_read_callback() -> None:
    async def run() -> None:
        connection, transport = connect(ScriptedDispatcher())
        deliver(connection, frames(b"1"), 1000)
        assert transport.calls == [("write", [b"answer-1"])]  # before any loop iteration
        assert connection.worker is None
        assert not connection.processing

    asyncio.run(run())


def test_frames_split_across_reads_are_answered_in_order() -> None:
    async def run() -> RecordingTransport:
        connection, transport = connect(ScriptedDispatcher())
        payloads = [b"a", b"b" * 70_000, b"c", b"d" * 200_000]  # small and large frames
        deliver(connection, frames(*payloads), 3)
        deliver(connection, frames(b"e"), 7000)
        await asyncio.sleep(0)
        return transport

    transport = asyncio.run(run())
    expected = [b"answer-" + p for p in (b"a", b"b" * 70_000, b"c", b"d" * 200_000, b"e")]
    assert transport.written == expected


def test_a_waiting_request_is_carried_on_by_a_task_and_later_frames_queue_behind_it() -> None:
    async def run() -> list[bytes]:
        dispatcher = ScriptedDispatcher()
        gate = dispatcher.gates[b"2"] = asyncio.get_running_loop().create_future()
        connection, transport = connect(dispatcher)
        connection.data_received(frames(b"1", b"2"))
        assert connection.worker is not None  # request 2 waits
        connection.data_received(frames(b"3"))  # arrives while it waits
        await asyncio.sleep(0)
        assert transport.written == [b"answer-1"]
        gate.set_result(None)
        await connection.worker
        await asyncio.sleep(0)
        assert connection.worker is None and not connection.processing
        connection.data_received(frames(b"4"))  # eager again
        return transport.written

    assert asyncio.run(run()) == [b"answer-1", b"answer-2", b"answer-3", b"answer-4"]


def test_connection_lost_cancels_the_waiting_request() -> None:
    cancelled = []

    class Waiting(ScriptedDispatcher):
        async def handle(self, frame: bytes | memoryview, _peer: str) -> bytes | None:
            try:
                await asyncio.Event().wait()  # a long poll that never completes
            except asyncio.CancelledError:
                cancelled.append(bytes(frame))
                raise
            return None

    async def run() -> None:
        connection, _ = connect(Waiting())
        connection.data_received(frames(b"poll"))
        worker = connection.worker
        assert worker is not None
        connection.connection_lost(None)
        await asyncio.gather(worker, return_exceptions=True)
        assert worker.cancelled()

    asyncio.run(run())
    assert cancelled == [b"poll"]


def test_oversized_prefix_closes_the_connection_after_earlier_answers() -> None:
    async def run() -> RecordingTransport:
        dispatcher = ScriptedDispatcher()
        server = BrokerServer(dispatcher, 100)  # type: ignore[arg-type]
        connection = KafkaConnection(server)
        transport = RecordingTransport()
        connection.connection_made(transport)  # type: ignore[arg-type]
        deliver(connection, frames(b"ok"), 5)
        deliver(connection, struct.pack(">i", 101) + b"x" * 10, 5)
        return transport

    transport = asyncio.run(run())
    assert transport.written == [b"answer-ok"]
    assert transport.closed


def test_connections_share_the_servers_buffer_pool() -> None:
    server = BrokerServer(ScriptedDispatcher(), 1024 * 1024)  # type: ignore[arg-type]
    one, two = KafkaConnection(server), KafkaConnection(server)
    assert one.decoder.pool is two.decoder.pool is server.buffer_pool


def test_a_started_coroutine_carried_on_by_await_finishes_as_it_would() -> None:
    from riverlog.broker.network.server import _CarryOn

    async def two_steps(log: list[str]) -> None:
        log.append("first")
        await asyncio.sleep(0)
        log.append("second")

    async def run() -> list[str]:
        log: list[str] = []
        coro = two_steps(log)
        waiting_on = coro.send(None)  # started by hand, as start_processing does
        await _CarryOn(coro, waiting_on)
        return log

    assert asyncio.run(run()) == ["first", "second"]
