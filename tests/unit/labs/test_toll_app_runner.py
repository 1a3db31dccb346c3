"""The toll apps' entry points: topologies by application.id suffix, configs, lab settings."""

from __future__ import annotations

import pytest

from riverlog.labs.toll.apps import APP_DEFAULTS, TollApps, build_topologies
from riverlog.labs.toll.model import TOPICS


def test_build_topologies_names_the_apps_and_their_topics() -> None:
    topologies = build_topologies({})
    assert set(topologies) == {"charging", "billing"}
    charging = str(topologies["charging"].describe())
    assert TOPICS["passages"] in charging and TOPICS["charges"] in charging
    assert "repartition" not in charging  # every join is co-partitioned by plate or global
    billing = str(topologies["billing"].describe())
    assert TOPICS["balances"] in billing and TOPICS["invoices"] in billing


@pytest.mark.parametrize("bad", ["soon", "0", "-5"])
def test_a_bad_lab_setting_fails_naming_the_key(bad: str) -> None:
    with pytest.raises(ValueError, match=r"toll\.unpaid\.after\.ms"):
        build_topologies({"toll.unpaid.after.ms": bad})


def test_configs_are_exactly_once_and_keep_lab_settings_out_of_the_clients() -> None:
    apps = TollApps(
        "localhost:1",
        state_dir="/tmp/unused",
        application_prefix="lab",
        extra_config={"commit.interval.ms": 50, "toll.unpaid.after.ms": "60000"},
    )
    config = apps.config_for("charging")
    assert config["application.id"] == "lab-charging"
    assert (
        config["processing.guarantee"] == APP_DEFAULTS["processing.guarantee"] == "exactly_once_v2"
    )
    assert config["commit.interval.ms"] == 50
    assert "toll.unpaid.after.ms" not in config
    assert apps.lab_settings == {"toll.unpaid.after.ms": "60000"}
