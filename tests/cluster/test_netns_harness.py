"""Network namespaces: a process inside one reaches the root namespace and the other namespaces
through the bridge; cutting its link stops that; healing restores it; closing leaves nothing behind."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from riverlog.testing.netns import Network, NetworkError, NetworkNamespace, available, ip

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(available() is not None, reason=f"{available()}"),
]

# Connects to HOST:PORT, sends a line, prints what comes back; exit code 1 when it cannot connect.
CLIENT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5) as conn:
        conn.sendall(b"ping\\n")
        print(conn.recv(100).decode().strip())
except OSError as exc:
    print(type(exc).__name__)
    sys.exit(1)
"""


class EchoServer:
    """Answers each connection's first line with `pong`, on host:<free port>."""

    def __init__(self, host: str) -> None:
        self.listener = socket.create_server((host, 0))
        self.host, self.port = host, self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(100)
                conn.sendall(b"pong\n")

    def close(self) -> None:
        self.listener.close()


def reach(namespace: NetworkNamespace, host: str, port: int) -> str:
    done = namespace.run(sys.executable, "-c", CLIENT, host, str(port), timeout=20)
    return done.stdout.strip() if done.returncode == 0 else f"unreachable ({done.stdout.strip()})"


@pytest.fixture
def network() -> Iterator[Network]:
    with Network() as net:
        yield net


def test_a_namespace_reaches_the_root_namespace_until_cut(network: Network) -> None:
    server = EchoServer(network.gateway)
    try:
        inside = network.add_namespace()
        assert reach(inside, network.gateway, server.port) == "pong"
        inside.cut()
        assert inside.is_cut
        assert reach(inside, network.gateway, server.port).startswith("unreachable")
        inside.heal()
        assert not inside.is_cut
        assert reach(inside, network.gateway, server.port) == "pong"
    finally:
        server.close()


def test_namespaces_reach_each_other_and_a_cut_isolates_one(network: Network) -> None:
    first, second = network.add_namespace(), network.add_namespace()
    assert first.address != second.address
    # A server inside the second namespace (its own process), reached from the first one.
    serve = (
        "import socket\n"
        f"s = socket.create_server(({second.address!r}, 0)); print(s.getsockname()[1], flush=True)\n"
        "while True:\n"
        "    c, _ = s.accept(); c.recv(100); c.sendall(b'pong\\n'); c.close()\n"
    )
    server = subprocess.Popen(
        [*second.exec_prefix(), sys.executable, "-c", serve], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        assert reach(first, second.address, port) == "pong"
        second.cut()
        assert reach(first, second.address, port).startswith("unreachable")
        second.heal()
        assert reach(first, second.address, port) == "pong"
    finally:
        server.kill()
        server.wait()


def test_loopback_inside_a_namespace_is_its_own(network: Network) -> None:
    # A server on the root namespace's loopback is not reachable from inside a namespace.
    server = EchoServer("127.0.0.1")
    try:
        inside = network.add_namespace()
        assert reach(inside, "127.0.0.1", server.port).startswith("unreachable")
    finally:
        server.close()


def test_close_removes_every_namespace_and_link() -> None:
    network = Network().create()
    names = [network.add_namespace().name for _ in range(2)]
    network.close()
    assert not set(names) & set(ip("netns", "list").stdout.split())
    assert network.prefix not in ip("-o", "link", "show").stdout


def test_a_too_long_prefix_is_refused() -> None:
    with pytest.raises(NetworkError, match="prefix too long"):
        Network(prefix="rl-much-too-long")
