"""Routes one decoded request to its handler module and encodes the answer.

Each handler module in `riverlog.broker.handlers` declares `API_KEY`, `MIN_VERSION`, `MAX_VERSION` and
`async def handle(ctx, request) -> response | None` (None: send nothing, as for acks=0 produce).
ApiVersions advertises exactly the registered ranges, so nothing is advertised that is not implemented.
The dispatcher takes modules or `HandlerSpec`s (the same constants, module imported on first use); a
spec is replaced by its module when its first request arrives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from riverlog.broker.context import RequestContext
from riverlog.broker.handlers import HandlerSpec
from riverlog.broker.responses import ResponseSchema
from riverlog.protocol.codec import (
    api_versions_v0_error,
    decode_request,
    encode_response,
)
from riverlog.protocol.errors import InvalidRequestError, UnsupportedVersionError

if TYPE_CHECKING:
    from riverlog.broker.services import BrokerServices

log = logging.getLogger(__name__)
API_VERSIONS_KEY = 18


class CloseConnection(Exception):
    """The request cannot be answered under the protocol: close this one connection."""


@dataclass(frozen=True, slots=True)
class ApiRange:
    api_key: int
    min_version: int
    max_version: int


class Dispatcher:
    def __init__(self, services: BrokerServices, modules: Sequence[Any]) -> None:
        self.services = services
        # A handler module, or a HandlerSpec until its first request (see the module docstring).
        self.handlers: dict[int, Any] = {m.API_KEY: m for m in modules}
        self.ranges = sorted(
            (ApiRange(m.API_KEY, m.MIN_VERSION, m.MAX_VERSION) for m in modules),
            key=lambda r: r.api_key,
        )
        # One ResponseSchema per served (api key, version): building one per request showed in the
        # produce profile. Bounded by the advertised ranges (versions are checked first).
        self._schemas: dict[tuple[int, int], ResponseSchema] = {}

    async def handle(self, frame: bytes | memoryview, client_host: str) -> bytes | None:
        """Answer one request frame; raise CloseConnection when the protocol says to hang up."""
        started = time.perf_counter()
        try:
            decoded = decode_request(frame)
        except UnsupportedVersionError as exc:
            return self._unsupported(exc)
        except InvalidRequestError as exc:
            raise CloseConnection(f"malformed request: {exc}") from None
        header = decoded.header
        module = self.handlers.get(header.api_key)
        if module is None:
            raise CloseConnection(f"unsupported api key {header.api_key}")
        if isinstance(module, HandlerSpec):
            module = self.handlers[header.api_key] = module.load()
        if not module.MIN_VERSION <= header.api_version <= module.MAX_VERSION:
            if header.api_key == API_VERSIONS_KEY:
                return self._api_versions_fallback(header.correlation_id)
            raise CloseConnection(
                f"unsupported version {header.api_version} of api key {header.api_key}"
            )
        ctx = RequestContext(
            services=self.services,
            api_key=header.api_key,
            api_version=header.api_version,
            correlation_id=header.correlation_id,
            client_id=header.client_id,
            client_host=client_host,
            schema=self._schema(header.api_key, header.api_version),
        )
        response: Any = await module.handle(ctx, decoded.body)
        self.services.metrics.request(header.api_key, time.perf_counter() - started)
        if response is None:
            return None
        return encode_response(header.correlation_id, header.api_key, header.api_version, response)

    def _schema(self, api_key: int, api_version: int) -> ResponseSchema:
        schema = self._schemas.get((api_key, api_version))
        if schema is None:
            schema = self._schemas[api_key, api_version] = ResponseSchema(api_key, api_version)
        return schema

    def _unsupported(self, exc: UnsupportedVersionError) -> bytes:
        header = exc.header
        if header.api_key == API_VERSIONS_KEY:
            return self._api_versions_fallback(header.correlation_id)
        raise CloseConnection(
            f"unsupported version {header.api_version} of api key {header.api_key}"
        )

    def _api_versions_fallback(self, correlation_id: int) -> bytes:
        supported = [(r.api_key, r.min_version, r.max_version) for r in self.ranges]
        return api_versions_v0_error(correlation_id, supported)
