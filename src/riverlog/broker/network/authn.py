"""Authentication state of listeners and connections: who is on the other end, and whether they may
send anything yet.

Invariants:
- A connection on a SASL listener is `authenticated` only after a SASL exchange succeeded; until then
  the dispatcher lets through ApiVersions, SaslHandshake and SaslAuthenticate only (and, after a v0
  handshake, raw SASL tokens) and closes the connection on anything else (Kafka's
  SaslServerAuthenticator).
- A failed exchange answers once with Kafka's error and closes the connection (`close_reason`).
- With `connections.max.reauth.ms` > 0 (KIP-368) a session ends `reauth_ms` after it was
  authenticated; the client re-authenticates (SaslHandshake v1 + SaslAuthenticate, same mechanism,
  same principal) on the same connection, and a request other than those after the end closes it.
- Principals: PLAINTEXT and SSL without a client certificate are `User:ANONYMOUS`; SSL with a
  verified client certificate is the DN through `ssl.principal.mapping.rules`; SASL is the username.
- Secrets never reach a log line: attempts log the mechanism, the username and the peer only.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import ConfigError
from riverlog.broker.listeners import Listener
from riverlog.security.oauthbearer import (
    INVALID_TOKEN_ANSWER,
    OAuthBearerError,
    UnsecuredValidator,
)
from riverlog.security.principal import (
    ANONYMOUS_PRINCIPAL,
    KafkaPrincipal,
    PrincipalMappingError,
    SslPrincipalMapper,
    format_dn,
)
from riverlog.security.sasl_plain import (
    JaasError,
    PlainError,
    authenticate_plain,
    parse_jaas,
    plain_users,
)
from riverlog.security.scram import ScramCredential, ScramError, ScramMechanism, ScramServer

log = logging.getLogger(__name__)
SUPPORTED_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
OAUTHBEARER_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"

# (user, mechanism) → the stored credential, or None.
ScramLookup = Callable[[str, ScramMechanism], ScramCredential | None]


class AuthenticationFailed(Exception):
    """A SASL exchange failed; the message is what Kafka tells the client (no secrets)."""


@dataclass(frozen=True, slots=True)
class ListenerSecurity:
    """A listener's security settings, resolved once at start."""

    name: str
    protocol: str
    ssl_context: ssl.SSLContext | None = None
    mapper: SslPrincipalMapper = field(default_factory=SslPrincipalMapper)
    mechanisms: tuple[str, ...] = ()
    plain_users: dict[str, str] = field(default_factory=dict)
    oauthbearer: UnsecuredValidator = field(default_factory=UnsecuredValidator)
    reauth_ms: int = 0
    max_receive_size: int = 524288

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def listener_security(config: BrokerConfig, listener: Listener) -> ListenerSecurity:
    """Resolve a listener's `ssl.*`/`sasl.*` settings (per-listener overrides first)."""
    name = listener.name
    context = None
    if listener.uses_tls:
        from riverlog.broker.tls import server_context

        context = server_context(name, config)
    try:
        mapper = SslPrincipalMapper(
            config.for_listener_str(name, "ssl.principal.mapping.rules") or "DEFAULT"
        )
    except PrincipalMappingError as exc:
        raise ConfigError(str(exc)) from None
    mechanisms: tuple[str, ...] = ()
    users: dict[str, str] = {}
    validator = UnsecuredValidator()
    if listener.uses_sasl:
        key = f"listener.name.{name.lower()}.sasl.enabled.mechanisms"
        mechanisms = tuple(
            m.strip().upper()
            for m in (config.for_listener_str(name, "sasl.enabled.mechanisms") or "").split(",")
            if m.strip()
        )
        usable = tuple(m for m in mechanisms if m in SUPPORTED_MECHANISMS)
        if not usable:
            raise ConfigError(
                f"{key if key in config.explicit else 'sasl.enabled.mechanisms'}: listener {name} "
                f"uses SASL but enables no supported mechanism (got {', '.join(mechanisms) or 'none'}; "
                f"use {', '.join(SUPPORTED_MECHANISMS)})"
            )
        mechanisms = usable
        if "PLAIN" in mechanisms:
            users = _plain_users(config, name)
        if "OAUTHBEARER" in mechanisms:
            validator = _oauthbearer_validator(config, name)
    reauth = config.for_listener(name, "connections.max.reauth.ms")
    max_receive = config.for_listener(name, "sasl.server.max.receive.size")
    return ListenerSecurity(
        name=name,
        protocol=listener.protocol,
        ssl_context=context,
        mapper=mapper,
        mechanisms=mechanisms,
        plain_users=users,
        oauthbearer=validator,
        reauth_ms=int(str(reauth or 0)),
        max_receive_size=int(str(max_receive or 524288)),
    )


