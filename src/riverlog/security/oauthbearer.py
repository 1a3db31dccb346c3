"""SASL OAUTHBEARER (RFC 7628) with unsecured JWTs, as Kafka's default handlers for development
(OAuthBearerUnsecuredValidatorCallbackHandler): the token's header says `"alg": "none"`, it carries no
signature, and its claims give the principal. Never for production: anyone can write such a token.

Client message: `n,[a=authzid],\\x01auth=Bearer <token>\\x01[key=value\\x01...]\\x01`. Checks (Kafka's):
alg none; `exp` (seconds) not past, `iat` not in the future, beyond `allowable_clock_skew_ms`; the
principal claim (default `sub`) a non-empty string; every `required_scope` in the scope claim. A
failure answers `{"status":"invalid_token"}` (RFC 7628); the client's `\\x01` then ends the exchange.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class OAuthBearerError(ValueError):
    """The token or message is not acceptable; the message carries no token."""


@dataclass(frozen=True, slots=True)
class UnsecuredValidator:
    principal_claim: str = "sub"
    scope_claim: str = "scope"
    required_scope: Sequence[str] = field(default_factory=tuple)
    allowable_clock_skew_ms: int = 0

    @classmethod
    def from_jaas_options(cls, options: dict[str, str]) -> UnsecuredValidator:
        scope = options.get("unsecuredValidatorRequiredScope", "")
        try:
            skew = int(options.get("unsecuredValidatorAllowableClockSkewMs", "0"))
        except ValueError:
            raise OAuthBearerError(
                "unsecuredValidatorAllowableClockSkewMs must be a number"
            ) from None
        return cls(
            options.get("unsecuredValidatorPrincipalClaimName", "sub"),
            options.get("unsecuredValidatorScopeClaimName", "scope"),
            tuple(scope.split()),
            skew,
        )

    def principal(self, message: bytes, now_ms: int) -> str:
        """Check the client's first message; the principal name it authenticates."""
        return self._validate(token_of(message), now_ms)

    def _validate(self, token: str, now_ms: int) -> str:
        parts = token.split(".")
        if len(parts) != 3:
            raise OAuthBearerError("the token is not a JWT (header.payload.signature)")
        header, claims = _segment(parts[0]), _segment(parts[1])
        if header.get("alg") != "none":
            raise OAuthBearerError("only unsecured JWTs (alg none) are accepted")
        skew = self.allowable_clock_skew_ms
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or expires * 1000 + skew <= now_ms:
            raise OAuthBearerError("the token has no exp claim or has expired")
        issued = claims.get("iat")
        if issued is not None and (
            not isinstance(issued, int | float) or issued * 1000 - skew > now_ms
        ):
            raise OAuthBearerError("the token's iat claim is in the future")
        principal = claims.get(self.principal_claim)
        if not isinstance(principal, str) or not principal:
            raise OAuthBearerError(f"the token has no {self.principal_claim} claim")
        if self.required_scope:
            scope = claims.get(self.scope_claim)
            granted = set(scope.split() if isinstance(scope, str) else scope or [])
            if not set(self.required_scope) <= granted:
                raise OAuthBearerError("the token lacks a required scope")
        return principal


def _segment(text: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        raise OAuthBearerError("a JWT segment is not base64url JSON") from None
    if not isinstance(value, dict):
        raise OAuthBearerError("a JWT segment is not a JSON object")
    return value


def token_of(message: bytes) -> str:
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise OAuthBearerError("the message is not UTF-8") from None
    header, sep, rest = text.partition("\x01")
    if not sep or not header.startswith(("n,", "y,")) or not rest.endswith("\x01\x01"):
        raise OAuthBearerError("malformed OAUTHBEARER client message")
    fields = dict(item.split("=", 1) for item in rest[:-2].split("\x01") if "=" in item)
    auth = fields.get("auth", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise OAuthBearerError("no Bearer token in the message")
    return token


INVALID_TOKEN_ANSWER = b'{"status":"invalid_token"}'


def unsecured_token(principal: str, lifetime_s: int, now_s: int) -> str:
    """An unsecured JWT (for tests and tools), as Kafka's unsecured login module makes."""

    def encode(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"sub": principal, "iat": now_s, "exp": now_s + lifetime_s}
    return f"{encode({'alg': 'none'})}.{encode(claims)}."
