"""The asyncio TCP server: moves bytes between sockets and the dispatcher, nothing else.

Invariants:
- Requests on one connection are processed strictly in order, one at a time, and answered in order
  (Kafka's rule); different connections proceed independently.
- A malformed frame, an oversized size prefix or an unanswerable request closes that connection only,
  with one log line; the broker and every other connection carry on.
- Reading pauses while too many frames wait (back-pressure), and processing waits while the transport's
  write buffer is full.
- Responses to pipelined requests are written together: while more frames of the same connection are
  waiting, a response is held (at most MAX_COALESCED_RESPONSES of them, COALESCE_BYTES in all) and the
  batch goes out in one write when the queue runs dry, or as soon as the worker yields to the event
  loop (a flush is scheduled with call_soon), so a response never waits on a later request's I/O.
  Under a pipelining producer this turns one send() per request into one per burst.

Per-request cost (a producer at linger.ms=0 sends thousands of small requests a second):
- Reads are asyncio's BufferedProtocol: the event loop receives straight into the connection's
  `FrameDecoder` (a reused buffer for small frames, a pooled one per large frame: see
  riverlog.protocol.framing), never allocating a `bytes` per read or a zero-filled buffer per frame.
  The pool is the server's, shared by its connections.
- Frames are processed eagerly: the first step of the processing coroutine runs right in the read
  callback, so a request that never waits (acks=1 produce, metadata, a fetch with data) is answered
  without creating a task; only a request that has to wait (long-poll fetch, acks=all, a coordinator)
  is handed to a task, which carries on from where it stopped (what Python 3.12's eager tasks do).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine, Generator
from typing import Any, cast

from riverlog.broker.network.authn import AuthenticationFailed, ListenerSecurity, Session
from riverlog.broker.network.dispatch import CloseConnection, Dispatcher
from riverlog.protocol.errors import FrameTooLargeError
from riverlog.protocol.framing import BufferPool, FrameDecoder

log = logging.getLogger(__name__)
MAX_QUEUED_FRAMES = 32
MAX_COALESCED_RESPONSES = 16
COALESCE_BYTES = 256 * 1024


class KafkaConnection(asyncio.BufferedProtocol):
    def __init__(self, server: BrokerServer, listener: ListenerSecurity | None = None) -> None:
        self.server = server
        self.listener = listener
        # Who is on the other end and whether they may send requests yet (riverlog.broker.network.authn);
        # None for a connection made without a listener (unit tests).
        self.session: Session | None = None
        self.decoder = FrameDecoder(server.max_request_bytes, server.buffer_pool)
        self.pending: deque[bytes | memoryview] = deque()
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        # The task carrying on a request that had to wait (None while processing is eager or idle).
        self.worker: asyncio.Task[None] | None = None
        self.processing = False
        self.writable = asyncio.Event()
        self.writable.set()
        self.reading_paused = False
        self.closed = False
        # Responses held for one write (see the module docstring) and whether a flush is scheduled.
        self.outgoing: list[bytes] = []
        self.outgoing_bytes = 0
        self.flush_scheduled = False

    # --- asyncio.BufferedProtocol callbacks ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.server.connections.add(self)
        if isinstance(peer, tuple) and self.maybe_throttle_connection(str(peer[0])):
            return
        if self.listener is not None:
            try:
                self.session = Session.open(
                    self.listener, self.peer, transport.get_extra_info("ssl_object")
                )
            except AuthenticationFailed as exc:
                self.close(f"SSL authentication failed: {exc}")

    def maybe_throttle_connection(self, address: str) -> bool:
        """Over its address's connection creation rate (KIP-612): read nothing, close it once the
        throttle time has passed, as Kafka's acceptor does (riverlog.broker.quotas)."""
        dispatcher = self.server.dispatcher
        quotas = getattr(dispatcher, "quotas", None)  # unit tests' dispatchers have none
        if quotas is None:
            return False
        delay_ms = quotas.connection_throttle_ms(address, dispatcher.services.clock.now_ms())
        if delay_ms <= 0:
            return False
        log.info(
            "throttling a connection from %s for %d ms (connection_creation_rate)",
            self.peer,
            delay_ms,
        )
        self.closed = True
        assert self.transport is not None
        self.transport.pause_reading()
        asyncio.get_running_loop().call_later(delay_ms / 1000, self.transport.close)
        return True

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.decoder.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        self.decoder.buffer_updated(nbytes)
        self.frames_arrived()

    def data_received(self, data: bytes) -> None:
        """The same for bytes handed over whole (tests, and transports without buffer support)."""
        self.decoder.receive_data(data)
        self.frames_arrived()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        self.writable.set()
        # Nobody is left to answer: stop waiting (a long-poll fetch would otherwise linger).
        if self.worker is not None and not self.worker.done():
            self.worker.cancel()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # --- processing, strictly in order ---

    def frames_arrived(self) -> None:
        if self.closed:
            return
        try:
            while (frame := self.decoder.next_frame()) is not None:
                self.pending.append(frame)
        except FrameTooLargeError as exc:
            self.close(f"request too large: {exc}")
            return
        self.maybe_pause_reading()
        if self.pending and not self.processing:
            self.start_processing()

    def start_processing(self) -> None:
        """Run `process` eagerly; hand it to a task only if it has to wait."""
        self.processing = True
        coro = self.process()
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return
        self.worker = asyncio.get_running_loop().create_task(_CarryOn(coro, waiting_on))

    async def process(self) -> None:
        try:
            while self.pending and not self.closed:
                frame = self.pending.popleft()
                self.maybe_resume_reading()
                try:
                    if self.session is None:
                        response = await self.server.dispatcher.handle(frame, self.peer)
                    else:
                        response = await self.server.dispatcher.handle(
                            frame, self.peer, self.session
                        )
                except CloseConnection as exc:
                    if exc.final is not None:
                        self.outgoing.append(exc.final)  # written by close(), then the socket goes
                    self.close(str(exc))
                    return
                except Exception:
                    log.exception("closing connection from %s: request handler failed", self.peer)
                    self.close(None)
                    return
                del frame  # a large frame's pooled buffer is free once nothing views it
                if response is not None and self.transport is not None and not self.closed:
                    self.send(response)
                    if not self.writable.is_set():
                        await self.writable.wait()
                if self.session is not None and self.session.muted_until_ms:
                    await self._maybe_wait_muted()
            self.flush()
        finally:
            self.processing = False
            self.worker = None

    async def _maybe_wait_muted(self) -> None:
        """A client over its quota: the answer goes out now, the next request waits (KIP-219)."""
        assert self.session is not None
        delay_ms = self.session.muted_until_ms - self.server.dispatcher.services.clock.now_ms()
        self.session.muted_until_ms = 0
        if delay_ms > 0:
            self.flush()
            await asyncio.sleep(delay_ms / 1000)

    def send(self, response: bytes) -> None:
        """Write `response`, or hold it for one write with the answers to frames already queued."""
        self.outgoing.append(response)
        self.outgoing_bytes += len(response)
        if (
            self.pending
            and len(self.outgoing) < MAX_COALESCED_RESPONSES
            and self.outgoing_bytes < COALESCE_BYTES
        ):
            if not self.flush_scheduled:
                self.flush_scheduled = True
                asyncio.get_running_loop().call_soon(self.flush)
            return
        self.flush()

    def flush(self) -> None:
        """Write every held response, in order, in one call."""
        self.flush_scheduled = False
        outgoing, self.outgoing, self.outgoing_bytes = self.outgoing, [], 0
        if not outgoing or self.transport is None or self.closed:
            return
        if len(outgoing) == 1:
            self.transport.write(outgoing[0])
        else:
            self.transport.writelines(outgoing)

    def maybe_pause_reading(self) -> None:
        if len(self.pending) >= MAX_QUEUED_FRAMES and not self.reading_paused and self.transport:
            self.transport.pause_reading()
            self.reading_paused = True

    def maybe_resume_reading(self) -> None:
        if self.reading_paused and len(self.pending) < MAX_QUEUED_FRAMES // 2 and self.transport:
            self.transport.resume_reading()
            self.reading_paused = False

    def close(self, reason: str | None) -> None:
        if reason:
            log.warning("closing connection from %s: %s", self.peer, reason)
        self.flush()  # answers to the requests before the one that closes it still go out
        self.closed = True
        self.pending.clear()
        if self.transport is not None:
            self.transport.close()