def _plain_users(config: BrokerConfig, listener: str) -> dict[str, str]:
    key = f"listener.name.{listener.lower()}.plain.sasl.jaas.config"
    text = config.for_listener_str(listener, "plain.sasl.jaas.config") or config.for_listener_str(
        listener, "sasl.jaas.config"
    )
    if text is None:
        raise ConfigError(
            f"{key}: listener {listener} enables PLAIN but has no JAAS config with users "
            f'(e.g. {PLAIN_MODULE} required user_alice="alice-secret";)'
        )
    try:
        module, options = parse_jaas(text)
    except JaasError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    if module != PLAIN_MODULE:
        raise ConfigError(f"{key}: expected {PLAIN_MODULE}, got {module}")
    return plain_users(options)


def _oauthbearer_validator(config: BrokerConfig, listener: str) -> UnsecuredValidator:
    """Kafka's unsecured validator options from `listener.name.<l>.oauthbearer.sasl.jaas.config`
    (optional here: without it the defaults apply)."""
    key = f"listener.name.{listener.lower()}.oauthbearer.sasl.jaas.config"
    text = config.for_listener_str(listener, "oauthbearer.sasl.jaas.config")
    if text is None:
        return UnsecuredValidator()
    try:
        module, options = parse_jaas(text)
        if module != OAUTHBEARER_MODULE:
            raise ConfigError(f"{key}: expected {OAUTHBEARER_MODULE}, got {module}")
        return UnsecuredValidator.from_jaas_options(options)
    except (JaasError, OAuthBearerError) as exc:
        raise ConfigError(f"{key}: {exc}") from None


class SaslExchange:
    """One SASL exchange for one mechanism: `step(token)` returns the next server token."""

    def __init__(self, mechanism: str, listener: ListenerSecurity, scram: ScramLookup) -> None:
        self.mechanism = mechanism
        self.listener = listener
        self.scram_lookup = scram
        self.username: str | None = None
        self.done = False
        scram_mechanism = ScramMechanism.by_name(mechanism)
        self._scram = ScramServer(scram_mechanism) if scram_mechanism is not None else None
        self._step = 0
        self._failure = "invalid OAUTHBEARER exchange"

    def step(self, token: bytes, now_ms: int = 0) -> bytes:
        if self.done:
            raise AuthenticationFailed("Authentication already completed")
        if len(token) > self.listener.max_receive_size:
            raise AuthenticationFailed("SASL token larger than sasl.server.max.receive.size")
        if self.mechanism == "OAUTHBEARER":
            return self._oauthbearer_step(token, now_ms)
        if self._scram is None:
            try:
                self.username = authenticate_plain(token, self.listener.plain_users)
            except PlainError as exc:
                raise AuthenticationFailed(str(exc)) from None
            self.done = True
            return b""
        return self._scram_step(self._scram, token)

    def _oauthbearer_step(self, token: bytes, now_ms: int) -> bytes:
        """RFC 7628: a bad token is answered with an error JSON; the client's \\x01 ends it."""
        self._step += 1
        if self._step == 1:
            try:
                self.username = self.listener.oauthbearer.principal(token, now_ms)
            except OAuthBearerError as exc:
                self._failure = str(exc)
                return INVALID_TOKEN_ANSWER
            self.done = True
            return b""
        raise AuthenticationFailed(f"Authentication failed: {self._failure}")

    def _scram_step(self, server: ScramServer, token: bytes) -> bytes:
        failed = (
            "Authentication failed during authentication due to invalid credentials with "
            f"SASL mechanism {self.mechanism}"
        )
        try:
            self._step += 1
            if self._step == 1:
                user = server.first(token)
                if server.extensions.get("tokenauth", "false").lower() == "true":
                    raise AuthenticationFailed(
                        "Authentication failed: delegation tokens are not supported"
                    )
                credential = self.scram_lookup(user, server.mechanism)
                if credential is None:
                    self.username = user
                    raise AuthenticationFailed(failed)
                self.username = user
                return server.challenge(credential)
            if self._step == 2:
                final = server.final(token)
                self.done = True
                return final
        except ScramError as exc:
            log.debug("SCRAM exchange failed: %s", exc)
            raise AuthenticationFailed(failed) from None
        raise AuthenticationFailed("Unexpected SASL token after the exchange completed")


