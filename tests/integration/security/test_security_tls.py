"""TLS listeners with real clients: librdkafka (confluent-kafka, kcat), kafka-python and aiokafka
over SSL with client certificates (mTLS); untrusted certificates are refused; Metadata answers
with the listener the client connected on."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from security_env import Certs, ssl_client

from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration


def consume_all(config: dict[str, object], topic: str, count: int) -> list[bytes]:
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


def test_confluent_kafka_produces_and_consumes_over_mtls(
    secure_broker: RunningBroker, certs: Certs, secure_topic
) -> None:
    topic = secure_topic()
    producer = Producer(ssl_client(secure_broker, certs))
    for i in range(20):
        producer.produce(topic, f"v{i}".encode())
    assert producer.flush(15) == 0
    values = consume_all(ssl_client(secure_broker, certs), topic, 20)
    assert values == [f"v{i}".encode() for i in range(20)]


def test_metadata_answers_with_the_listener_the_client_used(
    secure_broker: RunningBroker, certs: Certs
) -> None:
    over_ssl = AdminClient(ssl_client(secure_broker, certs)).list_topics(timeout=10)
    over_plain = AdminClient({"bootstrap.servers": secure_broker.bootstrap_servers}).list_topics(
        timeout=10
    )
    assert [b.port for b in over_ssl.brokers.values()] == [secure_broker.listener_port("SSL")]
    assert [b.port for b in over_plain.brokers.values()] == [secure_broker.port]


def test_a_certificate_from_an_untrusted_ca_is_refused(
    secure_broker: RunningBroker, certs: Certs
) -> None:
    rogue = ssl_client(
        secure_broker,
        certs,
        **{
            "ssl.certificate.location": str(certs.rogue_cert),
            "ssl.key.location": str(certs.rogue_key),
        },
    )
    with pytest.raises(KafkaException):
        AdminClient(rogue).list_topics(timeout=5)


def test_a_client_without_a_certificate_is_refused_when_client_auth_is_required(
    secure_broker: RunningBroker, certs: Certs
) -> None:
    config = {
        "bootstrap.servers": secure_broker.bootstrap("SSL"),
        "security.protocol": "SSL",
        "ssl.ca.location": str(certs.ca),
    }
    with pytest.raises(KafkaException):
        AdminClient(config).list_topics(timeout=5)


def test_a_client_that_does_not_trust_the_broker_refuses_it(
    secure_broker: RunningBroker, certs: Certs
) -> None:
    config = ssl_client(secure_broker, certs, **{"ssl.ca.location": str(certs.rogue_ca)})
    with pytest.raises(KafkaException):
        AdminClient(config).list_topics(timeout=5)


def test_kafka_python_over_mtls(secure_broker: RunningBroker, certs: Certs, secure_topic) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = secure_topic()
    common = {
        "bootstrap_servers": secure_broker.bootstrap("SSL"),
        "security_protocol": "SSL",
        "ssl_cafile": str(certs.ca),
        "ssl_certfile": str(certs.client_cert),
        "ssl_keyfile": str(certs.client_key),
    }
    producer = KafkaProducer(**common)
    for i in range(5):
        producer.send(topic, f"kp{i}".encode())
    producer.flush(timeout=15)
    producer.close()
    consumer = KafkaConsumer(
        topic, auto_offset_reset="earliest", consumer_timeout_ms=10_000, **common
    )
    values = [m.value for _, m in zip(range(5), consumer, strict=False)]
    consumer.close()
    assert values == [f"kp{i}".encode() for i in range(5)]


def test_aiokafka_over_mtls(secure_broker: RunningBroker, certs: Certs, secure_topic) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = secure_topic()
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.load_cert_chain(str(certs.client_cert), str(certs.client_key))

    async def run() -> list[bytes]:
        common = {
            "bootstrap_servers": secure_broker.bootstrap("SSL"),
            "security_protocol": "SSL",
            "ssl_context": context,
        }
        producer = AIOKafkaProducer(**common)
        await producer.start()
        try:
            for i in range(5):
                await producer.send_and_wait(topic, f"ak{i}".encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, auto_offset_reset="earliest", **common)
        await consumer.start()
        try:
            values = []
            while len(values) < 5:
                message = await asyncio.wait_for(consumer.getone(), 15)
                values.append(message.value)
            return values
        finally:
            await consumer.stop()

    assert asyncio.run(run()) == [f"ak{i}".encode() for i in range(5)]


KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def test_kcat_over_mtls(secure_broker: RunningBroker, certs: Certs, secure_topic) -> None:
    assert KCAT is not None, "kcat is not installed: scripts/system-deps.sh installs it"
    topic = secure_topic()
    tls = [
        "-X", "security.protocol=SSL",
        "-X", f"ssl.ca.location={certs.ca}",
        "-X", f"ssl.certificate.location={certs.client_cert}",
        "-X", f"ssl.key.location={certs.client_key}",
    ]  # fmt: skip
    bootstrap = secure_broker.bootstrap("SSL")
    subprocess.run(
        [KCAT, "-b", bootstrap, *tls, "-P", "-t", topic],
        input="one\ntwo\n",
        text=True,
        check=True,
        timeout=60,
        capture_output=True,
    )
    done = subprocess.run(
        [KCAT, "-b", bootstrap, *tls, "-C", "-t", topic, "-o", "beginning", "-c", "2", "-J"],
        text=True,
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert [json.loads(line)["payload"] for line in done.stdout.splitlines()] == ["one", "two"]
