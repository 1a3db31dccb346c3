from __future__ import annotations

from pathlib import Path

import pytest

from riverlog.broker.config import BrokerConfig, parse_listener
from riverlog.broker.config_defs import ConfigError, validate_topic_config


def test_defaults_are_kafkas() -> None:
    config = BrokerConfig.load(environ={})
    assert config.get_int("num.partitions") == 1
    assert config.get_int("message.max.bytes") == 1048588
    assert config.retention_ms() == 168 * 3_600_000
    assert config.topic_default("segment.ms") == str(168 * 3_600_000)
    assert config.topic_default("cleanup.policy") == "delete"
    assert config.topic_default_source("retention.ms") == "DEFAULT_CONFIG"


def test_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    props = tmp_path / "server.properties"
    props.write_text("num.partitions=2\nlog.retention.hours=1\nlog.segment.bytes: 1000\n")
    config = BrokerConfig.load(
        props, {"num.partitions": "4"}, environ={"RIVERLOG_LOG_SEGMENT_BYTES": "2000"}
    )
    assert config.get_int("num.partitions") == 4
    assert config.get_int("log.segment.bytes") == 2000
    assert config.retention_ms() == 3_600_000
    assert config.topic_default("retention.ms") == "3600000"
    assert config.topic_default_source("segment.bytes") == "STATIC_BROKER_CONFIG"


def test_retention_ms_wins_over_hours() -> None:
    config = BrokerConfig.load(
        None, {"log.retention.ms": "5000", "log.retention.hours": "1"}, environ={}
    )
    assert config.retention_ms() == 5000


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "broker.toml"
    path.write_text('[log]\n"retention.ms" = 42\n[auto.create.topics]\nenable = false\n')
    config = BrokerConfig.load(path, environ={})
    assert config.retention_ms() == 42
    assert config.get_bool("auto.create.topics.enable") is False


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"no.such.key": "1"}, "no.such.key"),
        ({"num.partitions": "0"}, "num.partitions"),
        ({"log.cleanup.policy": "never"}, "log.cleanup.policy"),
        ({"auto.create.topics.enable": "yes"}, "auto.create.topics.enable"),
        ({"riverlog.durability": "maybe"}, "riverlog.durability"),
    ],
)
def test_invalid_keys_and_values_name_the_key(overrides: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        BrokerConfig.load(None, overrides, environ={})


def test_unknown_environment_variable_is_refused() -> None:
    with pytest.raises(ConfigError, match="RIVERLOG_NOT_A_CONFIG"):
        BrokerConfig.load(environ={"RIVERLOG_NOT_A_CONFIG": "1"})


def test_listener_parsing() -> None:
    assert parse_listener("PLAINTEXT://localhost:9092") == ("localhost", 9092)
    assert parse_listener("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listener("PLAINTEXT://:9093") == ("0.0.0.0", 9093)
    with pytest.raises(ConfigError):
        parse_listener("nonsense")


def test_topic_config_validation() -> None:
    assert validate_topic_config("cleanup.policy", "delete,compact") == "compact,delete"
    with pytest.raises(ConfigError, match=r"retention\.ms"):
        validate_topic_config("retention.ms", "-2")
    with pytest.raises(ConfigError, match="unknown topic config"):
        validate_topic_config("retention.mss", "1")


def test_the_projects_own_chaos_knobs_are_not_read_as_configs() -> None:
    config = BrokerConfig.load(
        None, {}, environ={"RIVERLOG_CHAOS": "1", "RIVERLOG_CHAOS_SEED": "7"}
    )
    assert config.get_int("num.partitions") == 1
    with pytest.raises(ConfigError, match="RIVERLOG_NOPE"):
        BrokerConfig.load(None, {}, environ={"RIVERLOG_NOPE": "1"})
