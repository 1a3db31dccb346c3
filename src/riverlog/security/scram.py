"""SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka runs them: credentials, their stored
form, and the server side of the exchange as a sans-I/O state machine.

Credentials are what Kafka stores (never the password): a random salt, the iteration count,
StoredKey = H(HMAC(SaltedPassword, "Client Key")) and ServerKey = HMAC(SaltedPassword, "Server Key")
with SaltedPassword = PBKDF2(password, salt, iterations). Their text form is Kafka's
`salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<n>` (ZooKeeper `/config/users/<user>`).

Exchange (server): client-first `n,,n=<user>,r=<cnonce>` → server-first `r=<cnonce+snonce>,s=<salt>,
i=<n>` → client-final `c=<b64 gs2 header>,r=<nonce>,p=<proof>` → server-final `v=<signature>`.
Usernames are SCRAM-escaped (`=2C` for `,`, `=3D` for `=`). Any deviation fails the exchange with
`ScramError`; the caller answers SASL_AUTHENTICATION_FAILED and closes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384
DEFAULT_ITERATIONS = 4096


class ScramError(ValueError):
    """The SCRAM exchange failed; the message is safe to log (it carries no secret)."""


class ScramMechanism(Enum):
    SCRAM_SHA_256 = ("SCRAM-SHA-256", "sha256", 1)
    SCRAM_SHA_512 = ("SCRAM-SHA-512", "sha512", 2)

    @property
    def mechanism_name(self) -> str:
        return self.value[0]

    @property
    def hash_name(self) -> str:
        return self.value[1]

    @property
    def type_code(self) -> int:
        """The mechanism's code in Alter/DescribeUserScramCredentials."""
        return self.value[2]

    @classmethod
    def by_name(cls, name: str) -> ScramMechanism | None:
        for mechanism in cls:
            if mechanism.mechanism_name == name:
                return mechanism
        return None

    @classmethod
    def by_code(cls, code: int) -> ScramMechanism | None:
        for mechanism in cls:
            if mechanism.type_code == code:
                return mechanism
        return None


@dataclass(frozen=True, slots=True)
class ScramCredential:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def to_text(self) -> str:
        b64 = base64.b64encode
        return (
            f"salt={b64(self.salt).decode()},stored_key={b64(self.stored_key).decode()},"
            f"server_key={b64(self.server_key).decode()},iterations={self.iterations}"
        )

    @classmethod
    def from_text(cls, text: str) -> ScramCredential:
        try:
            fields = dict(part.split("=", 1) for part in text.split(","))
            return cls(
                base64.b64decode(fields["salt"], validate=True),
                base64.b64decode(fields["stored_key"], validate=True),
                base64.b64decode(fields["server_key"], validate=True),
                int(fields["iterations"]),
            )
        except (KeyError, ValueError) as exc:
            raise ScramError(f"invalid SCRAM credential text: {exc}") from None


def salted_password(
    mechanism: ScramMechanism, password: bytes, salt: bytes, iterations: int
) -> bytes:
    return hashlib.pbkdf2_hmac(mechanism.hash_name, password, salt, iterations)


def credential_from_salted(
    mechanism: ScramMechanism, salted: bytes, salt: bytes, iterations: int
) -> ScramCredential:
    """The stored form from a salted password (what AlterUserScramCredentials carries)."""
    client_key = _hmac(mechanism, salted, b"Client Key")
    stored_key = hashlib.new(mechanism.hash_name, client_key).digest()
    server_key = _hmac(mechanism, salted, b"Server Key")
    return ScramCredential(salt, stored_key, server_key, iterations)


def make_credential(
    mechanism: ScramMechanism,
    password: str,
    iterations: int = DEFAULT_ITERATIONS,
    salt: bytes | None = None,
) -> ScramCredential:
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ScramError(
            f"iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}, got {iterations}"
        )
    salt = salt if salt is not None else secrets.token_bytes(32)
    salted = salted_password(mechanism, password.encode(), salt, iterations)
    return credential_from_salted(mechanism, salted, salt, iterations)


def _hmac(mechanism: ScramMechanism, key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, mechanism.hash_name).digest()


def unescape_username(name: str) -> str:
    if "=" in name.replace("=2C", "").replace("=3D", ""):
        raise ScramError("invalid username escaping")
    return name.replace("=2C", ",").replace("=3D", "=")


