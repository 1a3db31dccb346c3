"""SASL listeners with real clients: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 over SASL_SSL and
SASL_PLAINTEXT with confluent-kafka, kafka-python, aiokafka and kcat; wrong passwords and unknown
users are refused; nothing but ApiVersions and the SASL requests is answered before authentication."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import struct
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from security_env import SCRAM_USERS, Certs, sasl_client

from riverlog.broker.responses import request_schema
from riverlog.protocol.codec import decode_response, encode_request
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

CASES = [
    ("PLAIN", "alice", "alice-secret"),
    ("SCRAM-SHA-256", "carol", SCRAM_USERS["carol"]),
    ("SCRAM-SHA-512", "dave", SCRAM_USERS["dave"]),
]


def roundtrip(config: dict[str, object], topic: str, count: int = 10) -> list[bytes]:
    producer = Producer(config)
    for i in range(count):
        producer.produce(topic, f"m{i}".encode())
    assert producer.flush(15) == 0
    consumer = Consumer({**config, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while len(values) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                values.append(message.value())
    finally:
        consumer.close()
    return values


@pytest.mark.parametrize(("mechanism", "user", "password"), CASES)
def test_confluent_kafka_over_sasl_ssl(
    secure_broker: RunningBroker, certs: Certs, secure_topic, mechanism, user, password
) -> None:
    topic = secure_topic()
    config = sasl_client(secure_broker, certs, mechanism, user, password)
    assert roundtrip(config, topic) == [f"m{i}".encode() for i in range(10)]


@pytest.mark.parametrize(("mechanism", "user", "password"), CASES)
def test_confluent_kafka_over_sasl_plaintext(
    secure_broker: RunningBroker, certs: Certs, secure_topic, mechanism, user, password
) -> None:
    topic = secure_topic()
    config = sasl_client(secure_broker, certs, mechanism, user, password, tls=False)
    assert roundtrip(config, topic, 3) == [f"m{i}".encode() for i in range(3)]


@pytest.mark.parametrize(
    ("mechanism", "user", "password"),
    [
        ("PLAIN", "alice", "wrong"),
        ("PLAIN", "nobody", "alice-secret"),
        ("SCRAM-SHA-256", "carol", "wrong"),
        ("SCRAM-SHA-512", "dave", "wrong"),
        ("SCRAM-SHA-256", "nobody", "x"),
        ("SCRAM-SHA-512", "alice", "alice-secret"),  # a PLAIN user has no SCRAM credential
    ],
)
def test_wrong_credentials_are_refused(
    secure_broker: RunningBroker, certs: Certs, mechanism, user, password
) -> None:
    config = sasl_client(secure_broker, certs, mechanism, user, password)
    with pytest.raises(KafkaException) as raised:
        AdminClient(config).list_topics(timeout=2)
    assert raised.value.args[0].code() != 0


def test_kafka_python_over_sasl_ssl_with_scram(
    secure_broker: RunningBroker, certs: Certs, secure_topic
) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = secure_topic()
    for mechanism, user, password in CASES:
        common = {
            "bootstrap_servers": secure_broker.bootstrap("SASL_SSL"),
            "security_protocol": "SASL_SSL",
            "ssl_cafile": str(certs.ca),
            "sasl_mechanism": mechanism,
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }
        producer = KafkaProducer(**common)
        producer.send(topic, mechanism.encode())
        producer.flush(timeout=15)
        producer.close()
    consumer = KafkaConsumer(
        topic, auto_offset_reset="earliest", consumer_timeout_ms=10_000, **common
    )
    values = [m.value for _, m in zip(range(3), consumer, strict=False)]
    consumer.close()
    assert values == [c[0].encode() for c in CASES]


def test_kafka_python_with_a_wrong_password_is_refused(
    secure_broker: RunningBroker, certs: Certs
) -> None:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    with pytest.raises(KafkaError):
        KafkaProducer(
            bootstrap_servers=secure_broker.bootstrap("SASL_SSL"),
            security_protocol="SASL_SSL",
            ssl_cafile=str(certs.ca),
            sasl_mechanism="SCRAM-SHA-256",
            sasl_plain_username="carol",
            sasl_plain_password="wrong",
            max_block_ms=5000,
        )


def test_aiokafka_over_sasl_ssl(secure_broker: RunningBroker, certs: Certs, secure_topic) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = secure_topic()
    context = ssl.create_default_context(cafile=str(certs.ca))

    async def run() -> list[bytes]:
        for mechanism, user, password in CASES:
            producer = AIOKafkaProducer(
                bootstrap_servers=secure_broker.bootstrap("SASL_SSL"),
                security_protocol="SASL_SSL",
                ssl_context=context,
                sasl_mechanism=mechanism,
                sasl_plain_username=user,
                sasl_plain_password=password,
            )
            await producer.start()
            try:
                await producer.send_and_wait(topic, mechanism.encode())
            finally:
                await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=secure_broker.bootstrap("SASL_SSL"),
            security_protocol="SASL_SSL",
            ssl_context=context,
            sasl_mechanism="SCRAM-SHA-512",
            sasl_plain_username="dave",
            sasl_plain_password=SCRAM_USERS["dave"],
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            values = []
            while len(values) < 3:
                message = await asyncio.wait_for(consumer.getone(), 15)
                values.append(message.value)
            return values
        finally:
            await consumer.stop()

    assert asyncio.run(run()) == [c[0].encode() for c in CASES]


KCAT = shutil.which("kcat") or shutil.which("kafkacat")


@pytest.mark.parametrize(("mechanism", "user", "password"), CASES)
def test_kcat_over_sasl_ssl(
    secure_broker: RunningBroker, certs: Certs, secure_topic, mechanism, user, password
) -> None:
    assert KCAT is not None, "kcat is not installed: scripts/system-deps.sh installs it"
    topic = secure_topic()
    options = [
        "-X", "security.protocol=SASL_SSL",
        "-X", f"ssl.ca.location={certs.ca}",
        "-X", f"sasl.mechanisms={mechanism}",
        "-X", f"sasl.username={user}",
        "-X", f"sasl.password={password}",
    ]  # fmt: skip
    bootstrap = secure_broker.bootstrap("SASL_SSL")
    subprocess.run(
        [KCAT, "-b", bootstrap, *options, "-P", "-t", topic],
        input="x\ny\n",
        text=True,
        check=True,
        timeout=60,
        capture_output=True,
    )
    done = subprocess.run(
        [KCAT, "-b", bootstrap, *options, "-C", "-t", topic, "-o", "beginning", "-c", "2", "-J"],
        text=True,
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert [json.loads(line)["payload"] for line in done.stdout.splitlines()] == ["x", "y"]


# --- the wire, before authentication ---


def _exchange(port: int, payload: bytes) -> bytes:
    """Send one frame on a fresh SASL_PLAINTEXT connection; return what came back before the
    broker closed the connection (b"" when it answered nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk


def _request(api_key: int, version: int, cls: str, correlation: int = 1, **fields: object) -> bytes:
    return encode_request(
        correlation, "sec-test", getattr(request_schema(api_key, version), cls)(**fields)
    )


def test_metadata_before_authentication_closes_the_connection(
    secure_broker: RunningBroker,
) -> None:
    frame = _request(
        3,
        12,
        "MetadataRequest",
        topics=None,
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )
    assert _exchange(secure_broker.listener_port("SASL_PLAINTEXT"), frame) == b""


def test_api_versions_is_answered_before_authentication(secure_broker: RunningBroker) -> None:
    frame = _request(18, 0, "ApiVersionsRequest")
    with socket.create_connection(
        ("127.0.0.1", secure_broker.listener_port("SASL_PLAINTEXT")), timeout=10
    ) as sock:
        sock.sendall(frame)
        size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
        body = sock.recv(size, socket.MSG_WAITALL)
    response = decode_response(body, 18, 0).body
    keys = {k.api_key for k in response.api_keys}
    assert {17, 36, 50, 51} <= keys


def test_an_unsupported_mechanism_answers_the_enabled_ones_and_closes(
    secure_broker: RunningBroker,
) -> None:
    frame = _request(17, 1, "SaslHandshakeRequest", mechanism="GSSAPI")
    answer = _exchange(secure_broker.listener_port("SASL_PLAINTEXT"), frame)
    response = decode_response(answer[4:], 17, 1).body
    assert response.error_code.value == 33  # UNSUPPORTED_SASL_MECHANISM
    assert set(response.mechanisms) == {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}


def test_a_failed_plain_exchange_answers_sasl_authentication_failed_and_closes(
    secure_broker: RunningBroker,
) -> None:
    payload = _request(17, 1, "SaslHandshakeRequest", mechanism="PLAIN") + _request(
        36, 2, "SaslAuthenticateRequest", correlation=2, auth_bytes=b"\x00alice\x00nope"
    )
    answer = _exchange(secure_broker.listener_port("SASL_PLAINTEXT"), payload)
    first = struct.unpack(">i", answer[:4])[0]
    second = answer[4 + first :]
    response = decode_response(second[4:], 36, 2).body
    assert response.error_code.value == 58  # SASL_AUTHENTICATION_FAILED
    assert "nope" not in (response.error_message or "")
