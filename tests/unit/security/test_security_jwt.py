"""The unsecured-JWT validator: Kafka's checks on claims, and the RFC 7628 client message."""

from __future__ import annotations

import pytest

from riverlog.security.oauthbearer import (
    OAuthBearerError,
    UnsecuredValidator,
    token_of,
    unsecured_token,
)

NOW_S = 1_800_000_000


def message(token: str, extensions: str = "") -> bytes:
    return f"n,,\x01auth=Bearer {token}\x01{extensions}\x01".encode()


def test_a_valid_token_gives_its_sub() -> None:
    token = unsecured_token("alice", 3600, NOW_S)
    assert UnsecuredValidator().principal(message(token), NOW_S * 1000) == "alice"
    assert token_of(message(token, "traceId=1\x01")) == token


@pytest.mark.parametrize(
    ("token", "validator"),
    [
        (unsecured_token("alice", -1, NOW_S), UnsecuredValidator()),  # expired
        (unsecured_token("alice", 60, NOW_S + 600), UnsecuredValidator()),  # issued in the future
        (unsecured_token("alice", 60, NOW_S), UnsecuredValidator(principal_claim="upn")),
        (unsecured_token("alice", 60, NOW_S), UnsecuredValidator(required_scope=("write",))),
        ("a.b", UnsecuredValidator()),
    ],
)
def test_unacceptable_tokens(token: str, validator: UnsecuredValidator) -> None:
    with pytest.raises(OAuthBearerError):
        validator.principal(message(token), NOW_S * 1000)


def test_clock_skew_is_allowed_as_configured() -> None:
    token = unsecured_token("alice", -1, NOW_S)
    lenient = UnsecuredValidator.from_jaas_options(
        {"unsecuredValidatorAllowableClockSkewMs": "5000"}
    )
    assert lenient.principal(message(token), NOW_S * 1000) == "alice"


@pytest.mark.parametrize("raw", [b"", b"n,,auth=Bearer x", b"n,,\x01auth=Basic x\x01\x01", b"\xff"])
def test_malformed_messages(raw: bytes) -> None:
    with pytest.raises(OAuthBearerError):
        token_of(raw)
