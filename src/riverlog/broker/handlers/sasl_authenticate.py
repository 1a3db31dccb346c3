"""SaslAuthenticate (key 36): one SASL token each way, after a v1 SaslHandshake.

A failed exchange answers SASL_AUTHENTICATION_FAILED with Kafka's message and closes the connection.
v1+ carries the session lifetime (KIP-368: `connections.max.reauth.ms`, 0 when sessions do not
expire); the client re-authenticates before it ends.
"""

from __future__ import annotations

import datetime

from kio.schema.errors import ErrorCode
from kio.static.primitive import i64Timedelta

from riverlog.broker.network.authn import AuthenticationFailed
from riverlog.broker.network.context import RequestContext
from riverlog.protocol.messages.sasl_authenticate import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
)

API_KEY = 36
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = SaslAuthenticateRequest


def _lifetime(ms: int) -> datetime.timedelta:
    return i64Timedelta.parse(datetime.timedelta(milliseconds=ms))


async def handle(ctx: RequestContext, request: SaslAuthenticateRequest) -> SaslAuthenticateResponse:
    session = ctx.session
    if session is None or session.exchange is None or session.raw_tokens:
        if session is not None:
            session.close_reason = "SaslAuthenticate without a SaslHandshake v1"
        return SaslAuthenticateResponse(
            error_code=ErrorCode.illegal_sasl_state,
            error_message="Unexpected SaslAuthenticate request: no SASL handshake (v1) preceded it",
            auth_bytes=b"",
            session_lifetime=_lifetime(0),
        )
    now = ctx.services.clock.now_ms()
    try:
        token = session.authenticate(bytes(request.auth_bytes), now)
    except AuthenticationFailed as exc:
        return SaslAuthenticateResponse(
            error_code=ErrorCode.sasl_authentication_failed,
            error_message=str(exc),
            auth_bytes=b"",
            session_lifetime=_lifetime(0),
        )
    return SaslAuthenticateResponse(
        error_code=ErrorCode.none,
        error_message=None,
        auth_bytes=token,
        session_lifetime=_lifetime(session.lifetime_ms(now) if session.authenticated else 0),
    )
