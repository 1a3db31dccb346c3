"""What every admin operation answers a client mistake with (never raised: handlers answer it per
topic or per resource)."""

from __future__ import annotations

from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from riverlog.broker.metadata_store import MetadataUnavailableError


@dataclass(frozen=True, slots=True)
class AdminError:
    code: ErrorCode
    message: str


def unknown_topic(name: str) -> AdminError:
    return AdminError(ErrorCode.unknown_topic_or_partition, f"topic {name!r} does not exist")


def unavailable(exc: MetadataUnavailableError) -> AdminError:
    """A controller that cannot complete a change answers REQUEST_TIMED_OUT in Kafka too."""
    return AdminError(ErrorCode.request_timed_out, str(exc))
