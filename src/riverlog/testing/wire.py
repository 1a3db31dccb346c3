"""One Kafka request over a plain socket: for APIs the Python clients never send, in tests."""

from __future__ import annotations

from typing import Any

from riverlog.broker.replication.peer import call_blocking


def call(port: int, request: Any, host: str = "127.0.0.1", timeout: float = 10) -> Any:
    """Send a kio request entity on a fresh connection; return the decoded response body."""
    return call_blocking(host, port, request, "riverlog-testing", timeout)
