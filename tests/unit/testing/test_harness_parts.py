"""The cluster harness's pure parts: command lines, environments, configs (no processes started)."""

from __future__ import annotations

from pathlib import Path

from riverlog.testing.broker_process import BrokerProcess, broker_environment
from riverlog.testing.cluster import LocalCluster
from riverlog.testing.zookeeper import ZooKeeperServer, render_config


def test_broker_command_line_is_the_documented_one(tmp_path: Path) -> None:
    broker = BrokerProcess(
        2,
        tmp_path / "broker-2",
        zookeeper="127.0.0.1:2181/rl",
        port=9093,
        settings={"min.insync.replicas": "2", "replica.lag.time.max.ms": "3000"},
        python="python",
    )
    assert broker.command() == [
        "python", "-m", "riverlog", "broker", "start",
        "--zookeeper", "127.0.0.1:2181/rl",
        "--broker-id", "2",
        "--listen", "127.0.0.1:9093",
        "--data-dir", str(tmp_path / "broker-2"),
        "--set", "min.insync.replicas=2",
        "--set", "replica.lag.time.max.ms=3000",
    ]  # fmt: skip
    assert broker.bootstrap == "127.0.0.1:9093"
    assert broker.log_path == tmp_path / "broker-2.log"


def test_a_namespaced_broker_runs_behind_the_prefix(tmp_path: Path) -> None:
    broker = BrokerProcess(
        1,
        tmp_path / "b",
        zookeeper=None,
        port=9092,
        host="10.1.2.2",
        command_prefix=["ip", "netns", "exec", "rlabcd-1"],
        python="python",
    )
    command = broker.command()
    assert command[:5] == ["ip", "netns", "exec", "rlabcd-1", "python"]
    assert "--zookeeper" not in command  # single-node mode
    assert command[command.index("--listen") + 1] == "10.1.2.2:9092"


def test_brokers_do_not_inherit_riverlog_variables(monkeypatch) -> None:
    monkeypatch.setenv("RIVERLOG_CHAOS", "1")
    monkeypatch.setenv("RIVERLOG_LOG_RETENTION_MS", "5")
    monkeypatch.setenv("HOME_OF_TEST", "kept")
    environment = broker_environment()
    assert not [k for k in environment if k.startswith("RIVERLOG_")]
    assert environment["HOME_OF_TEST"] == "kept"
    assert environment["PYTHONUNBUFFERED"] == "1"


def test_local_cluster_layout_before_start(tmp_path: Path) -> None:
    cluster = LocalCluster(
        "127.0.0.1:2181", tmp_path, size=3, config={"a.b": "1"}, min_insync_replicas="2"
    )
    assert [b.broker_id for b in cluster.brokers] == [1, 2, 3]
    assert [b.data_dir for b in cluster.brokers] == [tmp_path / f"broker-{n}" for n in (1, 2, 3)]
    assert cluster.settings == {"a.b": "1", "min.insync.replicas": "2"}
    assert cluster.chroot.startswith("/riverlog-")
    assert cluster.zookeeper_connect == f"127.0.0.1:2181{cluster.chroot}"
    assert cluster.broker(2) is cluster.brokers[1]
    other = LocalCluster("127.0.0.1:2181", tmp_path, chroot="")
    assert other.zookeeper_connect == "127.0.0.1:2181"
    assert other.chroot != cluster.chroot


def test_fixed_ports_are_kept(tmp_path: Path) -> None:
    cluster = LocalCluster("zk:1", tmp_path, size=2, ports=[9092, 9093], chroot="")
    assert cluster.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9093"  # none live: all listed


def test_zoo_cfg_serves_on_the_host_with_admin_off(tmp_path: Path) -> None:
    server = ZooKeeperServer(tmp_path, port=2999, host="10.9.8.1", settings={"snapCount": "50"})
    config = server.zoo_cfg()
    assert config["clientPort"] == "2999"
    assert config["clientPortAddress"] == "10.9.8.1"
    assert config["admin.enableServer"] == "false"
    assert config["4lw.commands.whitelist"] == "ruok,srvr"
    assert config["tickTime"] == "500"
    assert config["snapCount"] == "50"
    assert server.connect_string == "10.9.8.1:2999"
    assert render_config({"a": "1", "b": "2"}) == "a=1\nb=2\n"
