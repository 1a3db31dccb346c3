"""pytest plugin (entry point `riverlog`): the `riverlog_broker` fixture, a real in-process broker.

def test_roundtrip(riverlog_broker):
    producer = Producer({"bootstrap.servers": riverlog_broker.bootstrap_servers})
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from riverlog.testing.broker import RunningBroker


@pytest.fixture
def riverlog_broker(tmp_path: Path) -> Iterator[RunningBroker]:
    """A broker on a free port with its data under the test's tmp_path; stopped after the test."""
    # Imported here so that merely having riverlog installed costs other test suites nothing.
    from riverlog.testing.broker import RunningBroker

    with RunningBroker(tmp_path / "riverlog-data") as broker:
        yield broker
