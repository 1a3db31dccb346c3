"""Network namespaces for partition faults: each process in its own namespace, cut off at will.

    with Network() as network:
        zk = ZooKeeperServer(tmp / "zk", host=network.gateway)        # root namespace, on the bridge
        one = network.add_namespace()
        BrokerProcess(1, ..., host=one.address, command_prefix=one.exec_prefix())
        one.cut()      # the namespace reaches nothing outside itself (ZooKeeper, brokers, clients)
        one.heal()

Topology (kernel objects; every name starts with this network's `prefix`, e.g. `rl3f2a`):
- root namespace: a bridge `<prefix>br` holding `gateway` (10.X.Y.1/24, a free /24 of 10.0.0.0/8);
- namespace `<prefix>-<n>`: `lo` up, and a veth pair whose inside end `<prefix>i<n>` holds
  10.X.Y.<n+1>/24 and whose root-side end `<prefix>h<n>` is a port of the bridge.
Namespaces reach each other and the root namespace through the bridge (switched at layer 2, so the
root namespace needs no forwarding). `cut()` sets the root-side end down, `heal()` sets it up: open
TCP connections stall rather than reset, as in a real partition. Nothing outside this network's own
links and namespaces is touched; loopback in the root namespace is never a target.

Requires root and iproute2 (`ip`). State lives in the kernel only: `close()` deletes the veth pairs,
the namespaces and the bridge. If a run is killed before `close()`,
`remove_stale(prefix)` removes what it left.
"""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import subprocess
import uuid
from types import TracebackType

IP = "ip"


class NetworkError(Exception):
    """An `ip` command failed, or namespaces are not available here."""


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if shutil.which(IP) is None:
        return "iproute2's `ip` is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    return None


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ip ARGS`; raise NetworkError with its stderr when it fails and `check` is set."""
    done = subprocess.run([IP, *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


class NetworkNamespace:
    """One namespace on a Network: its address, and a link to cut and heal."""

    def __init__(self, network: Network, index: int) -> None:
        self.network = network
        self.index = index
        self.name = f"{network.prefix}-{index}"
        self.inside_link = f"{network.prefix}i{index}"
        self.host_link = f"{network.prefix}h{index}"
        self.address = str(network.subnet.network_address + index + 1)

    def create(self) -> None:
        # Namespace with loopback up; veth pair; inside end moved in and addressed; host end bridged.
        ip("netns", "add", self.name)
        ip("-n", self.name, "link", "set", "lo", "up")
        ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.inside_link)
        ip("link", "set", self.inside_link, "netns", self.name)
        prefix_len = str(self.network.subnet.prefixlen)
        ip("-n", self.name, "addr", "add", f"{self.address}/{prefix_len}", "dev", self.inside_link)
        ip("-n", self.name, "link", "set", self.inside_link, "up")
        ip("link", "set", self.host_link, "master", self.network.bridge)
        ip("link", "set", self.host_link, "up")

    def exec_prefix(self) -> list[str]:
        """Prefix a command with this to run it inside the namespace (`ip netns exec` execs, so
        the process id is the command's own)."""
        return [IP, "netns", "exec", self.name]

    def run(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace; returns the completed process (not checked)."""
        return subprocess.run(
            [*self.exec_prefix(), *command], capture_output=True, text=True, timeout=timeout
        )

    def cut(self) -> None:
        """Partition the namespace from everything outside it."""
        ip("link", "set", self.host_link, "down")

    def heal(self) -> None:
        """Undo `cut()`."""
        ip("link", "set", self.host_link, "up")

    @property
    def is_cut(self) -> bool:
        shown = ip("-o", "link", "show", self.host_link).stdout
        flags = shown[shown.index("<") + 1 : shown.index(">")].split(",")
        return "UP" not in flags

    def delete(self) -> None:
        # Deleting the veth pair first makes it go at once (a namespace's links go asynchronously).
        ip("link", "delete", self.host_link, check=False)
        ip("netns", "delete", self.name, check=False)

    def __repr__(self) -> str:
        return f"NetworkNamespace({self.name}, {self.address})"


class Network:
    """A bridge in the root namespace and the namespaces attached to it."""

    def __init__(self, prefix: str | None = None, subnet: str | None = None) -> None:
        self.prefix = prefix or f"rl{uuid.uuid4().hex[:4]}"
        if len(self.prefix) > 8:
            raise NetworkError("prefix too long: link names have at most 15 characters")
        self.subnet = ipaddress.IPv4Network(subnet) if subnet else free_subnet()
        self.bridge = f"{self.prefix}br"
        self.gateway = str(self.subnet.network_address + 1)
        self.namespaces: list[NetworkNamespace] = []
        self._created = False
        self._next_index = 1

    def create(self) -> Network:
        """Create the bridge and give it the gateway address."""
        reason = available()
        if reason is not None:
            raise NetworkError(reason)
        ip("link", "add", self.bridge, "type", "bridge")
        self._created = True
        ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        return self

    def add_namespace(self) -> NetworkNamespace:
        """A new namespace on the bridge, with the next address of the subnet."""
        if self._next_index + 2 >= self.subnet.num_addresses:
            raise NetworkError(f"subnet {self.subnet} is used up")
        namespace = NetworkNamespace(self, self._next_index)
        self._next_index += 1
        self.namespaces.append(namespace)
        namespace.create()
        return namespace

    def remove_namespace(self, namespace: NetworkNamespace) -> None:
        """Delete one namespace (its address is not reused)."""
        namespace.delete()
        self.namespaces.remove(namespace)

    def close(self) -> None:
        """Delete every namespace (and with it its veth pair), then the bridge."""
        for namespace in self.namespaces:
            namespace.delete()
        self.namespaces.clear()
        if self._created:
            ip("link", "delete", self.bridge, check=False)
            self._created = False

    def __enter__(self) -> Network:
        try:
            return self.create()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def free_subnet(rng: random.Random | None = None) -> ipaddress.IPv4Network:
    """A /24 of 10.0.0.0/8 that no address or route of the root namespace overlaps."""
    rng = rng or random.Random()
    used = _used_networks()
    for _ in range(100):
        candidate = ipaddress.IPv4Network(f"10.{rng.randrange(100, 250)}.{rng.randrange(256)}.0/24")
        if not any(candidate.overlaps(taken) for taken in used):
            return candidate
    raise NetworkError("no free /24 in 10.0.0.0/8")


def _used_networks() -> list[ipaddress.IPv4Network]:
    # Every IPv4 address's network and every route's destination in the root namespace.
    found: list[ipaddress.IPv4Network] = []
    words = ip("-o", "-4", "addr", "show").stdout.split() + ip("-4", "route", "show").stdout.split()
    for word in words:
        if "." not in word:
            continue
        try:
            network = ipaddress.ip_network(word, strict=False)
        except ValueError:
            continue
        if isinstance(network, ipaddress.IPv4Network):
            found.append(network)
    return found


def remove_stale(prefix: str) -> list[str]:
    """Delete namespaces and links whose names start with `prefix` (left by a killed run)."""
    if not prefix.startswith("rl"):
        raise NetworkError(f"refusing to remove {prefix!r}*: riverlog's prefixes start with 'rl'")
    removed = []
    for line in ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(prefix):
            ip("netns", "delete", name, check=False)
            removed.append(name)
    for line in ip("-o", "link", "show").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if name.startswith(prefix):
            ip("link", "delete", name, check=False)
            removed.append(name)
    return removed
