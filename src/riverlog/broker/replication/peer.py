"""A connection from this broker to another one (inter-broker requests: replica fetches, epochs).

One request at a time per connection: concurrent callers (marker writes and transaction checks for
several producers) queue on a lock, so a response is always read by the caller that sent its
request. Requests and responses are kio entities encoded by `riverlog.protocol.codec`. Any error
closes the connection; the caller reconnects.

Security: connections use the inter-broker listener's protocol (`PeerSecurity`, from
`inter.broker.listener.name`): TLS with that listener's `ssl.*` settings, and SASL with
`sasl.mechanism.inter.broker.protocol` and the `username`/`password` options of the listener's
`listener.name.<l>.<mechanism>.sasl.jaas.config` (Kafka's rule). With a session lifetime (KIP-368)
the connection is re-opened, and so re-authenticated, before the session ends.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any

from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import ConfigError
from riverlog.broker.responses import request_schema
from riverlog.protocol.codec import decode_response, encode_request
from riverlog.security.sasl_plain import JaasError, parse_jaas
from riverlog.security.scram import ScramClient, ScramError, ScramMechanism

CLIENT_ID = "riverlog-replica"
REAUTH_MARGIN = 0.85  # re-open a connection after this share of its session lifetime


@dataclass(frozen=True, slots=True)
class PeerSecurity:
    """How this broker connects to the others (the inter-broker listener's security)."""

    ssl_context: ssl.SSLContext | None = None
    mechanism: str | None = None
    username: str = ""
    password: str = ""


_SECURITY_CACHE: dict[int, tuple[BrokerConfig, PeerSecurity | None]] = {}


def inter_broker_security(config: BrokerConfig) -> PeerSecurity | None:
    """The inter-broker listener's client security (None for PLAINTEXT, and for a single node, which
    never connects to a peer); built once per config."""
    if not config.get("zookeeper.connect"):
        return None
    cached = _SECURITY_CACHE.get(id(config))
    if cached is not None and cached[0] is config:
        return cached[1]
    from riverlog.broker.listeners import plan_listeners

    plan = plan_listeners(config)
    listener = plan.listener(plan.inter_broker)
    security: PeerSecurity | None = None
    if listener.protocol != "PLAINTEXT":
        context = None
        if listener.uses_tls:
            from riverlog.broker.tls import client_context

            context = client_context(listener.name, config)
        mechanism = username = password = None
        if listener.uses_sasl:
            mechanism = (
                config.for_listener_str(listener.name, "sasl.mechanism.inter.broker.protocol")
                or "GSSAPI"
            ).upper()
            username, password = _jaas_login(config, listener.name, mechanism)
        security = PeerSecurity(context, mechanism, username or "", password or "")
    _SECURITY_CACHE[id(config)] = (config, security)
    return security


def _jaas_login(config: BrokerConfig, listener: str, mechanism: str) -> tuple[str, str]:
    key = f"listener.name.{listener.lower()}.{mechanism.lower()}.sasl.jaas.config"
    text = config.for_listener_str(
        listener, f"{mechanism.lower()}.sasl.jaas.config"
    ) or config.for_listener_str(listener, "sasl.jaas.config")
    if mechanism not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        raise ConfigError(
            f"sasl.mechanism.inter.broker.protocol: {mechanism} is not supported "
            "(use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
        )
    if not text:
        raise ConfigError(f"{key}: the inter-broker listener needs username and password options")
    try:
        _, options = parse_jaas(text)
    except JaasError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    if not options.get("username") or "password" not in options:
        raise ConfigError(f'{key}: set username="..." password="..." for inter-broker logins')
    return options["username"], options["password"]


class PeerError(ConnectionError):
    """The peer could not be reached or answered with something that is not a response."""


class PeerConnection:
    def __init__(
        self, host: str, port: int, timeout_s: float, security: PeerSecurity | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.security = security
        self._reopen_at: float | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._correlation = 0
        self._lock = asyncio.Lock()

    async def request(self, request: Any, timeout_s: float | None = None) -> Any:
        async with self._lock:
            try:
                return await asyncio.wait_for(self._roundtrip(request), timeout_s or self.timeout_s)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                self.close()
                raise PeerError(f"{self.host}:{self.port}: {type(exc).__name__}: {exc}") from None

    async def _roundtrip(self, request: Any) -> Any:
        if self._reopen_at is not None and time.monotonic() >= self._reopen_at:
            self.close()  # the SASL session is about to end: a new connection re-authenticates
        if self._writer is None:
            await self._open()
        return await self._send(request)

    async def _send(self, request: Any) -> Any:
        assert self._reader is not None and self._writer is not None
        self._correlation += 1
        self._writer.write(encode_request(self._correlation, CLIENT_ID, request))
        await self._writer.drain()
        size = struct.unpack(">i", await self._reader.readexactly(4))[0]
        frame = await self._reader.readexactly(size)
        kind = type(request)
        return decode_response(frame, kind.__api_key__, kind.__version__).body

    async def _open(self) -> None:
        security = self.security
        context = None if security is None else security.ssl_context
        self._reader, self._writer = await asyncio.open_connection(
            self.host, self.port, ssl=context, server_hostname=self.host if context else None
        )
        self._reopen_at = None
        if security is not None and security.mechanism is not None:
            await self._authenticate(security)

    async def _authenticate(self, security: PeerSecurity) -> None:
        """SaslHandshake v1, then SaslAuthenticate rounds (PLAIN: one; SCRAM: two)."""
        assert security.mechanism is not None
        handshake = request_schema(17, 1).SaslHandshakeRequest(mechanism=security.mechanism)
        answer = await self._send(handshake)
        if answer.error_code.value != 0:
            raise ValueError(f"SASL handshake refused: {answer.error_code.name}")
        scram_mechanism = ScramMechanism.by_name(security.mechanism)
        if scram_mechanism is None:
            tokens = [f"\x00{security.username}\x00{security.password}".encode()]
            client = None
        else:
            client = ScramClient(scram_mechanism, security.username, security.password)
            tokens = [client.first()]
        lifetime_ms = 0
        step = 0
        while tokens:
            token = tokens.pop()
            request = request_schema(36, 2).SaslAuthenticateRequest(auth_bytes=token)
            answer = await self._send(request)
            if answer.error_code.value != 0:
                raise ValueError(f"SASL authentication failed: {answer.error_message}")
            lifetime_ms = int(answer.session_lifetime.total_seconds() * 1000)
            step += 1
            try:
                if client is not None and step == 1:
                    tokens.append(client.final(bytes(answer.auth_bytes)))
                elif client is not None:
                    client.verify(bytes(answer.auth_bytes))
            except ScramError as exc:
                raise ValueError(f"SCRAM exchange with the peer failed: {exc}") from None
        if lifetime_ms > 0:
            self._reopen_at = time.monotonic() + lifetime_ms / 1000 * REAUTH_MARGIN

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class PeerPool:
    """One connection per broker id, replaced when that broker's address changes."""

    def __init__(self, timeout_s: float, security: PeerSecurity | None = None) -> None:
        self.timeout_s = timeout_s
        self.security = security
        self._peers: dict[int, PeerConnection] = {}

    def get(self, broker_id: int, host: str, port: int) -> PeerConnection:
        peer = self._peers.get(broker_id)
        if peer is None or (peer.host, peer.port) != (host, port):
            if peer is not None:
                peer.close()
            peer = self._peers[broker_id] = PeerConnection(
                host, port, self.timeout_s, self.security
            )
        return peer


def call_blocking(
    host: str, port: int, request: Any, client_id: str = CLIENT_ID, timeout_s: float = 10.0
) -> Any:
    """One request on a fresh blocking connection (tools and tests); the decoded response body.
    Raises OSError when the broker cannot be reached or closes the connection."""
    with socket.create_connection((host, port), timeout=timeout_s) as conn:
        conn.sendall(encode_request(1, client_id, request))
        size = struct.unpack(">i", read_exactly(conn, 4))[0]
        frame = read_exactly(conn, size)
    kind = type(request)
    return decode_response(frame, kind.__api_key__, kind.__version__).body


def read_exactly(conn: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return bytes(data)
