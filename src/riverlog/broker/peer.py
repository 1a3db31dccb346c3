"""A connection from this broker to another one (inter-broker requests: replica fetches, epochs).

One request at a time per connection: concurrent callers (marker writes and transaction checks for
several producers) queue on a lock, so a response is always read by the caller that sent its
request. Requests and responses are kio entities encoded by `riverlog.protocol.codec`. Any error
closes the connection; the caller reconnects.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from riverlog.protocol.codec import decode_response, encode_request

CLIENT_ID = "riverlog-replica"


class PeerError(ConnectionError):
    """The peer could not be reached or answered with something that is not a response."""


class PeerConnection:
    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._correlation = 0
        self._lock = asyncio.Lock()

    async def request(self, request: Any, timeout_s: float | None = None) -> Any:
        async with self._lock:
            try:
                return await asyncio.wait_for(self._roundtrip(request), timeout_s or self.timeout_s)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                self.close()
                raise PeerError(f"{self.host}:{self.port}: {type(exc).__name__}: {exc}") from None

    async def _roundtrip(self, request: Any) -> Any:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._correlation += 1
        self._writer.write(encode_request(self._correlation, CLIENT_ID, request))
        await self._writer.drain()
        size = struct.unpack(">i", await self._reader.readexactly(4))[0]
        frame = await self._reader.readexactly(size)
        kind = type(request)
        return decode_response(frame, kind.__api_key__, kind.__version__).body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class PeerPool:
    """One connection per broker id, replaced when that broker's address changes."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._peers: dict[int, PeerConnection] = {}

    def get(self, broker_id: int, host: str, port: int) -> PeerConnection:
        peer = self._peers.get(broker_id)
        if peer is None or (peer.host, peer.port) != (host, port):
            if peer is not None:
                peer.close()
            peer = self._peers[broker_id] = PeerConnection(host, port, self.timeout_s)
        return peer


def call_blocking(
    host: str, port: int, request: Any, client_id: str = CLIENT_ID, timeout_s: float = 10.0
) -> Any:
    """One request on a fresh blocking connection (tools and tests); the decoded response body.
    Raises OSError when the broker cannot be reached or closes the connection."""
    with socket.create_connection((host, port), timeout=timeout_s) as conn:
        conn.sendall(encode_request(1, client_id, request))
        size = struct.unpack(">i", read_exactly(conn, 4))[0]
        frame = read_exactly(conn, size)
    kind = type(request)
    return decode_response(frame, kind.__api_key__, kind.__version__).body


def read_exactly(conn: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return bytes(data)
