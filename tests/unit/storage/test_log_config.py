"""LogConfig: Kafka topic config names, defaults, validation and broker synonyms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riverlog.storage.config import LONG_MAX, TOPIC_CONFIGS, LogConfig
from riverlog.storage.errors import InvalidConfigError


def test_defaults_are_kafkas() -> None:
    config = LogConfig()
    assert config.segment_bytes == 1024**3
    assert config.retention_ms == 7 * 24 * 3600 * 1000
    assert config.retention_bytes == -1
    assert config.index_interval_bytes == 4096
    assert config.segment_index_bytes == 10 * 1024 * 1024
    assert config.max_message_bytes == 1_048_588
    assert config.flush_messages == LONG_MAX and config.flush_ms == LONG_MAX
    assert config.cleanup_policy == ("delete",)
    assert config.delete and not config.compact
    assert not config.strict_durability


def test_topic_configs_are_parsed() -> None:
    config = LogConfig.from_topic_configs(
        {
            "segment.bytes": "1048576",
            "retention.ms": "-1",
            "cleanup.policy": "compact,delete",
            "message.timestamp.type": "LogAppendTime",
            "min.cleanable.dirty.ratio": "0.25",
            "unclean.leader.election.enable": "TRUE",
            "riverlog.strict.durability": "true",
        }
    )
    assert config.segment_bytes == 1048576
    assert config.retention_ms == -1
    assert config.cleanup_policy == ("compact", "delete")
    assert config.compact and config.delete
    assert config.log_append_time
    assert config.min_cleanable_dirty_ratio == 0.25
    assert config.unclean_leader_election_enable
    assert config.strict_durability


def test_base_config_is_kept_for_unset_keys() -> None:
    base = LogConfig(segment_bytes=5000)
    assert LogConfig.from_topic_configs({"retention.bytes": "10"}, base).segment_bytes == 5000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("segment.bytes", "abc"),
        ("segment.bytes", "1"),
        ("cleanup.policy", "delete,shred"),
        ("message.timestamp.type", "WallTime"),
        ("min.cleanable.dirty.ratio", "1.5"),
        ("preallocate", "yes"),
        ("retention.ms", "-2"),
    ],
)
def test_invalid_values_name_the_config(name: str, value: str) -> None:
    with pytest.raises(InvalidConfigError, match=name.replace(".", r"\.")):
        LogConfig.from_topic_configs({name: value})


def test_unknown_config_is_rejected() -> None:
    with pytest.raises(InvalidConfigError, match=r"no\.such\.config"):
        LogConfig.from_topic_configs({"no.such.config": "1"})
    assert issubclass(InvalidConfigError, ValueError)


def test_to_topic_configs_round_trips() -> None:
    config = LogConfig(cleanup_policy=("compact",), retention_ms=5, preallocate=True)
    rendered = config.to_topic_configs()
    assert set(rendered) == set(TOPIC_CONFIGS)
    assert rendered["cleanup.policy"] == "compact"
    assert rendered["preallocate"] == "true"
    assert LogConfig.from_topic_configs(rendered) == config


def test_broker_configs_map_to_topic_defaults() -> None:
    config = LogConfig.from_broker_configs(
        {
            "log.retention.hours": "1",
            "log.retention.minutes": "2",
            "log.segment.bytes": "2000000",
            "log.roll.hours": "3",
            "message.max.bytes": "1000",
            "riverlog.durability": "strict",
            "producer.id.expiration.ms": "5000",
            "broker.id": "1",
        }
    )
    assert config.retention_ms == 120_000  # minutes win over hours
    assert config.segment_bytes == 2_000_000
    assert config.segment_ms == 3 * 3_600_000
    assert config.max_message_bytes == 1000
    assert config.strict_durability
    assert config.producer_id_expiration_ms == 5000
    assert (
        LogConfig.from_broker_configs(
            {"log.retention.ms": "7", "log.retention.hours": "1"}
        ).retention_ms
        == 7
    )
    assert LogConfig.from_broker_configs({"log.retention.hours": "-1"}).retention_ms == -1
    with pytest.raises(InvalidConfigError, match=r"riverlog\.durability"):
        LogConfig.from_broker_configs({"riverlog.durability": "fast"})


@given(st.integers(min_value=14, max_value=2**31), st.integers(min_value=-1, max_value=2**40))
def test_numeric_configs_round_trip(segment_bytes: int, retention_ms: int) -> None:
    config = LogConfig.from_topic_configs(
        {"segment.bytes": str(segment_bytes), "retention.ms": str(retention_ms)}
    )
    assert (config.segment_bytes, config.retention_ms) == (segment_bytes, retention_ms)
