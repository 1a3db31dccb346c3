"""One Kafka request over a plain socket: for APIs the Python clients never send, in tests."""

from __future__ import annotations

import socket
import struct
from typing import Any

from riverlog.protocol.codec import decode_response, encode_request


def call(port: int, request: Any, host: str = "127.0.0.1", timeout: float = 10) -> Any:
    """Send a kio request entity on a fresh connection; return the decoded response body."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(encode_request(1, "riverlog-testing", request))
        size = struct.unpack(">i", _read(conn, 4))[0]
        frame = _read(conn, size)
    return decode_response(frame, type(request).__api_key__, type(request).__version__).body


def _read(conn: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return bytes(data)
