"""One Kafka request on a plain socket, for the admin APIs confluent-kafka's AdminClient lacks
(transactions, partition reassignments)."""

from __future__ import annotations

import socket
import struct
from typing import Any

from riverlog.cli.errors import CliError
from riverlog.protocol.codec import decode_response, encode_request

TIMEOUT_S = 10.0


def call(address: tuple[str, int], request: Any) -> Any:
    """One request on a fresh connection; the decoded response body (CliError when unreachable)."""
    try:
        with socket.create_connection(address, timeout=TIMEOUT_S) as conn:
            conn.sendall(encode_request(1, "riverlog-cli", request))
            size = struct.unpack(">i", _read(conn, 4))[0]
            frame = _read(conn, size)
    except OSError as exc:
        raise CliError(f"cannot reach {address[0]}:{address[1]}: {exc}") from None
    return decode_response(frame, type(request).__api_key__, type(request).__version__).body


def _read(conn: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return bytes(data)


def bootstrap_address(servers: str) -> tuple[str, int]:
    host, _, port = servers.split(",")[0].strip().rpartition(":")
    if not host or not port.isdigit():
        raise CliError(f"bad bootstrap server {servers!r}: expected HOST:PORT")
    return host, int(port)
