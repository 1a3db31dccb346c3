"""KafkaConnection: answers in order, pipelined answers written together, nothing held across a wait."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from riverlog.broker.network.dispatch import CloseConnection
from riverlog.broker.network.server import MAX_COALESCED_RESPONSES, BrokerServer, KafkaConnection


class RecordingTransport:
    """The calls a connection makes on its transport, as ("write", [bytes...]) entries."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[bytes]]] = []
        self.closed = False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else None

    def write(self, data: bytes) -> None:
        self.calls.append(("write", [data]))

    def writelines(self, items: list[bytes]) -> None:
        self.calls.append(("writelines", list(items)))

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    @property
    def written(self) -> list[bytes]:
        return [item for _, items in self.calls for item in items]


class ScriptedDispatcher:
    """Answers frame b"n" with b"answer-n"; frames listed in `gates` wait for their future first."""

    def __init__(self) -> None:
        self.gates: dict[bytes, asyncio.Future[None]] = {}
        self.close_on: bytes | None = None

    async def handle(self, frame: bytes | memoryview, _peer: str) -> bytes | None:
        frame = bytes(frame)
        if frame == self.close_on:
            raise CloseConnection("scripted")
        gate = self.gates.get(frame)
        if gate is not None:
            await gate
        return b"answer-" + frame


def frames(*payloads: bytes) -> bytes:
    return b"".join(struct.pack(">i", len(p)) + p for p in payloads)


def connect(dispatcher: ScriptedDispatcher) -> tuple[KafkaConnection, RecordingTransport]:
    server = BrokerServer(dispatcher, 1024 * 1024)  # type: ignore[arg-type]
    connection = KafkaConnection(server)
    transport = RecordingTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport


async def drain(connection: KafkaConnection) -> None:
    if connection.worker is not None:  # None: every request was answered without waiting
        await connection.worker
    await asyncio.sleep(0)  # let a scheduled flush run
    assert not connection.processing


def test_a_lone_request_is_answered_with_one_write() -> None:
    async def run() -> RecordingTransport:
        connection, transport = connect(ScriptedDispatcher())
        connection.data_received(frames(b"1"))
        await drain(connection)
        return transport

    assert asyncio.run(run()).calls == [("write", [b"answer-1"])]


def test_pipelined_requests_are_answered_in_order_in_one_write() -> None:
    async def run() -> RecordingTransport:
        connection, transport = connect(ScriptedDispatcher())
        connection.data_received(frames(b"1", b"2", b"3"))
        await drain(connection)
        return transport

    transport = asyncio.run(run())
    assert transport.calls == [("writelines", [b"answer-1", b"answer-2", b"answer-3"])]


def test_a_burst_is_cut_into_bounded_writes() -> None:
    count = MAX_COALESCED_RESPONSES * 2 + 3

    async def run() -> RecordingTransport:
        connection, transport = connect(ScriptedDispatcher())
        connection.data_received(frames(*(str(i).encode() for i in range(count))))
        await drain(connection)
        return transport

    transport = asyncio.run(run())
    assert transport.written == [f"answer-{i}".encode() for i in range(count)]
    assert all(len(items) <= MAX_COALESCED_RESPONSES for _, items in transport.calls)
    assert len(transport.calls) == 3


def test_held_answers_go_out_when_a_later_request_waits() -> None:
    async def run() -> list[bytes]:
        dispatcher = ScriptedDispatcher()
        gate = dispatcher.gates[b"2"] = asyncio.get_running_loop().create_future()
        connection, transport = connect(dispatcher)
        connection.data_received(frames(b"1", b"2"))
        for _ in range(3):  # the worker runs until request 2 waits; the flush runs after it
            await asyncio.sleep(0)
        before = transport.written
        gate.set_result(None)
        await drain(connection)
        assert transport.written == [b"answer-1", b"answer-2"]
        return before

    assert asyncio.run(run()) == [b"answer-1"]


def test_answers_before_a_request_that_closes_the_connection_are_written() -> None:
    async def run() -> RecordingTransport:
        dispatcher = ScriptedDispatcher()
        dispatcher.close_on = b"3"
        connection, transport = connect(dispatcher)
        connection.data_received(frames(b"1", b"2", b"3", b"4"))
        await drain(connection)
        return transport

    transport = asyncio.run(run())
    assert transport.written == [b"answer-1", b"answer-2"]
    assert transport.closed
