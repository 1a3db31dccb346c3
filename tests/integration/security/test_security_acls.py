"""The authorizer with real clients: ACLs created, listed and deleted through AdminClient and the
CLI, and enforced on produce, consume, metadata, topic admin, groups and transactions (each allowed
and denied), with LITERAL/PREFIXED patterns, DENY over ALLOW, wildcard principals, hosts, implied
DESCRIBE, super users, and an mTLS principal taken from the certificate's DN."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from security_env import Certs, broker_settings, ssl_client

from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";'
)
ALICE_DN = "User:CN=alice,OU=clients,O=riverlog-dev"


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[RunningBroker]:
    settings = broker_settings(
        certs,
        **{
            "listeners": "SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:admin",
        },
    )
    del settings["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    with RunningBroker(tmp_path_factory.mktemp("acl"), config=settings) as running:
        yield running


def client(broker: RunningBroker, user: str, **extra: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": broker.bootstrap("SASL_PLAINTEXT"),
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": user,
        "sasl.password": f"{user}-secret",
        **extra,
    }


def admin(broker: RunningBroker, user: str = "admin") -> AdminClient:
    return AdminClient(client(broker, user))


def new_topic(broker: RunningBroker) -> str:
    name = f"acl-{uuid.uuid4().hex[:10]}"
    client_admin = admin(broker)
    client_admin.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=10)
    return name


def allow(
    broker: RunningBroker,
    principal: str,
    rtype: ResourceType,
    name: str,
    *ops: AclOperation,
    pattern: ResourcePatternType = ResourcePatternType.LITERAL,
    permission: AclPermissionType = AclPermissionType.ALLOW,
    host: str = "*",
) -> None:
    bindings = [AclBinding(rtype, name, pattern, principal, host, op, permission) for op in ops]
    client_admin = admin(broker)  # kept alive until the futures complete
    for future in client_admin.create_acls(bindings).values():
        future.result(timeout=10)


def produce_error(broker: RunningBroker, user: str, topic: str) -> KafkaError | None:
    errors: list[KafkaError | None] = []
    producer = Producer(client(broker, user, **{"message.timeout.ms": 5000}))
    producer.produce(topic, b"x", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(10)
    return errors[0] if errors else None


def consume_one(broker: RunningBroker, config: dict[str, Any], topic: str, group: str) -> Any:
    consumer = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    deadline = time.monotonic() + 15
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None:
                return message.error() or message.value()
        return None
    finally:
        consumer.close()


# --- ACL administration ---


def test_acls_are_created_described_with_filters_and_deleted(acl_broker: RunningBroker) -> None:
    topic = f"crud-{uuid.uuid4().hex[:8]}"
    allow(acl_broker, "User:carol", ResourceType.TOPIC, topic, AclOperation.READ)
    allow(
        acl_broker, "User:carol", ResourceType.TOPIC, topic[:6], AclOperation.WRITE,
        pattern=ResourcePatternType.PREFIXED,
    )  # fmt: skip
    client_admin = admin(acl_broker)
    literal = AclBindingFilter(
        ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, None, None,
        AclOperation.ANY, AclPermissionType.ANY,
    )  # fmt: skip
    found = client_admin.describe_acls(literal).result(timeout=10)
    assert [(b.name, b.operation) for b in found] == [(topic, AclOperation.READ)]
    match = AclBindingFilter(
        ResourceType.TOPIC, topic, ResourcePatternType.MATCH, "User:carol", None,
        AclOperation.ANY, AclPermissionType.ANY,
    )  # fmt: skip
    matched = client_admin.describe_acls(match).result(timeout=10)
    assert {(b.name, b.resource_pattern_type) for b in matched} == {
        (topic, ResourcePatternType.LITERAL),
        (topic[:6], ResourcePatternType.PREFIXED),
    }
    deleted = client_admin.delete_acls([match])[match].result(timeout=10)
    assert len(deleted) == 2
    assert client_admin.describe_acls(match).result(timeout=10) == []


def test_acl_apis_need_cluster_permission(acl_broker: RunningBroker) -> None:
    allow(acl_broker, "User:carol", ResourceType.GROUP, "some-group", AclOperation.READ)
    bob = admin(acl_broker, "bob")
    binding = AclBinding(
        ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:bob", "*",
        AclOperation.ALL, AclPermissionType.ALLOW,
    )  # fmt: skip
    with pytest.raises(KafkaException) as raised:
        bob.create_acls([binding])[binding].result(timeout=10)
    assert raised.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    any_filter = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
        AclOperation.ANY, AclPermissionType.ANY,
    )  # fmt: skip
    # librdkafka does not raise DescribeAcls' top-level error; the answer lists nothing either way.
    try:
        described = bob.describe_acls(any_filter).result(timeout=10)
    except KafkaException as exc:
        assert exc.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    else:
        assert described == []


# --- enforcement ---


def test_produce_needs_write_on_the_topic(acl_broker: RunningBroker) -> None:
    topic = new_topic(acl_broker)
    error = produce_error(acl_broker, "alice", topic)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    allow(acl_broker, "User:alice", ResourceType.TOPIC, topic, AclOperation.WRITE)
    assert produce_error(acl_broker, "alice", topic) is None


def test_metadata_hides_topics_the_principal_may_not_describe(acl_broker: RunningBroker) -> None:
    hidden, shown = new_topic(acl_broker), new_topic(acl_broker)
    allow(acl_broker, "User:bob", ResourceType.TOPIC, shown, AclOperation.READ)  # implies DESCRIBE
    listed = admin(acl_broker, "bob").list_topics(timeout=10).topics
    assert shown in listed
    assert hidden not in listed


def test_consume_needs_read_on_topic_and_group(acl_broker: RunningBroker) -> None:
    topic = new_topic(acl_broker)
    producer = Producer(client(acl_broker, "admin"))
    producer.produce(topic, b"hello")
    producer.flush(10)
    allow(acl_broker, "User:alice", ResourceType.TOPIC, topic, AclOperation.READ)
    denied = consume_one(acl_broker, client(acl_broker, "alice"), topic, f"g-{topic}")
    assert isinstance(denied, KafkaError)
    assert denied.code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    allow(acl_broker, "User:alice", ResourceType.GROUP, f"g-{topic}", AclOperation.READ)
    assert consume_one(acl_broker, client(acl_broker, "alice"), topic, f"g-{topic}") == b"hello"


def test_deny_wins_over_allow_and_wildcard_principals(acl_broker: RunningBroker) -> None:
    topic = new_topic(acl_broker)
    allow(acl_broker, "User:*", ResourceType.TOPIC, topic, AclOperation.WRITE)
    assert produce_error(acl_broker, "bob", topic) is None
    allow(
        acl_broker, "User:bob", ResourceType.TOPIC, topic, AclOperation.WRITE,
        permission=AclPermissionType.DENY,
    )  # fmt: skip
    error = produce_error(acl_broker, "bob", topic)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce_error(acl_broker, "alice", topic) is None


def test_prefixed_acls_and_hosts(acl_broker: RunningBroker) -> None:
    prefix = f"pre-{uuid.uuid4().hex[:6]}"
    topic = f"{prefix}-orders"
    client_admin = admin(acl_broker)
    client_admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=10)
    allow(
        acl_broker, "User:bob", ResourceType.TOPIC, prefix, AclOperation.WRITE,
        pattern=ResourcePatternType.PREFIXED, host="10.9.9.9",
    )  # fmt: skip
    error = produce_error(acl_broker, "bob", topic)  # allowed from another host only
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    allow(
        acl_broker, "User:bob", ResourceType.TOPIC, prefix, AclOperation.WRITE,
        pattern=ResourcePatternType.PREFIXED, host="127.0.0.1",
    )  # fmt: skip
    assert produce_error(acl_broker, "bob", topic) is None


def test_create_topics_needs_create_on_cluster_or_topic(acl_broker: RunningBroker) -> None:
    name = f"made-{uuid.uuid4().hex[:8]}"
    alice = admin(acl_broker, "alice")
    with pytest.raises(KafkaException) as raised:
        alice.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=10)
    assert raised.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    allow(acl_broker, "User:alice", ResourceType.TOPIC, name, AclOperation.CREATE)
    alice.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=10)


def test_delete_topics_needs_delete(acl_broker: RunningBroker) -> None:
    topic = new_topic(acl_broker)
    alice = admin(acl_broker, "alice")
    with pytest.raises(KafkaException) as raised:
        alice.delete_topics([topic])[topic].result(timeout=10)
    assert raised.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    allow(acl_broker, "User:alice", ResourceType.TOPIC, topic, AclOperation.DELETE)
    alice.delete_topics([topic])[topic].result(timeout=10)


def test_transactions_need_write_on_the_transactional_id(acl_broker: RunningBroker) -> None:
    topic = new_topic(acl_broker)
    txn_id = f"txn-{uuid.uuid4().hex[:8]}"
    allow(acl_broker, "User:alice", ResourceType.TOPIC, topic, AclOperation.WRITE)
    producer = Producer(client(acl_broker, "alice", **{"transactional.id": txn_id}))
    with pytest.raises(KafkaException) as raised:
        producer.init_transactions(10)
    assert raised.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    allow(acl_broker, "User:alice", ResourceType.TRANSACTIONAL_ID, txn_id, AclOperation.WRITE)
    producer = Producer(client(acl_broker, "alice", **{"transactional.id": txn_id}))
    producer.init_transactions(10)
    producer.begin_transaction()
    producer.produce(topic, b"in-txn")
    producer.commit_transaction(10)


def test_the_mtls_principal_is_the_certificates_dn(acl_broker: RunningBroker, certs: Certs) -> None:
    topic = new_topic(acl_broker)
    producer = Producer(client(acl_broker, "admin"))
    producer.produce(topic, b"for-alice-cert")
    producer.flush(10)
    config = ssl_client(acl_broker, certs)
    denied = consume_one(acl_broker, config, topic, f"g-{topic}")
    assert isinstance(denied, KafkaError)
    allow(acl_broker, ALICE_DN, ResourceType.TOPIC, topic, AclOperation.READ)
    allow(acl_broker, ALICE_DN, ResourceType.GROUP, f"g-{topic}", AclOperation.READ)
    assert consume_one(acl_broker, config, topic, f"g-{topic}") == b"for-alice-cert"


def test_super_users_bypass_acls(acl_broker: RunningBroker) -> None:
    topic = new_topic(acl_broker)
    allow(
        acl_broker, "User:admin", ResourceType.TOPIC, topic, AclOperation.ALL,
        permission=AclPermissionType.DENY,
    )  # fmt: skip
    assert produce_error(acl_broker, "admin", topic) is None


# --- the CLI ---


def riverlog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riverlog", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_riverlog_acls_add_list_remove(acl_broker: RunningBroker) -> None:
    topic = new_topic(acl_broker)
    group = f"g-{topic}"
    connection = [
        "-b", acl_broker.bootstrap("SASL_PLAINTEXT"),
        "--command-config", "security.protocol=SASL_PLAINTEXT",
        "--command-config", "sasl.mechanism=PLAIN",
        "--command-config", "sasl.username=admin",
        "--command-config", "sasl.password=admin-secret",
    ]  # fmt: skip
    added = riverlog(
        "acls", "add", "--allow-principal", "User:bob", "--consumer", "--topic", topic,
        "--group", group, *connection,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = riverlog("acls", "list", "--topic", topic, *connection)
    assert listed.returncode == 0, listed.stderr
    assert f"TOPIC:LITERAL:{topic}\tUser:bob\t*\tREAD\tALLOW" in listed.stdout
    assert f"TOPIC:LITERAL:{topic}\tUser:bob\t*\tDESCRIBE\tALLOW" in listed.stdout
    producer = Producer(client(acl_broker, "admin"))
    producer.produce(topic, b"cli")
    producer.flush(10)
    assert consume_one(acl_broker, client(acl_broker, "bob"), topic, group) == b"cli"
    removed = riverlog(
        "acls", "remove", "--allow-principal", "User:bob", "--topic", topic, *connection
    )
    assert removed.returncode == 0, removed.stderr
    assert "removed 2 ACL(s)" in removed.stdout
    bad = riverlog(
        "acls",
        "add",
        "--allow-principal",
        "bob",
        "--operation",
        "Read",
        "--topic",
        topic,
        *connection,
    )
    assert bad.returncode != 0 and "bad principal" in bad.stderr


def test_topic_configs_need_describe_configs_and_alter_configs(acl_broker: RunningBroker) -> None:
    from confluent_kafka.admin import ConfigResource

    topic = new_topic(acl_broker)
    alice = admin(acl_broker, "alice")
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    with pytest.raises(KafkaException) as raised:
        alice.describe_configs([resource])[resource].result(timeout=10)
    assert raised.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    allow(acl_broker, "User:alice", ResourceType.TOPIC, topic, AclOperation.ALTER_CONFIGS)
    configs = alice.describe_configs([resource])[resource].result(timeout=10)  # implied
    assert "retention.ms" in configs
    change = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"retention.ms": "1000"})
    alice.alter_configs([change])[change].result(timeout=10)


def test_create_partitions_needs_alter(acl_broker: RunningBroker) -> None:
    from confluent_kafka.admin import NewPartitions

    topic = new_topic(acl_broker)
    alice = admin(acl_broker, "alice")
    with pytest.raises(KafkaException) as raised:
        alice.create_partitions([NewPartitions(topic, 2)])[topic].result(timeout=10)
    assert raised.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    allow(acl_broker, "User:alice", ResourceType.TOPIC, topic, AclOperation.ALTER)
    alice.create_partitions([NewPartitions(topic, 2)])[topic].result(timeout=10)


def test_list_groups_shows_only_describable_groups(acl_broker: RunningBroker) -> None:
    topic = new_topic(acl_broker)
    producer = Producer(client(acl_broker, "admin"))
    producer.produce(topic, b"g")
    producer.flush(10)
    for group in (f"seen-{topic}", f"hidden-{topic}"):
        assert consume_one(acl_broker, client(acl_broker, "admin"), topic, group) == b"g"
    allow(acl_broker, "User:bob", ResourceType.GROUP, f"seen-{topic}", AclOperation.DESCRIBE)
    bob = admin(acl_broker, "bob")
    listed = {g.group_id for g in bob.list_consumer_groups().result(timeout=10).valid}
    assert f"seen-{topic}" in listed
    assert f"hidden-{topic}" not in listed


def test_cli_acls_list_json_matches_the_lines(acl_broker: RunningBroker) -> None:
    from typer.testing import CliRunner

    from riverlog.cli.main import app

    topic = f"cli-json-{uuid.uuid4().hex[:8]}"
    allow(acl_broker, "User:dave", ResourceType.TOPIC, topic, AclOperation.READ)
    login = [
        "--command-config", "security.protocol=SASL_PLAINTEXT",
        "--command-config", "sasl.mechanism=PLAIN",
        "--command-config", "sasl.username=admin",
        "--command-config", "sasl.password=admin-secret",
        "-b", acl_broker.bootstrap("SASL_PLAINTEXT"),
    ]  # fmt: skip

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, ["acls", "list", "--topic", topic, *args, *login])
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    listed = json.loads(run("--output", "json"))
    assert listed == [
        {
            "resource_type": "TOPIC",
            "pattern_type": "LITERAL",
            "resource_name": topic,
            "principal": "User:dave",
            "host": "*",
            "operation": "READ",
            "permission_type": "ALLOW",
        }
    ]
    assert run().splitlines() == [f"TOPIC:LITERAL:{topic}\tUser:dave\t*\tREAD\tALLOW"]
