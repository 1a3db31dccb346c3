"""SaslHandshake (key 17): the client names a SASL mechanism.

v0: the SASL tokens that follow are bare size-prefixed frames; v1: they travel in SaslAuthenticate
requests. A mechanism the listener does not enable answers UNSUPPORTED_SASL_MECHANISM with the
enabled list and closes the connection; a handshake on a listener without SASL, or a re-
authentication (KIP-368) with a different mechanism, answers ILLEGAL_SASL_STATE and closes.
"""

from __future__ import annotations

from collections.abc import Callable

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.protocol.messages.sasl_handshake import (
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)
from riverlog.security.scram import ScramCredential, ScramMechanism

API_KEY = 17
MIN_VERSION = 0
MAX_VERSION = 1
REQUEST = SaslHandshakeRequest


def scram_lookup(
    ctx: RequestContext,
) -> Callable[[str, ScramMechanism], ScramCredential | None]:
    def lookup(user: str, mechanism: ScramMechanism) -> ScramCredential | None:
        text = ctx.services.image.scram_credentials.get(user, {}).get(mechanism.mechanism_name)
        return None if text is None else ScramCredential.from_text(text)

    return lookup


async def handle(ctx: RequestContext, request: SaslHandshakeRequest) -> SaslHandshakeResponse:
    session = ctx.session
    enabled = session.listener.mechanisms if session is not None else ()
    mechanism = request.mechanism
    if session is None or not session.listener.uses_sasl:
        if session is not None:
            session.close_reason = "SaslHandshake on a listener without SASL"
        return SaslHandshakeResponse(error_code=ErrorCode.illegal_sasl_state, mechanisms=())
    if session.exchange is not None or (
        session.authenticated and (ctx.version == 0 or mechanism != session.mechanism)
    ):
        session.close_reason = "unexpected SaslHandshake"
        return SaslHandshakeResponse(error_code=ErrorCode.illegal_sasl_state, mechanisms=enabled)
    if mechanism not in enabled:
        session.close_reason = f"unsupported SASL mechanism {mechanism!r}"
        return SaslHandshakeResponse(
            error_code=ErrorCode.unsupported_sasl_mechanism,
            mechanisms=enabled,
        )
    session.begin(mechanism, ctx.version, scram_lookup(ctx))
    return SaslHandshakeResponse(error_code=ErrorCode.none, mechanisms=enabled)
