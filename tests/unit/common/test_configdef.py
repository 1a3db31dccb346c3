"""ConfigDef: declared keys parse typed values, fill defaults, and refuse unknown or invalid keys by name."""

from __future__ import annotations

import pytest

from riverlog.common.configdef import (
    ConfigDef,
    ConfigError,
    Importance,
    Type,
    in_range,
    load_properties,
    one_of,
)


def table() -> ConfigDef:
    return (
        ConfigDef()
        .define("bootstrap.servers", Type.LIST, importance=Importance.HIGH, doc="brokers")
        .define("commit.interval.ms", Type.LONG, 30000, in_range(0))
        .define(
            "processing.guarantee",
            Type.STRING,
            "at_least_once",
            one_of("at_least_once", "exactly_once_v2"),
        )
        .define("enable.feature", Type.BOOLEAN, False)
        .define("ratio", Type.DOUBLE, 0.5)
    )


def test_parse_types_and_defaults() -> None:
    parsed = table().parse(
        {"bootstrap.servers": "a:1, b:2", "commit.interval.ms": "100", "enable.feature": "TRUE"}
    )
    assert parsed == {
        "bootstrap.servers": ["a:1", "b:2"],
        "commit.interval.ms": 100,
        "enable.feature": True,
        "processing.guarantee": "at_least_once",
        "ratio": 0.5,
    }


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        table().parse({"bootstrap.servers": "a:1", "comit.interval.ms": "5"})
    assert info.value.key == "comit.interval.ms"


def test_prefixed_keys_pass_through() -> None:
    parsed = table().parse(
        {"bootstrap.servers": "a:1", "producer.linger.ms": "5"}, prefixes=["producer."]
    )
    assert parsed["producer.linger.ms"] == "5"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("commit.interval.ms", "-1"),
        ("commit.interval.ms", "soon"),
        ("enable.feature", "yes"),
        ("processing.guarantee", "exactly_once"),
        ("ratio", "half"),
    ],
)
def test_invalid_values_are_named(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        table().parse({"bootstrap.servers": "a:1", key: value})
    assert info.value.key == key
    assert value in str(info.value)


def test_missing_required_key() -> None:
    with pytest.raises(ConfigError) as info:
        table().parse({})
    assert info.value.key == "bootstrap.servers"


def test_validate_reports_every_key() -> None:
    errors = table().validate({"commit.interval.ms": "x"})
    assert errors["bootstrap.servers"] and errors["commit.interval.ms"]
    assert errors["ratio"] == []


def test_define_twice_is_refused() -> None:
    with pytest.raises(ValueError):
        table().define("ratio", Type.DOUBLE, 1.0)


def test_load_properties() -> None:
    text = "# comment\n! also\nname = file-source\nfile:/tmp/a b\nlong=one,\\\n  two\nempty=\n"
    assert load_properties(text) == {
        "name": "file-source",
        "file": "/tmp/a b",
        "long": "one,two",
        "empty": "",
    }


def test_defaults_are_typed_like_given_values() -> None:
    # a LIST key declared with a string default parses it as a list (the registry's `listeners`
    # default "http://0.0.0.0:8081" used to reach its server as a bare string)
    defs = ConfigDef().define("listeners", Type.LIST, "http://0.0.0.0:8081, http://[::]:8082")
    defs.define("port", Type.INT, "8081")
    assert defs.parse({}) == {
        "listeners": ["http://0.0.0.0:8081", "http://[::]:8082"],
        "port": 8081,
    }


def test_registry_defaults_are_lists() -> None:
    from riverlog.registry.config import REGISTRY_CONFIG

    parsed = REGISTRY_CONFIG.parse({})
    assert parsed["listeners"] == ["http://0.0.0.0:8081"]
    assert parsed["kafkastore.bootstrap.servers"] == ["localhost:9092"]
