"""Fuzzing the SASL exchange on a real broker: malformed tokens (in SaslAuthenticate, or bare after a
v0 handshake) never authenticate, the connection is answered with an error or closed, and the broker
keeps serving everyone else."""

from __future__ import annotations

import socket
import struct

import pytest
from confluent_kafka.admin import AdminClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riverlog.broker.responses import request_schema
from riverlog.protocol.codec import decode_response, encode_request
from riverlog.security.scram import ScramClient, ScramMechanism
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory):
    config = {
        "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": ",".join(MECHANISMS),
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            'user_alice="alice-secret";'
        ),
    }
    with RunningBroker(tmp_path_factory.mktemp("fuzz"), config=config) as running:
        from security_env import add_scram_users

        add_scram_users(running.bootstrap_servers, {"carol": "carol-secret"})
        yield running


def _frame(api_key: int, version: int, cls: str, correlation: int, **fields: object) -> bytes:
    body = getattr(request_schema(api_key, version), cls)(**fields)
    return encode_request(correlation, "fuzz", body)


def _read_frame(sock: socket.socket) -> bytes | None:
    head = sock.recv(4, socket.MSG_WAITALL)
    if len(head) < 4:
        return None
    size = struct.unpack(">i", head)[0]
    return sock.recv(size, socket.MSG_WAITALL)


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return True


def _metadata_on_authenticated_path_is_refused(sock: socket.socket) -> bool:
    """After a failed exchange, a Metadata request gets no answer (the connection is closed)."""
    try:
        sock.sendall(_frame(3, 1, "MetadataRequest", 9, topics=None))
        return _read_frame(sock) is None
    except OSError:
        return True


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    mechanism=st.sampled_from(MECHANISMS),
    tokens=st.lists(st.binary(max_size=300), min_size=1, max_size=3),
)
def test_malformed_sasl_authenticate_tokens_never_authenticate(
    sasl_broker: RunningBroker, mechanism: str, tokens: list[bytes]
) -> None:
    with socket.create_connection(
        ("127.0.0.1", sasl_broker.listener_port("SASL_PLAINTEXT")), timeout=10
    ) as sock:
        sock.sendall(_frame(17, 1, "SaslHandshakeRequest", 1, mechanism=mechanism))
        handshake = decode_response(_read_frame(sock) or b"", 17, 1).body
        assert handshake.error_code.value == 0
        for index, token in enumerate(tokens):
            if mechanism.startswith("SCRAM") and index == 0 and token[:1] == b"n":
                # Make a plausible client-first sometimes, so later steps are reached.
                token = ScramClient(ScramMechanism.by_name(mechanism), "carol", "x").first()  # type: ignore[arg-type]
            sock.sendall(_frame(36, 2, "SaslAuthenticateRequest", 2 + index, auth_bytes=token))
            answer = _read_frame(sock)
            if answer is None:
                return  # closed: fine
            response = decode_response(answer, 36, 2).body
            if response.error_code.value != 0:
                assert _closed(sock)
                return
        # Still mid-exchange (SCRAM's first step can succeed for a real user): not authenticated.
        assert _metadata_on_authenticated_path_is_refused(sock)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(mechanism=st.sampled_from(MECHANISMS), token=st.binary(max_size=400))
def test_malformed_bare_tokens_after_a_v0_handshake_close_the_connection(
    sasl_broker: RunningBroker, mechanism: str, token: bytes
) -> None:
    with socket.create_connection(
        ("127.0.0.1", sasl_broker.listener_port("SASL_PLAINTEXT")), timeout=10
    ) as sock:
        sock.sendall(_frame(17, 0, "SaslHandshakeRequest", 1, mechanism=mechanism))
        assert decode_response(_read_frame(sock) or b"", 17, 0).body.error_code.value == 0
        sock.sendall(struct.pack(">i", len(token)) + token)
        answer = _read_frame(sock)
        if answer is not None:  # a SCRAM server-first for a plausible first message
            assert mechanism.startswith("SCRAM")
        assert _metadata_on_authenticated_path_is_refused(sock)


def test_the_broker_still_serves_after_the_fuzzing(sasl_broker: RunningBroker) -> None:
    admin = AdminClient({"bootstrap.servers": sasl_broker.bootstrap_servers})
    assert admin.list_topics(timeout=10).brokers
    scram = AdminClient(
        {
            "bootstrap.servers": sasl_broker.bootstrap("SASL_PLAINTEXT"),
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": "carol",
            "sasl.password": "carol-secret",
        }
    )
    assert scram.list_topics(timeout=10).brokers
