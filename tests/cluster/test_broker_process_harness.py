"""The broker-process harness on a single-node broker (no ZooKeeper): start, pause, kill, restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from riverlog.testing.cluster import BrokerProcess, ClusterError

pytestmark = pytest.mark.cluster


def test_broker_process_life_cycle(tmp_path: Path) -> None:
    broker = BrokerProcess(7, tmp_path / "broker-7", zookeeper=None)
    try:
        broker.start()
        port = broker.port
        assert broker.metadata([]).brokers == {7: ("127.0.0.1", port)}

        broker.pause()
        assert broker.is_running and not broker.is_live
        with pytest.raises(OSError):
            broker.metadata([], timeout=0.5)
        broker.resume()
        assert broker.metadata([]).controller_id == 7

        broker.kill()
        assert broker.exit_code == -9
        broker.restart()
        assert broker.port == port
        assert broker.metadata([]).brokers == {7: ("127.0.0.1", port)}

        broker.pause()
        broker.stop()  # continues the paused broker, then SIGTERM: a clean exit
        assert broker.exit_code == 0
        assert "--- " in broker.log_path.read_text()
    finally:
        broker.kill()


def test_a_broker_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    broker = BrokerProcess(
        1, tmp_path / "broker-1", zookeeper=None, settings={"no.such.setting": "1"}
    )
    with pytest.raises(ClusterError, match="no.such.setting"):
        broker.start()
    assert broker.exit_code not in (None, 0)
