"""Security fixtures: development certificates and one broker per module with every kind of
listener (PLAINTEXT, SSL with client certificates required, SASL_SSL and SASL_PLAINTEXT with PLAIN
and SCRAM), plus SCRAM users made through AdminClient."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import (
    AdminClient,
    NewTopic,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from riverlog.security.certs import create_ca, issue
from riverlog.testing.broker import RunningBroker

PLAIN_JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'user_alice="alice-secret" user_bob="bob-secret";'
)
SCRAM_USERS = {"carol": "carol-secret", "dave": "dave-secret"}


@dataclass(frozen=True)
class Certs:
    dir: Path
    ca: Path  # the CA clients and broker trust
    broker: Path  # broker key + certificate (PEM keystore)
    client_cert: Path
    client_key: Path
    rogue_cert: Path  # signed by a CA nobody trusts
    rogue_key: Path
    rogue_ca: Path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    base = tmp_path_factory.mktemp("certs")
    ca = create_ca()
    broker = issue(ca, "broker", server=True, hostnames=["localhost", "127.0.0.1"], unit="brokers")
    client = issue(ca, "alice", server=False, unit="clients")
    rogue_ca = create_ca("rogue-ca")
    rogue = issue(rogue_ca, "mallory", server=False, unit="clients")
    files = {
        "ca.crt": ca.issued.cert_pem,
        "broker.pem": broker.bundle_pem,
        "alice.crt": client.cert_pem,
        "alice.key": client.key_pem,
        "mallory.crt": rogue.cert_pem,
        "mallory.key": rogue.key_pem,
        "rogue-ca.crt": rogue_ca.issued.cert_pem,
    }
    for name, data in files.items():
        (base / name).write_bytes(data)
    return Certs(
        base,
        base / "ca.crt",
        base / "broker.pem",
        base / "alice.crt",
        base / "alice.key",
        base / "mallory.crt",
        base / "mallory.key",
        base / "rogue-ca.crt",
    )


def broker_settings(certs: Certs, **extra: str) -> dict[str, str]:
    settings = {
        "listeners": (
            "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0,"
            "SASL_PLAINTEXT://127.0.0.1:0"
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(certs.broker),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(certs.ca),
        "listener.name.ssl.ssl.client.auth": "required",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": PLAIN_JAAS,
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
    }
    settings.update(extra)
    return settings


def add_scram_users(bootstrap: str, users: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    changes = [
        UserScramCredentialUpsertion(name, ScramCredentialInfo(mechanism, 4096), password.encode())
        for name, password in users.items()
        for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)
    ]
    for future in admin.alter_user_scram_credentials(changes).values():
        future.result(timeout=10)


@pytest.fixture(scope="module")
def secure_broker(
    tmp_path_factory: pytest.TempPathFactory, certs: Certs
) -> Iterator[RunningBroker]:
    with RunningBroker(tmp_path_factory.mktemp("secure"), config=broker_settings(certs)) as running:
        add_scram_users(running.bootstrap_servers, SCRAM_USERS)
        yield running


@pytest.fixture
def secure_topic(secure_broker: RunningBroker) -> Callable[..., str]:
    def create(partitions: int = 1) -> str:
        name = f"sec-{uuid.uuid4().hex[:10]}"
        admin = AdminClient({"bootstrap.servers": secure_broker.bootstrap_servers})
        admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=10)
        return name

    return create


def ssl_client(broker: RunningBroker, certs: Certs, **extra: Any) -> dict[str, Any]:
    """librdkafka settings for the SSL listener with alice's certificate (mTLS)."""
    return {
        "bootstrap.servers": broker.bootstrap("SSL"),
        "security.protocol": "SSL",
        "ssl.ca.location": str(certs.ca),
        "ssl.certificate.location": str(certs.client_cert),
        "ssl.key.location": str(certs.client_key),
        **extra,
    }


def sasl_client(
    broker: RunningBroker, certs: Certs, mechanism: str, user: str, password: str, tls: bool = True
) -> dict[str, Any]:
    listener = "SASL_SSL" if tls else "SASL_PLAINTEXT"
    config: dict[str, Any] = {
        "bootstrap.servers": broker.bootstrap(listener),
        "security.protocol": listener,
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }
    if tls:
        config["ssl.ca.location"] = str(certs.ca)
    return config
