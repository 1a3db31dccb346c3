"""The request header as the broker reads it for any api key and version (below codec and errors,
which both use it)."""

from __future__ import annotations

from dataclasses import dataclass


# Slotted but not frozen: a frozen dataclass costs a microsecond more to build, and one is built for
# every request.
@dataclass(slots=True)
class RequestHeaderInfo:
    """A request header, readable for any api key and version."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
