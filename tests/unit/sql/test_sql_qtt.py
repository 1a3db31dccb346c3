"""Query-validation tests: every case of every tests/unit/sql/qtt/*.json file, through the driver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from riverlog.sql.qtt import run_test

QTT_DIR = Path(__file__).parent / "qtt"


def _cases() -> list[Any]:
    out = []
    for path in sorted(QTT_DIR.glob("*.json")):
        for case in json.loads(path.read_text())["tests"]:
            out.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return out


@pytest.mark.parametrize("case", _cases())
def test_qtt(case: dict[str, Any]) -> None:
    problem = run_test(case)
    assert problem is None, problem
