"""The toll lab's SMTs and connector configs, without Kafka: ParseJson and ApplySchema on records, the
connector configs validated by the real connector classes' ConfigDefs, and the JDBC URL mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from riverlog.connect.api import SourceRecord
from riverlog.connect.data import Struct
from riverlog.connect.errors import ConfigException, DataException
from riverlog.connect.plugins import PLUGINS
from riverlog.labs.toll.platform.connectors import all_connectors, jdbc_url
from riverlog.labs.toll.platform.transforms import ApplySchema, ParseJson


def record(value: object) -> SourceRecord:
    return SourceRecord("toll.gantries", None, None, None, None, value)


def test_parse_json_turns_a_line_into_a_schemaless_value() -> None:
    smt = ParseJson()
    smt.configure({})
    out = smt.apply(record('{"gantry_id": "A1-G1", "km": 8.5, "lanes": 3}'))
    assert out is not None and out.value == {"gantry_id": "A1-G1", "km": 8.5, "lanes": 3}
    assert out.value_schema is None
    with pytest.raises(DataException, match="not JSON"):
        smt.apply(record("{nope"))


def test_apply_schema_builds_the_struct_the_jdbc_sink_needs() -> None:
    smt = ApplySchema()
    smt.configure({"fields": "passage_id:string,account_id:string?,amount_cents:int64,ids:string"})
    out = smt.apply(
        record({"passage_id": "P1", "account_id": None, "amount_cents": 150, "ids": ["a", "b"]})
    )
    assert out is not None and isinstance(out.value, Struct)
    assert [f.name for f in out.value_schema.fields] == [
        "passage_id",
        "account_id",
        "amount_cents",
        "ids",
    ]
    assert out.value.get("ids") == '["a","b"]'
    assert out.value.get("account_id") is None
    with pytest.raises(DataException, match="required field passage_id"):
        smt.apply(record({"amount_cents": 1, "ids": "x"}))
    with pytest.raises(DataException, match="not an integer"):
        smt.apply(record({"passage_id": "P", "amount_cents": "1", "ids": "x"}))


def test_apply_schema_refuses_a_bad_field_spec() -> None:
    with pytest.raises(ConfigException, match="name:type"):
        ApplySchema().configure({"fields": "passage_id:text"})


def test_every_connector_config_is_valid_for_its_class(tmp_path: Path) -> None:
    configs = all_connectors(
        "postgresql://app:pw@db:5432/tolls", tmp_path, "http://c:8080/labs/toll/alerts"
    )
    assert len(configs) == 8
    for name, config in configs.items():
        connector = PLUGINS.new(config["connector.class"])
        errors = {k: v for k, v in connector.validate(config).items() if v}
        assert errors == {}, name
        for key, value in config.items():
            if key.startswith("transforms.") and key.endswith(".type"):
                PLUGINS.load(value)  # every SMT class resolves
    assert configs["toll-pg-vehicles"]["connection.url"] == "jdbc:postgresql://db:5432/tolls"
    assert configs["toll-pg-vehicles"]["connection.password"] == "pw"


def test_jdbc_url_mapping() -> None:
    assert jdbc_url("postgresql://postgres@127.0.0.1:5433/postgres") == (
        "jdbc:postgresql://127.0.0.1:5433/postgres",
        "postgres",
        None,
    )
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        jdbc_url("mysql://x/y")


def test_pull_query_header_columns() -> None:
    from riverlog.labs.toll.platform.monitoring import _columns

    header = {
        "queryId": "q",
        "schema": "`GANTRY_ID` STRING KEY, `M` MAP<STRING, INTEGER>, `N` BIGINT",
    }
    assert [c.split(" ", 1)[0].strip("`") for c in _columns(header)] == ["GANTRY_ID", "M", "N"]