class _CarryOn(Coroutine[Any, Any, None]):
    """A coroutine already started by hand, as a task can drive it: the first step passes up what
    it was waiting on when it stopped, later steps resume it, and a cancellation (even one before
    the first step) is thrown into it where it waits."""

    __slots__ = ("coro", "started", "waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self.coro = coro
        self.waiting_on = waiting_on
        self.started = False

    def send(self, value: Any) -> Any:
        if not self.started:
            self.started = True
            return self.waiting_on
        return self.coro.send(value)

    def throw(self, *exc_info: Any) -> Any:
        self.started = True
        return self.coro.throw(*exc_info)

    def close(self) -> None:
        self.coro.close()

    def __await__(self) -> Generator[Any, Any, None]:
        return (yield from _driven(self))


def _driven(coro: _CarryOn) -> Generator[Any, Any, None]:
    """`await` on a `_CarryOn` (the event loop's task drives it through send/throw instead)."""
    value = coro.send(None)
    while True:
        try:
            sent = yield value
        except BaseException as exc:
            try:
                value = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                value = coro.send(sent)
            except StopIteration:
                return


class BrokerServer:
    def __init__(self, dispatcher: Dispatcher, max_request_bytes: int) -> None:
        self.dispatcher = dispatcher
        self.max_request_bytes = max_request_bytes
        self.buffer_pool = BufferPool()  # large-frame buffers, shared by every connection
        self.connections: set[KafkaConnection] = set()
        self._servers: list[asyncio.Server] = []

    async def start(self, host: str, port: int, listener: ListenerSecurity | None = None) -> int:
        """Listen (with the listener's TLS and SASL, if any); return the bound port (useful when
        port is 0). Called once per listener."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: KafkaConnection(self, listener),
            host,
            port,
            reuse_address=True,
            backlog=1024,
            ssl=None if listener is None else listener.ssl_context,
        )
        self._servers.append(server)
        sock = server.sockets[0]
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        workers = [c.worker for c in self.connections if c.worker is not None]
        for conn in list(self.connections):
            conn.close(None)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
