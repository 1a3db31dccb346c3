"""One Kafka request on a plain socket, for the admin APIs confluent-kafka's AdminClient lacks
(transactions, partition reassignments)."""

from __future__ import annotations

from typing import Any

from riverlog.broker.replication.peer import call_blocking
from riverlog.cli.errors import CliError

TIMEOUT_S = 10.0


def call(address: tuple[str, int], request: Any) -> Any:
    """One request on a fresh connection; the decoded response body (CliError when unreachable)."""
    try:
        return call_blocking(address[0], address[1], request, "riverlog-cli", TIMEOUT_S)
    except OSError as exc:
        raise CliError(f"cannot reach {address[0]}:{address[1]}: {exc}") from None


def bootstrap_address(servers: str) -> tuple[str, int]:
    host, _, port = servers.split(",")[0].strip().rpartition(":")
    if not host or not port.isdigit():
        raise CliError(f"bad bootstrap server {servers!r}: expected HOST:PORT")
    return host, int(port)
