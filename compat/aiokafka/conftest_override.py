"""aiokafka's test fixtures pointed at an external riverlog broker instead of a Docker container.

compat/pysuites/runner.py copies this file into aiokafka's tests/ and makes tests/conftest.py import it
last, so these fixtures replace the ones of the same name there. The broker is the one the runner
started (``$COMPAT_BOOTSTRAP``, host:port); it has PLAINTEXT listeners only, so the SSL and SASL ports
are those of nothing (the tests that use them fail and are listed in FINDINGS.md), and the fixtures
that drive Kafka's command-line tools inside the container (ACLs, SCRAM users, Kerberos) skip.
"""

import os

import pytest

from .conftest import KafkaServer

KAFKA_VERSION = os.environ.get("COMPAT_KAFKA_VERSION", "4.0.0")


@pytest.fixture(scope="session")
def docker():
    yield None


@pytest.fixture(scope="session")
def kafka_image():
    return f"riverlog:{KAFKA_VERSION}"


@pytest.fixture(scope="session")
def ssl_folder():
    pytest.skip("riverlog has no SSL listener yet (needs issue 16)")


@pytest.fixture(scope="session")
def kafka_server():
    host, _, port = os.environ["COMPAT_BOOTSTRAP"].rpartition(":")
    # No SSL / SASL listeners: port 1 refuses connections at once.
    yield KafkaServer(host, int(port), 1, 1, 1, None)


@pytest.fixture(scope="class")
def acl_manager():
    pytest.skip("ACLs through Kafka's kafka-acls.sh in the container (needs issue 16)")


@pytest.fixture(scope="class")
def kafka_config():
    pytest.skip("SCRAM users through Kafka's kafka-configs.sh in the container (needs issue 16)")


@pytest.fixture(scope="class")
def kerberos_utils():
    pytest.skip("Kerberos KDC in the container (needs issue 16)")


@pytest.fixture(scope="class")
def setup_test_class(request, loop, kafka_server):
    request.cls.loop = loop
    request.cls.kafka_host = kafka_server.host
    request.cls.kafka_port = kafka_server.port
    request.cls.kafka_ssl_port = kafka_server.ssl_port
    request.cls.kafka_sasl_plain_port = kafka_server.sasl_plain_port
    request.cls.kafka_sasl_ssl_port = kafka_server.sasl_ssl_port
    request.cls.ssl_folder = None
    request.cls.acl_manager = None
    request.cls.kerberos_utils = None
    request.cls.kafka_config = None
    request.cls.hosts = kafka_server.hosts
    request.cls.kafka_version = KAFKA_VERSION
