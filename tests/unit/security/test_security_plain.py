"""SASL PLAIN messages and the JAAS options Kafka reads PLAIN users from."""

from __future__ import annotations

import pytest

from riverlog.security.sasl_plain import (
    JaasError,
    PlainError,
    authenticate_plain,
    parse_jaas,
    plain_users,
)

JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required\n"
    '  username="admin" password="admin-secret"\n'
    '  user_admin="admin-secret" user_alice="a \\"quoted\\" pw";'
)


def test_jaas_options_and_users() -> None:
    module, options = parse_jaas(JAAS)
    assert module == "org.apache.kafka.common.security.plain.PlainLoginModule"
    assert options["username"] == "admin"
    assert plain_users(options) == {"admin": "admin-secret", "alice": 'a "quoted" pw'}


@pytest.mark.parametrize(
    "text", ["no semicolon", "Module;", 'Module badflag a="b";', 'Module required a="b" c;']
)
def test_bad_jaas_is_refused(text: str) -> None:
    with pytest.raises(JaasError):
        parse_jaas(text)


USERS = {"alice": "alice-secret"}


def test_plain_authenticates_with_or_without_an_authzid() -> None:
    assert authenticate_plain(b"\x00alice\x00alice-secret", USERS) == "alice"
    assert authenticate_plain(b"alice\x00alice\x00alice-secret", USERS) == "alice"


@pytest.mark.parametrize(
    "message",
    [
        b"\x00alice\x00wrong",
        b"\x00bob\x00alice-secret",
        b"bob\x00alice\x00alice-secret",
        b"\x00\x00alice-secret",
        b"\x00alice\x00",
        b"alice-secret",
        b"\x00a\x00b\x00c",
        b"\x00\xff\x00x",
    ],
)
def test_plain_refuses(message: bytes) -> None:
    with pytest.raises(PlainError) as raised:
        authenticate_plain(message, USERS)
    assert "alice-secret" not in str(raised.value)
