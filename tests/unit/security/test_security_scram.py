"""SCRAM math and the server exchange: RFC 7677's test vector, Kafka's credential text, and every
way a client-final can be wrong."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riverlog.security.scram import (
    ScramClient,
    ScramCredential,
    ScramError,
    ScramMechanism,
    ScramServer,
    make_credential,
)

SHA256 = ScramMechanism.SCRAM_SHA_256
SHA512 = ScramMechanism.SCRAM_SHA_512


def test_rfc7677_test_vector() -> None:
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    credential = make_credential(SHA256, "pencil", 4096, salt)
    server = ScramServer(SHA256, nonce="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    assert server.first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO") == "user"
    assert server.challenge(credential) == (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    final = server.final(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert final == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    assert server.complete


def test_credential_text_round_trips_in_kafkas_format() -> None:
    credential = make_credential(SHA512, "secret", 8192)
    text = credential.to_text()
    assert text.startswith("salt=") and ",stored_key=" in text and text.endswith(",iterations=8192")
    assert ScramCredential.from_text(text) == credential


@pytest.mark.parametrize("iterations", [4095, 16385])
def test_iterations_outside_kafkas_range_are_refused(iterations: int) -> None:
    with pytest.raises(ScramError):
        make_credential(SHA256, "x", iterations)


@pytest.mark.parametrize("mechanism", [SHA256, SHA512])
@given(password=st.text(min_size=1, max_size=20), user=st.text(min_size=1, max_size=10))
def test_a_client_with_the_right_password_authenticates(
    mechanism: ScramMechanism, password: str, user: str
) -> None:
    credential = make_credential(mechanism, password)
    client = ScramClient(mechanism, user, password)
    server = ScramServer(mechanism)
    assert server.first(client.first()) == user
    client.verify(server.final(client.final(server.challenge(credential))))


def _exchange_until_final(password: str) -> tuple[ScramServer, bytes]:
    client = ScramClient(SHA256, "carol", password)
    server = ScramServer(SHA256)
    server.first(client.first())
    return server, client.final(server.challenge(make_credential(SHA256, "right")))


def test_a_wrong_password_fails() -> None:
    server, final = _exchange_until_final("wrong")
    with pytest.raises(ScramError):
        server.final(final)
    assert not server.complete


def test_a_tampered_nonce_fails() -> None:
    server, final = _exchange_until_final("right")
    with pytest.raises(ScramError):
        server.final(final.replace(b",r=", b",r=x", 1))


def test_the_doubled_client_nonce_of_old_librdkafka_is_accepted() -> None:
    import hashlib
    import hmac

    server = ScramServer(SHA256)
    server.first(b"n,,n=carol,r=cnonce")
    server_first = server.challenge(make_credential(SHA256, "right", salt=b"salt"))
    combined = server_first.decode().split(",")[0][2:]
    # librdkafka < 2.6.1 writes r=<cnonce><cnonce+snonce> and signs exactly what it sends.
    without_proof = f"c=biws,r=cnonce{combined}"
    auth = f"n=carol,r=cnonce,{server_first.decode()},{without_proof}".encode()
    salted = hashlib.pbkdf2_hmac("sha256", b"right", b"salt", 4096)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    signature = hmac.new(hashlib.sha256(client_key).digest(), auth, "sha256").digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True)))
    server.final(f"{without_proof},p={proof.decode()}".encode())
    assert server.complete


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"n",
        b"x,,n=a,r=b",
        b"n,,r=b,n=a",
        b"n,,n=,r=b",
        b"n,,n=a",
        b"\xff\xfe",
        b"n,,n=a=b,r=c",
    ],
)
def test_malformed_client_first_messages_fail(message: bytes) -> None:
    with pytest.raises(ScramError):
        ScramServer(SHA256).first(message)


def test_escaped_usernames_are_unescaped() -> None:
    assert ScramServer(SHA256).first(b"n,,n=a=2Cb=3Dc,r=n") == "a,b=c"
