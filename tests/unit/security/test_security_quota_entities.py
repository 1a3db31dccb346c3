"""Quota entities as AlterClientQuotas accepts them, values as Kafka stores them, ZooKeeper paths in
Kafka's layout (sanitized names), and the connection creation rate (KIP-612)."""

from __future__ import annotations

import pytest

from riverlog.broker.quotas import QuotaManager
from riverlog.metadata import zk_format as zf
from riverlog.metadata.image import ClusterImage
from riverlog.security.quota import (
    CONNECTION_CREATION_RATE,
    PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
    QuotaEntityError,
    check_entity,
    check_value,
    connection_quota,
    entity,
    stored_text,
)


def test_entities_are_sorted_and_checked_with_kafkas_messages() -> None:
    assert check_entity([("user", "alice"), ("client-id", "etl")]) == entity("alice", "etl")
    assert check_entity([("user", None)]) == entity(None)
    assert check_entity([("ip", "10.0.0.7")]) == (("ip", "10.0.0.7"),)
    assert check_entity([("ip", "::0001")]) == (("ip", "::1"),)
    refused = {
        "Invalid quota entity combination, IP entity should not be used with user/client ID "
        "entity.": [("ip", None), ("user", "a")],
        "Duplicate user entity": [("user", "a"), ("user", "b")],
        "Empty client-id not supported": [("client-id", "")],
        "Invalid empty client quota entity": [],
        "Unhandled client quota entity type: group": [("group", "g")],
        "not-an-ip is not a valid IP.": [("ip", "not-an-ip")],
    }
    for message, parts in refused.items():
        with pytest.raises(QuotaEntityError) as caught:
            check_entity(parts)
        assert str(caught.value) == message


def test_values_follow_kafkas_key_types() -> None:
    user, ip = entity("alice"), (("ip", None),)
    assert check_value(user, PRODUCER_BYTE_RATE, 1048576.0) == 1048576.0
    assert check_value(user, REQUEST_PERCENTAGE, 12.5) == 12.5
    assert check_value(ip, CONNECTION_CREATION_RATE, 20.0) == 20.0
    for owner, key, value, message in (
        (user, PRODUCER_BYTE_RATE, 1.5, "Configuration producer_byte_rate must be a LONG value"),
        (ip, CONNECTION_CREATION_RATE, 2.5, "Configuration connection_creation_rate must be a INT value"),
        (ip, PRODUCER_BYTE_RATE, 1.0, "Invalid configuration key producer_byte_rate"),
        (user, CONNECTION_CREATION_RATE, 1.0, "Invalid configuration key connection_creation_rate"),
        (user, PRODUCER_BYTE_RATE, 0.0, "Quota producer_byte_rate must be positive"),
    ):  # fmt: skip
        with pytest.raises(QuotaEntityError, match=message):
            check_value(owner, key, value)
    # In ZooKeeper, LONG and INT keys are whole numbers, DOUBLE ones as Java prints a double.
    assert stored_text(PRODUCER_BYTE_RATE, 1048576.0) == "1048576"
    assert stored_text(CONNECTION_CREATION_RATE, 20.0) == "20"
    assert stored_text(REQUEST_PERCENTAGE, 200.0) == "200.0"


def test_zookeeper_paths_are_kafkas() -> None:
    assert zf.quota_path(entity("alice")) == ("/config/users/alice", "users/alice")
    assert zf.quota_path(entity(None)) == ("/config/users/<default>", "users/<default>")
    assert zf.quota_path(entity(client_id="etl")) == ("/config/clients/etl", "clients/etl")
    assert zf.quota_path(entity("alice", None)) == (
        "/config/users/alice/clients/<default>",
        "users/alice/clients/<default>",
    )
    assert zf.quota_path(entity(None, "etl"))[0] == "/config/users/<default>/clients/etl"
    assert zf.quota_path((("ip", "10.0.0.7"),)) == ("/config/ips/10.0.0.7", "ips/10.0.0.7")
    assert zf.quota_path((("ip", None),))[0] == "/config/ips/<default>"
    # Kafka's Sanitizer: URL encoding, '*' as %2A, space as %20; ':' and '@' encoded too.
    assert zf.sanitize("CN=alice, O=x*") == "CN%3Dalice%2C%20O%3Dx%2A"
    assert zf.sanitize("svc.etl-1_a") == "svc.etl-1_a"
    assert zf.sanitize("ü") == "%C3%BC"
    for name in ("CN=alice, O=x*", "ü", "a+b", "plain"):
        assert zf.entity_name(zf.sanitize(name)) == name
    assert zf.entity_name("<default>") is None
    assert zf.user_config_path("a b") == "/config/users/a%20b"


def test_connections_over_the_ip_rate_are_refused_and_not_counted() -> None:
    quotas = {(("ip", "10.0.0.7"),): {CONNECTION_CREATION_RATE: 1.0}}
    assert connection_quota(quotas, "10.0.0.7") == 1.0
    assert connection_quota(quotas, "10.0.0.8") is None
    with_default = {**quotas, (("ip", None),): {CONNECTION_CREATION_RATE: 5.0}}
    assert connection_quota(with_default, "10.0.0.8") == 5.0

    image = ClusterImage(cluster_id="c", client_quotas=quotas)
    manager = QuotaManager(lambda: image)
    # Rate 1/s over 11 one-second windows (at least 10 s elapsed): ten connections fit at once.
    now = 1_000_000
    assert [manager.connection_throttle_ms("10.0.0.7", now) for _ in range(10)] == [0] * 10
    throttle = manager.connection_throttle_ms("10.0.0.7", now)
    assert throttle == 1000  # (1.1 - 1) / 1 * 10 s
    # The refused connection was not counted: the next one earns the same throttle.
    assert manager.connection_throttle_ms("10.0.0.7", now) == throttle
    assert manager.connection_throttle_ms("10.0.0.8", now) == 0  # no quota for that address
    # After the windows roll over, connections are accepted again.
    assert manager.connection_throttle_ms("10.0.0.7", now + 12_000) == 0