@dataclass
class Session:
    """One connection's security state (see the module invariants)."""

    listener: ListenerSecurity
    peer: str
    principal: KafkaPrincipal = ANONYMOUS_PRINCIPAL
    authenticated: bool = True
    mechanism: str | None = None
    exchange: SaslExchange | None = None
    raw_tokens: bool = False  # after a v0 SaslHandshake: frames are bare SASL tokens
    expires_at_ms: int | None = None
    reauthenticating: bool = False
    close_reason: str | None = None  # answer the current request, then close
    muted_until_ms: int = 0  # quota throttling: the next request waits until then

    @classmethod
    def open(cls, listener: ListenerSecurity, peer: str, ssl_object: object | None) -> Session:
        """A new connection; raises AuthenticationFailed when its certificate maps to no principal."""
        session = cls(listener, peer, authenticated=not listener.uses_sasl)
        if isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            cert = ssl_object.getpeercert()
            subject = cert.get("subject") if cert else None
            if subject:
                dn = format_dn(subject)  # type: ignore[arg-type]
                try:
                    session.principal = KafkaPrincipal.user(listener.mapper.name(dn))
                except PrincipalMappingError as exc:
                    raise AuthenticationFailed(str(exc)) from None
        return session

    def expired(self, now_ms: int) -> bool:
        return self.expires_at_ms is not None and now_ms >= self.expires_at_ms

    def begin(self, mechanism: str, version: int, scram: ScramLookup) -> None:
        """A SaslHandshake chose `mechanism`."""
        self.reauthenticating = self.authenticated
        self.mechanism = mechanism
        self.exchange = SaslExchange(mechanism, self.listener, scram)
        self.raw_tokens = version == 0

    def authenticate(self, token: bytes, now_ms: int) -> bytes:
        """Feed one token; on completion the session is authenticated. AuthenticationFailed
        marks the connection for closing."""
        exchange = self.exchange
        if exchange is None:
            raise AuthenticationFailed("SaslAuthenticate before SaslHandshake")
        try:
            answer = exchange.step(token, now_ms)
        except AuthenticationFailed as exc:
            log.warning(
                "SASL %s authentication of %r from %s failed: %s",
                exchange.mechanism,
                exchange.username or "?",
                self.peer,
                exc,
            )
            self.close_reason = "SASL authentication failed"
            raise
        if exchange.done:
            self._complete(exchange, now_ms)
        return answer

    def _complete(self, exchange: SaslExchange, now_ms: int) -> None:
        assert exchange.username is not None
        principal = KafkaPrincipal.user(exchange.username)
        if self.reauthenticating and principal != self.principal:
            self.close_reason = "re-authentication changed the principal"
            raise AuthenticationFailed(
                "Cannot change principals during re-authentication from "
                f"{self.principal}: {principal}"
            )
        self.principal = principal
        self.authenticated = True
        self.exchange = None
        self.raw_tokens = False
        self.reauthenticating = False
        reauth = self.listener.reauth_ms
        self.expires_at_ms = now_ms + reauth if reauth > 0 else None
        log.info(
            "SASL %s authentication of %s from %s succeeded",
            exchange.mechanism,
            principal,
            self.peer,
        )

    def lifetime_ms(self, now_ms: int) -> int:
        return 0 if self.expires_at_ms is None else max(0, self.expires_at_ms - now_ms)
