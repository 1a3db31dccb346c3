"""LIST configs may be empty (issue 20): `cleanup.policy` emptied by SUBTRACT or set to "" is accepted.

Kafka's ValidList checks each item of a LIST and nothing else, so an empty `cleanup.policy` is valid
(Kafka 4.2 documents it as infinite retention: neither time/size deletion nor compaction). riverlog
refused it with INVALID_CONFIG. `cleanup.policy` and `log.cleanup.policy` are riverlog's only
alterable LIST configs.
"""

from __future__ import annotations

import pytest
from kio.schema.errors import ErrorCode
from test_admin_handlers import create, error_code, make_services

from riverlog.broker.admin.configs import APPEND, LIST_CONFIGS, SUBTRACT
from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import parse_cleanup_policy, validate_topic_config
from riverlog.storage.config import LogConfig


def test_the_alterable_list_configs() -> None:
    assert {"cleanup.policy", "log.cleanup.policy"} == LIST_CONFIGS


@pytest.mark.parametrize("text", ["", " ", ","])
def test_an_empty_cleanup_policy_parses(text: str) -> None:
    assert parse_cleanup_policy(text) == ""
    assert validate_topic_config("cleanup.policy", text) == ""


def test_an_empty_cleanup_policy_neither_deletes_nor_compacts() -> None:
    config = LogConfig.from_topic_configs({"cleanup.policy": ""})
    assert (config.delete, config.compact) == (False, False)


def test_subtract_of_the_last_value_leaves_an_empty_list() -> None:
    services = make_services()
    create(services.topics, "t")
    ops = [("cleanup.policy", SUBTRACT, "delete")]
    assert services.topics.incremental_alter_topic_configs("t", ops, False) is None
    assert services.image.topics["t"].configs == {"cleanup.policy": ""}
    ops = [("cleanup.policy", APPEND, "compact")]
    assert services.topics.incremental_alter_topic_configs("t", ops, False) is None
    assert services.image.topics["t"].configs == {"cleanup.policy": "compact"}


def test_alter_configs_and_create_topics_accept_an_empty_cleanup_policy() -> None:
    services = make_services()
    create(services.topics, "created", configs={"cleanup.policy": ""})
    assert services.image.topics["created"].configs == {"cleanup.policy": ""}
    create(services.topics, "altered")
    changes = {"cleanup.policy": ""}
    assert services.topics.alter_topic_configs("altered", changes, True, False) is None
    assert services.image.topics["altered"].configs == {"cleanup.policy": ""}
    bad = {"cleanup.policy": "delete,shred"}
    assert error_code(services.topics.alter_topic_configs("altered", bad, True, False)) == (
        ErrorCode.invalid_config
    )


def test_broker_log_cleanup_policy_may_be_emptied() -> None:
    services = make_services()
    ops = [("log.cleanup.policy", SUBTRACT, "delete")]
    assert services.topics.incremental_alter_broker_configs("0", ops, False) is None
    assert services.image.broker_configs == {"log.cleanup.policy": ""}
    static = BrokerConfig.load(None, {"log.cleanup.policy": ""}, environ={})
    assert static.get_str("log.cleanup.policy") == ""