def _attributes(message: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise ScramError("malformed SCRAM message")
        fields[key] = value
    return fields


class ScramServer:
    """One server-side SCRAM exchange. `first(message)` reads the client-first message and names
    the user; the caller looks the credential up and calls `challenge(credential)`; `final(message)`
    checks the proof and returns the server-final message. Each step may raise ScramError."""

    def __init__(self, mechanism: ScramMechanism, nonce: str | None = None) -> None:
        self.mechanism = mechanism
        self.server_nonce = nonce or secrets.token_urlsafe(24)
        self.username = ""
        self.extensions: dict[str, str] = {}
        self._client_first_bare = ""
        self._server_first = ""
        self._gs2_header = ""
        self._nonce = ""
        self._client_nonce = ""
        self._credential: ScramCredential | None = None
        self.complete = False

    def first(self, message: bytes) -> str:
        """Parse client-first; return the (unescaped) username."""
        text = _decode(message)
        parts = text.split(",", 2)
        if (
            len(parts) != 3
            or parts[0] not in ("n", "y")
            or (parts[1] and not parts[1].startswith("a="))
        ):
            raise ScramError("invalid SCRAM client-first message (expected n,,n=<user>,r=<nonce>)")
        self._gs2_header = f"{parts[0]},{parts[1]},"
        self._client_first_bare = parts[2]
        fields = _attributes_ordered(parts[2])
        if len(fields) < 2 or fields[0][0] != "n" or fields[1][0] != "r" or not fields[1][1]:
            raise ScramError("invalid SCRAM client-first message (expected n=<user>,r=<nonce>)")
        self.username = unescape_username(fields[0][1])
        if not self.username:
            raise ScramError("empty SCRAM username")
        self.extensions = {key: value for key, value in fields[2:]}
        self._client_nonce = fields[1][1]
        self._nonce = fields[1][1] + self.server_nonce
        return self.username

    def challenge(self, credential: ScramCredential) -> bytes:
        self._credential = credential
        salt = base64.b64encode(credential.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={credential.iterations}"
        return self._server_first.encode()

    def final(self, message: bytes) -> bytes:
        if self._credential is None:
            raise ScramError("SCRAM client-final before client-first")
        text = _decode(message)
        without_proof, sep, proof_text = text.rpartition(",p=")
        if not sep:
            raise ScramError("invalid SCRAM client-final message (no proof)")
        fields = _attributes(without_proof)
        expected_binding = base64.b64encode(self._gs2_header.encode()).decode()
        if fields.get("c") != expected_binding:
            raise ScramError("invalid SCRAM channel binding")
        # librdkafka before 2.6.1 sends the client nonce twice (cnonce + cnonce + snonce); Kafka 3.8.1
        # to 3.9 accepted that (a suffix check), so riverlog accepts exactly that form too. Any
        # other nonce fails, and the proof covers what the client sent either way.
        if fields.get("r") not in (self._nonce, self._client_nonce + self._nonce):
            raise ScramError("invalid SCRAM nonce")
        try:
            proof = base64.b64decode(proof_text, validate=True)
        except ValueError:
            raise ScramError("invalid SCRAM proof encoding") from None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        credential = self._credential
        signature = _hmac(self.mechanism, credential.stored_key, auth_message)
        if len(proof) != len(signature):
            raise ScramError("invalid SCRAM proof")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        computed = hashlib.new(self.mechanism.hash_name, client_key).digest()
        if not hmac.compare_digest(computed, credential.stored_key):
            raise ScramError("invalid credentials")
        self.complete = True
        server_signature = _hmac(self.mechanism, credential.server_key, auth_message)
        return b"v=" + base64.b64encode(server_signature)


def _attributes_ordered(message: str) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if not sep or (len(key) != 1 and key not in ("tokenauth",) and not key.isalnum()):
            raise ScramError("malformed SCRAM message")
        fields.append((key, value))
    return fields


def _decode(message: bytes) -> str:
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        raise ScramError("SCRAM message is not UTF-8") from None


class ScramClient:
    """The client side (inter-broker SASL and tests): `first()`, then `final(server_first)`, then
    `verify(server_final)`."""

    def __init__(self, mechanism: ScramMechanism, username: str, password: str) -> None:
        self.mechanism = mechanism
        self.password = password
        self.nonce = secrets.token_urlsafe(18)
        escaped = username.replace("=", "=3D").replace(",", "=2C")
        self.bare = f"n={escaped},r={self.nonce}"
        self.expected_server_final = b""

    def first(self) -> bytes:
        return f"n,,{self.bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        mechanism = self.mechanism
        fields = _attributes(_decode(server_first))
        if not fields.get("r", "").startswith(self.nonce):
            raise ScramError("server nonce does not extend the client's")
        salt = base64.b64decode(fields.get("s", ""))
        salted = salted_password(mechanism, self.password.encode(), salt, int(fields.get("i", "0")))
        client_key = _hmac(mechanism, salted, b"Client Key")
        stored_key = hashlib.new(mechanism.hash_name, client_key).digest()
        without_proof = f"c={base64.b64encode(b'n,,').decode()},r={fields['r']}"
        auth_message = f"{self.bare},{_decode(server_first)},{without_proof}".encode()
        signature = _hmac(mechanism, stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = _hmac(mechanism, salted, b"Server Key")
        self.expected_server_final = b"v=" + base64.b64encode(
            _hmac(mechanism, server_key, auth_message)
        )
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        if not hmac.compare_digest(server_final, self.expected_server_final):
            raise ScramError("the server's SCRAM signature does not match")
