"""ZooKeeper payloads in Kafka's own JSON layout."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riverlog.metadata import zk_format as zf


def test_broker_registration_is_kafkas_json() -> None:
    data = zf.encode_broker(zf.BrokerRegistration(3, "h", 9093, "r1"), 123)
    value = json.loads(data)
    assert value["endpoints"] == ["PLAINTEXT://h:9093"] and value["rack"] == "r1"
    assert zf.decode_broker(3, data) == zf.BrokerRegistration(3, "h", 9093, "r1")


def test_broker_without_host_uses_its_first_endpoint() -> None:
    data = b'{"version":5,"host":null,"port":-1,"endpoints":["SASL_SSL://k1:9094"]}'
    assert zf.decode_broker(1, data) == zf.BrokerRegistration(1, "k1", 9094)


def test_partition_state_and_topic_round_trip() -> None:
    state = zf.LeaderAndIsr(2, 7, (2, 1), 3)
    assert zf.decode_state("s", zf.encode_state(state)) == state
    topic_id = uuid.uuid4()
    decoded = zf.decode_topic("t", zf.encode_topic(topic_id, {1: [2, 3], 0: [1, 2]}))
    assert decoded.topic_id == topic_id and decoded.partitions == {0: (1, 2), 1: (2, 3)}


@given(st.uuids())
def test_topic_ids_use_kafkas_base64url_text(topic_id: uuid.UUID) -> None:
    text = zf.encode_topic_id(topic_id)
    assert "=" not in text and len(text) == 22
    assert zf.decode_topic_id(text) == topic_id


def test_garbage_znodes_raise_a_format_error_naming_the_znode() -> None:
    with pytest.raises(zf.ZkFormatError, match="t-0 state"):
        zf.decode_state("t-0 state", b"{not json")
    with pytest.raises(zf.ZkFormatError, match="controller"):
        zf.decode_controller(b'{"version":1}')


def test_producer_id_block_and_configs() -> None:
    assert zf.decode_producer_id_block(b"") == 0
    assert zf.decode_producer_id_block(zf.encode_producer_id_block(1, 0, 999)) == 1000
    assert zf.decode_config("c", zf.encode_config({"a": "1"})) == {"a": "1"}
