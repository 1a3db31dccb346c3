"""Plumbing shared by the client commands (`topics`, `produce`, `consume`).

These commands are ordinary Kafka clients built on confluent-kafka: they talk to any Kafka broker over
the network and never import the server side of riverlog.

Failing fast: librdkafka retries an unreachable broker until an operation times out, so before building
a client we open (and close) one TCP connection to the bootstrap servers, and every client gets a short
`socket.timeout.ms` so a broker that accepts connections but never answers is reported within seconds.
Every Kafka error becomes a one-line `CliError` carrying the error's name and message.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypeVar

import typer
from confluent_kafka import KafkaError, KafkaException

from riverlog.cli.errors import CliError

ClientT = TypeVar("ClientT")

DEFAULT_BOOTSTRAP = "localhost:9092"
# Short enough that an unreachable or silent broker is reported within seconds; overridable with
# --command-config socket.timeout.ms=... (librdkafka needs it above fetch.wait.max.ms + 1000).
DEFAULT_SOCKET_TIMEOUT_MS = 5000
# How long admin operations (create, delete, alter) may take once the broker answers.
ADMIN_REQUEST_TIMEOUT_S = 30.0

# librdkafka's local error codes that mean "no broker answered".
_UNREACHABLE = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
    }
)

BootstrapOption = Annotated[
    str,
    typer.Option(
        "--bootstrap-server",
        "-b",
        metavar="HOST:PORT",
        help="HOST:PORT[,HOST:PORT...] of the Kafka brokers to contact",
    ),
]
CommandConfigOption = Annotated[
    list[str] | None,
    typer.Option(
        "--command-config",
        metavar="KEY=VALUE",
        help="KEY=VALUE client setting (librdkafka names), repeatable",
    ),
]


class MetadataSource(Protocol):
    """What AdminClient, Producer and Consumer share: a metadata request."""

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...


def parse_assignments(items: list[str] | None, what: str) -> dict[str, str]:
    """Parse repeated KEY=VALUE arguments; `what` names the option in the error."""
    parsed: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"bad {what} {item!r}: expected KEY=VALUE")
        parsed[key.strip()] = value
    return parsed


@dataclass(frozen=True)
class ClientSettings:
    """Where to connect and the user's extra client settings."""

    bootstrap: str
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_options(cls, bootstrap: str, command_config: list[str] | None) -> ClientSettings:
        extra = parse_assignments(command_config, "--command-config")
        return cls(extra.pop("bootstrap.servers", bootstrap), extra)

    @property
    def socket_timeout_s(self) -> float:
        raw = self.extra.get("socket.timeout.ms", str(DEFAULT_SOCKET_TIMEOUT_MS))
        try:
            return int(raw) / 1000
        except ValueError:
            raise CliError(f"bad socket.timeout.ms {raw!r}: expected milliseconds") from None

    def config(self, **defaults: Any) -> dict[str, Any]:
        """A confluent-kafka config: our defaults, then the user's --command-config on top."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "socket.timeout.ms": DEFAULT_SOCKET_TIMEOUT_MS,
            "socket.connection.setup.timeout.ms": DEFAULT_SOCKET_TIMEOUT_MS,
            "logger": librdkafka_logger(verbose="debug" in self.extra),
        }
        config.update(defaults)
        config.update(self.extra)
        return config


def librdkafka_logger(*, verbose: bool) -> logging.Logger:
    """librdkafka logs every failed connection; keep them off the terminal unless debugging."""
    logger = logging.getLogger("riverlog.cli.librdkafka")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler(sys.stderr) if verbose else logging.NullHandler())
    return logger


def bootstrap_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """Split `host:port,[v6]:port,SASL_SSL://host:port` into (host, port) pairs."""
    addresses = []
    for entry in bootstrap.split(","):
        entry = entry.strip().rpartition("://")[2]
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise CliError(f"bad bootstrap server {entry!r}: expected HOST:PORT")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def probe_bootstrap(settings: ClientSettings) -> None:
    """Fail fast when no bootstrap server accepts a TCP connection."""
    reasons = []
    for host, port in bootstrap_addresses(settings.bootstrap):
        try:
            with socket.create_connection((host, port), timeout=settings.socket_timeout_s):
                return
        except OSError as exc:
            reasons.append(exc.strerror or str(exc) or type(exc).__name__)
    raise CliError(
        f"cannot reach broker at {settings.bootstrap} ({'; '.join(reasons)}); "
        "is it running? pass --bootstrap-server HOST:PORT"
    )


def error_text(err: KafkaError) -> str:
    """`NAME: message`, the way every Kafka error is reported."""
    return f"{err.name()}: {err.str()}"


def exception_error(exc: BaseException) -> KafkaError | None:
    """The KafkaError inside a KafkaException (None for anything else)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def cli_error(exc: BaseException, action: str) -> CliError:
    """Turn a KafkaException (or anything else a future raised) into a one-line CliError."""
    err = exception_error(exc)
    return CliError(f"{action}: {error_text(err) if err is not None else exc}")


@contextmanager
def kafka_errors(action: str) -> Iterator[None]:
    """Re-raise KafkaException as a CliError: `<action>: NAME: message`."""
    try:
        yield
    except KafkaException as exc:
        raise cli_error(exc, action) from None


def create_client(factory: Callable[[dict[str, Any]], ClientT], config: dict[str, Any]) -> ClientT:
    """Build an AdminClient, Producer or Consumer; a bad --command-config is a one-line error."""
    with kafka_errors("bad client settings"):
        return factory(config)


def fetch_metadata(
    client: MetadataSource, settings: ClientSettings, topic: str | None = None
) -> Any:
    """One Metadata request; "cannot reach broker" when nobody answers in time."""
    try:
        return client.list_topics(topic, timeout=settings.socket_timeout_s)
    except KafkaException as exc:
        err = exception_error(exc)
        if err is not None and err.code() in _UNREACHABLE:
            raise CliError(
                f"cannot reach broker at {settings.bootstrap} ({error_text(err)})"
            ) from None
        raise cli_error(exc, "metadata request failed") from None


def topic_partitions(metadata: Any, topic: str) -> list[int]:
    """The partition ids of `topic` from a Metadata response; CliError when it does not exist."""
    described = metadata.topics.get(topic)
    if described is None:
        raise CliError(f"unknown topic {topic!r}")
    err = described.error
    if err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
        raise CliError(f"unknown topic {topic!r}; create it with `riverlog topics create {topic}`")
    if err is not None:
        raise CliError(f"topic {topic!r}: {error_text(err)}")
    return sorted(described.partitions)


def check_partition(partitions: list[int], topic: str, partition: int | None) -> None:
    """A --partition argument must name an existing partition."""
    if partition is not None and partition not in partitions:
        raise CliError(
            f"topic {topic!r} has no partition {partition} (it has {len(partitions)} partitions)"
        )
