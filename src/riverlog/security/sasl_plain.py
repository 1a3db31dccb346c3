"""SASL PLAIN (RFC 4616) and the JAAS option syntax Kafka reads users from.

PLAIN's one message is `[authzid] NUL authcid NUL password`. As Kafka's PlainServerCallbackHandler,
the users are the `user_<name>="<password>"` options of the listener's
`listener.name.<l>.plain.sasl.jaas.config` (`PlainLoginModule required user_alice="alice-secret";`);
an authzid other than the username is refused. Passwords are compared in constant time.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping


class PlainError(ValueError):
    """PLAIN authentication failed; the message carries no secret."""


class JaasError(ValueError):
    """A JAAS config string could not be parsed."""


_OPTION = re.compile(r'\s*([A-Za-z0-9_.\-]+)\s*=\s*(?:"((?:\\.|[^"\\])*)"|([^\s;"]+))')


def parse_jaas(text: str) -> tuple[str, dict[str, str]]:
    """`<LoginModule class> <flag> key="value" ...;` → (module class, options)."""
    body = text.strip()
    if not body.endswith(";"):
        raise JaasError("a JAAS config must end with ';'")
    body = body[:-1].strip()
    head = body.split(None, 2)
    if len(head) < 2 or head[1] not in ("required", "requisite", "sufficient", "optional"):
        raise JaasError("expected '<LoginModule class> required key=\"value\" ...;'")
    module = head[0]
    rest = head[2] if len(head) > 2 else ""
    options: dict[str, str] = {}
    position = 0
    while rest[position:].strip():
        match = _OPTION.match(rest, position)
        if match is None:
            raise JaasError(f"cannot parse JAAS options near {rest[position : position + 20]!r}")
        quoted = match.group(2)
        value = match.group(3) if quoted is None else re.sub(r"\\(.)", r"\1", quoted)
        options[match.group(1)] = value
        position = match.end()
    return module, options


def plain_users(options: Mapping[str, str]) -> dict[str, str]:
    """The `user_<name>` options of a PlainLoginModule config → {name: password}."""
    return {key[5:]: value for key, value in options.items() if key.startswith("user_")}


def authenticate_plain(message: bytes, users: Mapping[str, str]) -> str:
    """Check one PLAIN message; return the authenticated username."""
    parts = message.split(b"\x00")
    if len(parts) != 3:
        raise PlainError("invalid PLAIN message: expected authzid NUL username NUL password")
    try:
        authzid, username, password = (part.decode("utf-8") for part in parts)
    except UnicodeDecodeError:
        raise PlainError("invalid PLAIN message: not UTF-8") from None
    if not username:
        raise PlainError("Authentication failed: username not specified")
    if not password:
        raise PlainError("Authentication failed: password not specified")
    if authzid and authzid != username:
        raise PlainError(
            "Authentication failed: Client requested an authorization id that is different from username"
        )
    expected = users.get(username)
    # Compare against something even for an unknown user, so timing does not tell users apart.
    if not hmac.compare_digest(password.encode(), (expected or "\x00" + password).encode()):
        raise PlainError("Authentication failed: Invalid username or password")
    if expected is None:
        raise PlainError("Authentication failed: Invalid username or password")
    return username
