"""KIP-368: with connections.max.reauth.ms the broker tells clients their session lifetime, clients
re-authenticate on the same connection, and a connection that does not is closed on its next request."""

from __future__ import annotations

import logging
import socket
import struct
import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from riverlog.broker.responses import request_schema
from riverlog.protocol.codec import decode_response, encode_request
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";'
LIFETIME_MS = 1500


@pytest.fixture(scope="module")
def reauth_broker(tmp_path_factory: pytest.TempPathFactory):
    config = {
        "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
        "listener.name.sasl_plaintext.connections.max.reauth.ms": str(LIFETIME_MS),
    }
    with RunningBroker(tmp_path_factory.mktemp("reauth"), config=config) as running:
        yield running


def _frame(api_key: int, version: int, cls: str, correlation: int, **fields: object) -> bytes:
    return encode_request(
        correlation, "reauth", getattr(request_schema(api_key, version), cls)(**fields)
    )


def _read(sock: socket.socket) -> bytes | None:
    head = sock.recv(4, socket.MSG_WAITALL)
    if len(head) < 4:
        return None
    return sock.recv(struct.unpack(">i", head)[0], socket.MSG_WAITALL)


def test_an_expired_session_is_closed_on_its_next_request(reauth_broker: RunningBroker) -> None:
    with socket.create_connection(
        ("127.0.0.1", reauth_broker.listener_port("SASL_PLAINTEXT")), timeout=10
    ) as sock:
        sock.sendall(_frame(17, 1, "SaslHandshakeRequest", 1, mechanism="PLAIN"))
        assert decode_response(_read(sock) or b"", 17, 1).body.error_code.value == 0
        sock.sendall(
            _frame(36, 1, "SaslAuthenticateRequest", 2, auth_bytes=b"\x00alice\x00alice-secret")
        )
        answer = decode_response(_read(sock) or b"", 36, 1).body
        assert answer.error_code.value == 0
        lifetime_ms = answer.session_lifetime.total_seconds() * 1000
        assert 0 < lifetime_ms <= LIFETIME_MS
        sock.sendall(_frame(3, 1, "MetadataRequest", 3, topics=None))
        assert _read(sock) is not None  # within the session: answered
        time.sleep(lifetime_ms / 1000 + 0.3)
        sock.sendall(_frame(3, 1, "MetadataRequest", 4, topics=None))
        assert _read(sock) is None  # the session ended without re-authentication: closed


def test_librdkafka_reauthenticates_and_keeps_producing(
    reauth_broker: RunningBroker, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"reauth-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": reauth_broker.bootstrap_servers})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=10)
    caplog.set_level(logging.INFO, logger="riverlog.broker.network.authn")
    producer = Producer(
        {
            "bootstrap.servers": reauth_broker.bootstrap("SASL_PLAINTEXT"),
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "alice",
            "sasl.password": "alice-secret",
        }
    )
    delivered: list[object] = []
    for i in range(40):  # spans several session lifetimes
        producer.produce(topic, str(i).encode(), on_delivery=lambda e, _m: delivered.append(e))
        producer.flush(10)
        time.sleep(0.1)
    assert delivered == [None] * 40
    logins: dict[str, int] = {}
    for record in caplog.records:
        message = record.getMessage()
        if "authentication of User:alice" in message and "succeeded" in message:
            peer = message.rsplit(" from ", 1)[1].split()[0]
            logins[peer] = logins.get(peer, 0) + 1
    assert max(logins.values()) >= 2  # one connection logged in again (re-authenticated)
