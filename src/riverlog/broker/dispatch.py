"""Routes one decoded request to its handler module and encodes the answer.

Each handler module in `riverlog.broker.handlers` declares `API_KEY`, `MIN_VERSION`, `MAX_VERSION` and
`async def handle(ctx, request) -> response | None` (None: send nothing, as for acks=0 produce).
ApiVersions advertises exactly the registered ranges, so nothing is advertised that is not implemented.
The dispatcher takes modules or `HandlerSpec`s (the same constants, module imported on first use); a
spec is replaced by its module when its first request arrives.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kio.static.primitive import i32Timedelta

from riverlog.broker.authn import AuthenticationFailed, Session
from riverlog.broker.context import RequestContext
from riverlog.broker.handlers import HandlerSpec
from riverlog.broker.quotas import CpuTimed, QuotaManager
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
    """The request cannot be answered under the protocol: close this one connection (after
    writing `final`, the answer that tells the client why, when there is one)."""

    def __init__(self, reason: str, final: bytes | None = None) -> None:
        super().__init__(reason)
        self.final = final


# What a connection may send before it is authenticated (Kafka's SaslServerAuthenticator).
SASL_HANDSHAKE_KEY = 17
SASL_AUTHENTICATE_KEY = 36
BEFORE_AUTHENTICATION = frozenset({API_VERSIONS_KEY, SASL_HANDSHAKE_KEY, SASL_AUTHENTICATE_KEY})


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
        self.quotas: QuotaManager | None = None  # set by the node
        # One ResponseSchema per served (api key, version): building one per request showed in the
        # produce profile. Bounded by the advertised ranges (versions are checked first).
        self._schemas: dict[tuple[int, int], ResponseSchema] = {}

    async def handle(
        self, frame: bytes | memoryview, client_host: str, session: Session | None = None
    ) -> bytes | None:
        """Answer one request frame; raise CloseConnection when the protocol says to hang up."""
        started = time.perf_counter()
        if session is not None and session.raw_tokens:
            return self._raw_token(bytes(frame), session)
        try:
            decoded = decode_request(frame)
        except UnsupportedVersionError as exc:
            return self._unsupported(exc)
        except InvalidRequestError as exc:
            raise CloseConnection(f"malformed request: {exc}") from None
        header = decoded.header
        if (
            session is not None
            and (not session.authenticated or session.expires_at_ms is not None)
            and header.api_key not in BEFORE_AUTHENTICATION
        ):  # the common case (authenticated, no session lifetime) costs two attribute reads
            if not session.authenticated:
                raise CloseConnection(
                    f"api key {header.api_key} sent before SASL authentication completed"
                )
            if session.expired(self.services.clock.now_ms()):
                raise CloseConnection("SASL session expired: the client did not re-authenticate")
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
            session=session,
        )
        quotas = self.quotas
        if quotas is not None and quotas.active():
            return await self._handle_with_quotas(ctx, module, decoded.body, len(frame), quotas)
        response: Any = await module.handle(ctx, decoded.body)
        self.services.metrics.request(header.api_key, time.perf_counter() - started)
        if response is None:
            return None
        encoded = encode_response(
            header.correlation_id, header.api_key, header.api_version, response
        )
        if session is not None and session.close_reason is not None:
            raise CloseConnection(session.close_reason, final=encoded)
        return encoded

    async def _handle_with_quotas(
        self, ctx: RequestContext, module: Any, body: Any, request_bytes: int, quotas: QuotaManager
    ) -> bytes | None:
        """The same, recording the client's usage and answering with Kafka's throttle time; the
        connection is muted for that long after the answer (see riverlog.broker.quotas)."""
        started = time.perf_counter()
        timed = CpuTimed(module.handle(ctx, body))
        response: Any = await timed
        self.services.metrics.request(ctx.api_key, time.perf_counter() - started)
        encode_began = time.thread_time()
        encoded = (
            None
            if response is None
            else encode_response(ctx.correlation_id, ctx.api_key, ctx.api_version, response)
        )
        cpu_s = timed.seconds + time.thread_time() - encode_began
        principal = ctx.principal
        now_ms = self.services.clock.now_ms()
        throttle = quotas.throttle(
            ctx.api_key,
            principal.name,
            ctx.client_id or "",
            request_bytes,
            0 if encoded is None else len(encoded),
            cpu_s,
            now_ms,
            follower=_is_follower(body),
        )
        # a handler's own throttle (the controller mutation quota) counts when longer
        own = _own_throttle_ms(response)
        if throttle > own and response is not None and hasattr(response, "throttle_time"):
            delay = i32Timedelta.parse(datetime.timedelta(milliseconds=throttle))
            response = dataclasses.replace(response, throttle_time=delay)
            encoded = encode_response(ctx.correlation_id, ctx.api_key, ctx.api_version, response)
        throttle = max(throttle, own)
        if throttle > 0 and ctx.session is not None:
            ctx.session.muted_until_ms = now_ms + throttle
        if ctx.session is not None and ctx.session.close_reason is not None:
            raise CloseConnection(ctx.session.close_reason, final=encoded)
        return encoded

    def _raw_token(self, token: bytes, session: Session) -> bytes:
        """A bare SASL token after a v0 SaslHandshake; the answer is a bare token too. A failure
        closes the connection without an answer (Kafka's behaviour for v0)."""
        try:
            answer = session.authenticate(token, self.services.clock.now_ms())
        except AuthenticationFailed:
            raise CloseConnection("SASL authentication failed") from None
        return struct.pack(">i", len(answer)) + answer

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


def _is_follower(body: Any) -> bool:
    """A replica's fetch (replica id or replica state set): exempt from client quotas."""
    state = getattr(body, "replica_state", None)
    if state is not None and getattr(state, "replica_id", -1) >= 0:
        return True
    return int(getattr(body, "replica_id", -1)) >= 0


def _own_throttle_ms(response: Any) -> int:
    delay = getattr(response, "throttle_time", None)
    return 0 if delay is None else int(delay.total_seconds() * 1000)
