"""The ZooKeeper harness: a real server that serves, keeps its data across restarts and crashes."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from riverlog.testing.zookeeper import ZooKeeperError, ZooKeeperServer

pytestmark = pytest.mark.cluster


def connect(server: ZooKeeperServer) -> KazooClient:
    client = KazooClient(hosts=server.connect_string, timeout=10.0)
    client.start(timeout=15.0)
    return client


def test_serves_standalone_and_answers_four_letter_words(zookeeper: ZooKeeperServer) -> None:
    assert zookeeper.four_letter_word("ruok") == "imok"
    assert "Mode: standalone" in zookeeper.four_letter_word("srvr")
    assert zookeeper.startup_seconds is not None
    print(f"ZooKeeper served {zookeeper.startup_seconds:.2f} s after launch")


def test_kazoo_creates_and_reads(zookeeper: ZooKeeperServer) -> None:
    client = connect(zookeeper)
    try:
        root = f"/h-{uuid.uuid4().hex[:8]}"
        client.create(f"{root}/config", b'{"a":1}', makepath=True)
        client.create(f"{root}/ids/1", b"one", ephemeral=True, makepath=True)
        assert client.get(f"{root}/config")[0] == b'{"a":1}'
        assert client.get_children(f"{root}/ids") == ["1"]
    finally:
        client.stop()
        client.close()


def test_restart_and_crash_keep_port_and_data(tmp_path: Path) -> None:
    with ZooKeeperServer(tmp_path / "zk") as server:
        port = server.port
        client = connect(server)
        client.create("/kept", b"v1")
        client.create("/session-bound", b"", ephemeral=True)
        client.stop()
        client.close()

        server.restart()
        assert server.port == port
        client = connect(server)
        assert client.get("/kept")[0] == b"v1"
        assert client.exists("/session-bound") is None  # the closed session's ephemeral is gone
        client.set("/kept", b"v2")
        client.stop()
        client.close()

        server.kill()
        assert not server.is_running
        server.start()
        assert server.port == port
        client = connect(server)
        assert client.get("/kept")[0] == b"v2"
        client.stop()
        client.close()
    assert not server.is_running


def test_a_taken_port_fails_loudly(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server = ZooKeeperServer(tmp_path / "zk", port=squatter.getsockname()[1], start_timeout=20)
        with pytest.raises(ZooKeeperError, match="exited with code"):
            server.start()
    assert "Address already in use" in server.log_path.read_text()
    assert not server.is_running
