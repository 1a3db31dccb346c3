"""Listener settings: Kafka's validation rules, each failure naming its key; per-listener overrides."""

from __future__ import annotations

import pytest

from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import ConfigError
from riverlog.broker.listeners import plan_listeners


def plan(**settings: str):
    return plan_listeners(BrokerConfig.load(None, settings, environ={}))


def test_named_listeners_with_a_custom_protocol_map() -> None:
    result = plan(
        **{
            "listeners": "INTERNAL://:9092,EXTERNAL://0.0.0.0:9093,SSL://h:9094",
            "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL,SSL:SSL",
            "advertised.listeners": "INTERNAL://broker1:9092,EXTERNAL://public.example:443",
            "inter.broker.listener.name": "INTERNAL",
        }
    )
    assert [(ln.name, ln.protocol) for ln in result.listeners] == [
        ("INTERNAL", "PLAINTEXT"),
        ("EXTERNAL", "SASL_SSL"),
        ("SSL", "SSL"),
    ]
    assert result.advertised == {
        "INTERNAL": ("broker1", 9092),
        "EXTERNAL": ("public.example", 443),
        "SSL": ("h", 9094),
    }
    assert result.inter_broker == "INTERNAL"


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"listeners": "FOO://:9092"}, "listener.security.protocol.map"),
        ({"listeners": "PLAINTEXT://:9092,PLAINTEXT://:9093"}, "listeners"),
        ({"listeners": "PLAINTEXT://:9092,SSL://:9092"}, "listeners"),
        ({"listeners": "SSL://h:x"}, "listeners"),
        ({"listener.security.protocol.map": "A:TLS"}, "listener.security.protocol.map"),
        ({"advertised.listeners": "SSL://h:1"}, "advertised.listeners"),
        ({"inter.broker.listener.name": "SSL"}, "inter.broker.listener.name"),
        (
            {"listeners": "SSL://:1,SASL_SSL://:2", "security.inter.broker.protocol": "PLAINTEXT"},
            "security.inter.broker.protocol",
        ),
        (
            {"inter.broker.listener.name": "PLAINTEXT", "security.inter.broker.protocol": "SSL"},
            "inter.broker.listener.name",
        ),
    ],
)
def test_invalid_listener_settings_name_their_key(settings: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        plan(**settings)
    assert key in str(raised.value)


def test_per_listener_overrides_win_over_the_broker_wide_setting() -> None:
    config = BrokerConfig.load(
        None,
        {"ssl.client.auth": "requested", "listener.name.internal.ssl.client.auth": "required"},
        environ={},
    )
    assert config.for_listener("INTERNAL", "ssl.client.auth") == "required"
    assert config.for_listener("EXTERNAL", "ssl.client.auth") == "requested"


@pytest.mark.parametrize(
    "key", ["listener.name.x.log.retention.ms", "listener.name.x.ssl.bogus", "ssl.bogus"]
)
def test_unknown_or_non_overridable_listener_settings_fail(key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        BrokerConfig.load(None, {key: "1"}, environ={})
    assert key in str(raised.value)


def test_a_mechanism_scoped_jaas_config_is_accepted() -> None:
    key = "listener.name.sasl_ssl.plain.sasl.jaas.config"
    config = BrokerConfig.load(None, {key: "M required;"}, environ={})
    assert config.explicit[key] == "M required;"


def test_the_listener_part_of_an_override_is_case_insensitive() -> None:
    config = BrokerConfig.load(
        None, {"listener.name.INTERNAL.ssl.client.auth": "required"}, environ={}
    )
    assert config.for_listener("internal", "ssl.client.auth") == "required"
