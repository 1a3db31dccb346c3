"""Python UDF/UDAF plugins found through the `riverlog.sql.functions` entry point group."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from riverlog.sql import functions
from riverlog.sql.qtt import run_test


def test_entry_point_plugin_adds_a_udf_and_a_udaf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_udfs.py").write_text(
        "from riverlog.sql.aggregates import Udaf\n"
        "from riverlog.sql import types as T\n"
        "class Product(Udaf):\n"
        "    returns = T.BIGINT\n"
        "    def init(self): return 1\n"
        "    def add(self, s, *a): return s if a[0] is None else s * a[0]\n"
        "    def undo(self, s, *a): return s\n"
        "    def merge(self, a, b): return a * b\n"
        "def setup(registry):\n"
        "    registry.scalar('shout', lambda s: s.upper() + '!', 'STRING', 'Shouts.')\n"
        "    registry.aggregate('product', lambda types: Product(), 'Multiplies.')\n"
    )
    dist = tmp_path / "my_udfs-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-udfs\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[riverlog.sql.functions]\nmine = my_udfs:setup\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(functions, "_plugins_loaded", None)
    assert "mine" in functions.load_plugins()
    case = {
        "name": "plugin functions",
        "statements": [
            "CREATE STREAM S (ID INT KEY, NAME STRING, N INT) WITH (kafka_topic='s', value_format='JSON');",
            "CREATE STREAM O AS SELECT ID, SHOUT(NAME) AS LOUD FROM S;",
            "CREATE TABLE P AS SELECT ID, PRODUCT(N) AS PROD FROM S GROUP BY ID;",
        ],
        "inputs": [
            {"topic": "s", "key": 1, "value": {"NAME": "hi", "N": 3}, "timestamp": 0},
            {"topic": "s", "key": 1, "value": {"NAME": "yo", "N": 4}, "timestamp": 1},
        ],
        "outputs": [
            {"topic": "O", "key": 1, "value": {"LOUD": "HI!"}},
            {"topic": "O", "key": 1, "value": {"LOUD": "YO!"}},
            {"topic": "P", "key": 1, "value": {"PROD": 3}},
            {"topic": "P", "key": 1, "value": {"PROD": 12}},
        ],
    }
    assert run_test(case) is None
    from riverlog.sql.describe import describe_function

    assert describe_function("shout")["description"] == "Shouts."
    del sys.modules["my_udfs"]
    from riverlog.sql.aggregates import AGGREGATES

    functions.FUNCTIONS.pop("SHOUT")
    AGGREGATES.pop("PRODUCT")
