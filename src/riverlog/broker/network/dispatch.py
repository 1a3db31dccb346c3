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
from types import ModuleType
from typing import TYPE_CHECKING, cast

from kio.static.primitive import i32Timedelta

from riverlog.broker.network.authn import AuthenticationFailed, Session
from riverlog.broker.network.context import RequestContext
from riverlog.broker.network.handler import Answer, Handler, HandlerSpec
from riverlog.broker.quotas import CpuTimed, QuotaManager
from riverlog.broker.replication.fetch_manager import fetch_replica_id
from riverlog.protocol.codec import (
    api_versions_v0_error,
    decode_request,
    encode_response,
)
from riverlog.protocol.errors import InvalidRequestError, UnsupportedVersionError
from riverlog.protocol.messages.fetch import FetchRequest
from riverlog.protocol.views import Message, from_entity, response_module, to_entity

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
    def __init__(
        self, services: BrokerServices, modules: Sequence[HandlerSpec | ModuleType]
    ) -> None:
        self.services = services
        # A handler module, or a HandlerSpec until its first request (see the module docstring).
        self.handlers: dict[int, HandlerSpec | Handler[object]] = {
            m.API_KEY: _handler(m) for m in modules
        }
        self.ranges = sorted(
            (ApiRange(m.API_KEY, m.MIN_VERSION, m.MAX_VERSION) for m in modules),
            key=lambda r: r.api_key,
        )
        self.quotas: QuotaManager | None = None  # set by the node

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
        found = self.handlers.get(header.api_key)
        if found is None:
            raise CloseConnection(f"unsupported api key {header.api_key}")
        if isinstance(found, HandlerSpec):
            module = self.handlers[header.api_key] = _loaded(found)
        else:
            module = found
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
            session=session,
        )
        request = _request(module, decoded.body)
        quotas = self.quotas
        if quotas is not None and quotas.active():
            return await self._handle_with_quotas(ctx, module, request, len(frame), quotas)
        response = await module.handle(ctx, request)
        self.services.metrics.request(header.api_key, time.perf_counter() - started)
        if response is None:
            return None
        encoded = _encode(ctx, response)
        if session is not None and session.close_reason is not None:
            raise CloseConnection(session.close_reason, final=encoded)
        return encoded

    async def _handle_with_quotas(
        self,
        ctx: RequestContext,
        module: Handler[object],
        request: object,
        request_bytes: int,
        quotas: QuotaManager,
    ) -> bytes | None:
        """The same, recording the client's usage and answering with Kafka's throttle time; the
        connection is muted for that long after the answer (see riverlog.broker.quotas)."""
        started = time.perf_counter()
        timed = CpuTimed(module.handle(ctx, request))
        response = await timed
        self.services.metrics.request(ctx.api_key, time.perf_counter() - started)
        encode_began = time.thread_time()
        encoded = None if response is None else _encode(ctx, response)
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
            follower=_is_follower(request),
        )
        # a handler's own throttle (the controller mutation quota) counts when longer
        own = _own_throttle_ms(response)
        if throttle > own and response is not None and hasattr(response, "throttle_time"):
            delay = i32Timedelta.parse(datetime.timedelta(milliseconds=throttle))
            response = dataclasses.replace(response, throttle_time=delay)
            encoded = _encode(ctx, response)
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


def _is_follower(request: object) -> bool:
    """A replica's fetch (replica id or replica state set): exempt from client quotas."""
    return isinstance(request, FetchRequest) and fetch_replica_id(request) >= 0


def _own_throttle_ms(response: object) -> int:
    delay = getattr(response, "throttle_time", None)  # a response's, when it has one
    return int(delay.total_seconds() * 1000) if isinstance(delay, datetime.timedelta) else 0


def _handler(module: HandlerSpec | ModuleType) -> HandlerSpec | Handler[object]:
    """A module as the Handler it is (tests/unit/broker/test_handler_table.py checks each one)."""
    return module if isinstance(module, HandlerSpec) else cast("Handler[object]", module)


def _loaded(spec: HandlerSpec) -> Handler[object]:
    return cast("Handler[object]", spec.load())


def _request(handler: Handler[object], body: object) -> object:
    """The handler's typed request: the view of kio's decoded body, or the body itself when the
    codec decoded it to a typed request already (Produce)."""
    request_type = handler.REQUEST
    if request_type is None or not issubclass(request_type, Message):
        return body
    return from_entity(request_type, body)


def _encode(ctx: RequestContext, response: Answer) -> bytes:
    """The framed answer: a view becomes kio's class for the client's version."""
    if isinstance(response, Message):
        entity = to_entity(response, response_module(ctx.api_key, ctx.api_version))
        return encode_response(ctx.correlation_id, ctx.api_key, ctx.api_version, entity)
    return encode_response(ctx.correlation_id, ctx.api_key, ctx.api_version, response)
