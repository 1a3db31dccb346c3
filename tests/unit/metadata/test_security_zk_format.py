"""Kafka's znode formats for security data: broker registrations with several listeners, ACL znodes
and their change notifications, user and client quota paths; and the image records behind them."""

from __future__ import annotations

import json

from riverlog.metadata import zk_format as zf
from riverlog.metadata.image import (
    AclRecord,
    ClientQuotaRecord,
    ClusterImage,
    RegisterBrokerRecord,
    UserScramCredentialRecord,
    decode_record,
    encode_record,
    replay,
)


def test_a_registration_lists_every_listener_and_reads_back_the_inter_broker_one() -> None:
    reg = zf.BrokerRegistration(
        1,
        "10.0.0.1",
        9094,
        None,
        (("INTERNAL", "10.0.0.1", 9094), ("CLIENTS", "kafka.example", 9093)),
        (("INTERNAL", "SASL_SSL"), ("CLIENTS", "SSL")),
    )
    value = json.loads(zf.encode_broker(reg, 1))
    assert value["endpoints"] == ["INTERNAL://10.0.0.1:9094", "CLIENTS://kafka.example:9093"]
    assert value["listener_security_protocol_map"] == {"INTERNAL": "SASL_SSL", "CLIENTS": "SSL"}
    assert (value["host"], value["port"]) == (None, -1)  # no PLAINTEXT listener: as Kafka writes
    back = zf.decode_broker(1, zf.encode_broker(reg, 1), "INTERNAL")
    assert (back.host, back.port, back.endpoints) == ("10.0.0.1", 9094, reg.endpoints)
    assert zf.decode_broker(1, zf.encode_broker(reg, 1), "CLIENTS").port == 9093


def test_acl_znodes_and_notifications_in_kafkas_layout() -> None:
    assert zf.acl_path(2, 3, "orders") == "/kafka-acl/Topic/orders"
    assert zf.acl_path(3, 4, "team-") == "/kafka-acl-extended/prefixed/Group/team-"
    data = zf.encode_acls([("User:alice", "*", 3, 3), ("User:bob", "10.0.0.1", 2, 2)])
    assert json.loads(data)["acls"][0] == {
        "principal": "User:alice",
        "permissionType": "Allow",
        "operation": "Read",
        "host": "*",
    }
    assert sorted(zf.decode_acls("x", data)) == [
        ("User:alice", "*", 3, 3),
        ("User:bob", "10.0.0.1", 2, 2),
    ]
    assert zf.encode_acl_change(2, 3, "orders") == (
        "/kafka-acl-changes/acl_changes_",
        b"Topic:orders",
    )
    path, body = zf.encode_acl_change(2, 4, "ord")
    assert path == "/kafka-acl-extended-changes/acl-changes-"
    assert json.loads(body)["patternType"] == "PREFIXED"


def test_quota_paths() -> None:
    assert zf.quota_path((("user", "alice"),)) == ("/config/users/alice", "users/alice")
    assert zf.quota_path((("client-id", None),)) == (
        "/config/clients/<default>",
        "clients/<default>",
    )


def test_security_records_round_trip_and_replay() -> None:
    records = [
        RegisterBrokerRecord(0, "h", 1, None, "PLAINTEXT://h:1,SSL://h:2"),
        UserScramCredentialRecord("carol", "SCRAM-SHA-256", "salt=..."),
        AclRecord(2, "orders", 3, "User:alice", "*", 3, 3),
        ClientQuotaRecord((("client-id", None), ("user", "alice")), "producer_byte_rate", 1024.0),
    ]
    image = ClusterImage(cluster_id="c")
    for record in records:
        back = decode_record(encode_record(record))
        assert back == record
        image = replay(image, back)
    assert image.brokers[0].address("SSL") == ("h", 2)
    assert image.brokers[0].address("OTHER") is None
    assert image.scram_credentials["carol"]["SCRAM-SHA-256"] == "salt=..."
    assert (2, "orders", 3, "User:alice", "*", 3, 3) in image.acls
    assert image.client_quotas[(("client-id", None), ("user", "alice"))] == {
        "producer_byte_rate": 1024.0
    }
    image = replay(image, AclRecord(2, "orders", 3, "User:alice", "*", 3, 3, removed=True))
    image = replay(image, UserScramCredentialRecord("carol", "SCRAM-SHA-256", None))
    image = replay(
        image,
        ClientQuotaRecord((("client-id", None), ("user", "alice")), "producer_byte_rate", None),
    )
    assert not image.acls and not image.scram_credentials and not image.client_quotas
