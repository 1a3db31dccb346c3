"""pytest plugin (``-p compat_report``): one JSON line per test to the file named by $COMPAT_REPORT.

Each line is ``{"nodeid": ..., "outcome": "passed"|"failed"|"error"|"skipped", "reason": ...}``: the
call phase's outcome, or the setup / teardown phase's when that one failed or skipped (an error in
setup is "error", as pytest reports it). The runner reads these lines; pytest's own output stays as is.
"""

from __future__ import annotations

import json
import os

import pytest

_seen: dict[str, dict[str, str]] = {}


def _reason(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    lines = str(report.longrepr or "").strip().splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors or lines[-1:] or [""])[0][:300]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _seen.get(report.nodeid)
    if report.when == "setup":
        if report.failed:
            _seen[report.nodeid] = {"outcome": "error", "reason": _reason(report)}
        elif report.skipped:
            _seen[report.nodeid] = {"outcome": "skipped", "reason": _reason(report)}
    elif report.when == "call":
        outcome = "passed" if report.passed else "skipped" if report.skipped else "failed"
        _seen[report.nodeid] = {
            "outcome": outcome,
            "reason": _reason(report) if report.failed else "",
        }
    elif (
        report.when == "teardown"
        and report.failed
        and (entry is None or entry["outcome"] == "passed")
    ):
        _seen[report.nodeid] = {"outcome": "error", "reason": "teardown: " + _reason(report)}


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("COMPAT_REPORT")
    if not path:
        return
    with open(path, "w") as out:
        for nodeid, entry in _seen.items():
            out.write(json.dumps({"nodeid": nodeid, **entry}) + "\n")
