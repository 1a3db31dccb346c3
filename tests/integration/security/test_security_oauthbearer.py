"""SASL OAUTHBEARER with unsecured JWTs (Kafka's development handler): librdkafka's built-in unsecured
token logs in, and the token's `sub` is the principal the authorizer sees; a signed or expired token is
refused."""

from __future__ import annotations

import socket
import struct
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from riverlog.broker.responses import request_schema
from riverlog.protocol.codec import decode_response, encode_request
from riverlog.security.oauthbearer import unsecured_token
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def oauth_broker(tmp_path_factory: pytest.TempPathFactory):
    config = {
        "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS",  # the PLAINTEXT listener administers
    }
    with RunningBroker(tmp_path_factory.mktemp("oauth"), config=config) as running:
        yield running


def client(broker: RunningBroker, principal: str) -> dict[str, object]:
    return {
        "bootstrap.servers": broker.bootstrap("SASL_PLAINTEXT"),
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER",
        "enable.sasl.oauthbearer.unsecure.jwt": True,
        "sasl.oauthbearer.config": f"principal={principal}",
    }


def test_librdkafka_logs_in_with_an_unsecured_jwt_as_its_sub(oauth_broker: RunningBroker) -> None:
    topic = f"oauth-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": oauth_broker.bootstrap_servers})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=10)
    for op in (AclOperation.WRITE, AclOperation.READ):
        binding = AclBinding(
            ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*", op,
            AclPermissionType.ALLOW,
        )  # fmt: skip
        admin.create_acls([binding])[binding].result(timeout=10)
    group = AclBinding(
        ResourceType.GROUP, "g", ResourcePatternType.LITERAL, "User:alice", "*",
        AclOperation.READ, AclPermissionType.ALLOW,
    )  # fmt: skip
    admin.create_acls([group])[group].result(timeout=10)
    producer = Producer(client(oauth_broker, "alice"))
    errors: list[object] = []
    producer.produce(topic, b"jwt", on_delivery=lambda e, _m: errors.append(e))
    producer.flush(10)
    assert errors == [None]
    denied: list[object] = []
    other = Producer({**client(oauth_broker, "bob"), "message.timeout.ms": 5000})
    other.produce(topic, b"no", on_delivery=lambda e, _m: denied.append(e))
    other.flush(10)
    assert denied and denied[0] is not None  # bob has no ACL: TOPIC_AUTHORIZATION_FAILED
    consumer = Consumer(
        {**client(oauth_broker, "alice"), "group.id": "g", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + 15
    value = None
    while value is None and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            value = message.value()
    consumer.close()
    assert value == b"jwt"


def _attempt(port: int, token: str) -> tuple[bytes, bool]:
    """Handshake and one SaslAuthenticate with `token`; (the server's token, connection closed)."""
    first = f"n,,\x01auth=Bearer {token}\x01\x01".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:

        def call(api_key: int, version: int, cls: str, **fields: object) -> object:
            body = getattr(request_schema(api_key, version), cls)(**fields)
            sock.sendall(encode_request(1, "t", body))
            size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
            return decode_response(sock.recv(size, socket.MSG_WAITALL), api_key, version).body

        call(17, 1, "SaslHandshakeRequest", mechanism="OAUTHBEARER")
        answer = call(36, 2, "SaslAuthenticateRequest", auth_bytes=first)
        server_token = bytes(answer.auth_bytes)  # type: ignore[attr-defined]
        final = call(36, 2, "SaslAuthenticateRequest", auth_bytes=b"\x01")
        failed = final.error_code.value == 58  # type: ignore[attr-defined]
        return server_token, failed and sock.recv(1) == b""


@pytest.mark.parametrize(
    "token",
    [
        unsecured_token("alice", -60, 1_600_000_000),  # expired long ago (a fixed id for xdist)
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.c2ln",  # RS256: signed
        "not-a-jwt",
    ],
)
def test_unacceptable_tokens_are_refused(oauth_broker: RunningBroker, token: str) -> None:
    server_token, closed = _attempt(oauth_broker.listener_port("SASL_PLAINTEXT"), token)
    assert server_token == b'{"status":"invalid_token"}'
    assert closed
