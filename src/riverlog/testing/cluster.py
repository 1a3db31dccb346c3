"""Broker processes on one machine, joined through a real ZooKeeper: the cluster tests' and `make cluster`'s.

    with ZooKeeperServer(tmp / "zk") as zk, LocalCluster(zk, tmp / "cluster", size=3) as cluster:
        Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all"})
        cluster.broker(cluster.metadata(topic)[0].leader).kill()

Each broker is `python -m riverlog broker start --zookeeper HOST:PORT/chroot --broker-id N --listen
HOST:PORT --data-dir DIR --set key=value...` in its own process.

Files under `base_dir` (ours): `broker-N/` (that broker's data dir) and `broker-N.log` (its stdout and
stderr, appended across restarts).

Invariants: a broker's port is chosen once (a free one unless given) and kept across restarts, so the
cluster's addresses do not move. Unless told otherwise a cluster lives under its own ZooKeeper chroot
(`/riverlog-<random>`), so clusters sharing one ZooKeeper never see each other's brokers or topics.
`start()` returns once every broker accepts connections and every live broker's Metadata lists every
live broker.

Partitions: with `network=Network(...)` (riverlog.testing.netns) each broker runs in a network
namespace of its own, at its own address on port 9092, and `isolate(n)` / `heal(n)` cut and restore its
link; ZooKeeper must then listen on the network's gateway. `close()` deletes the namespaces.

Crash behaviour: `kill()` is SIGKILL (the broker's ZooKeeper session lives on until it expires);
`pause()` is SIGSTOP. Every process started here gets SIGKILL when the process that started it dies, so
an interrupted test run leaves no broker behind (network namespaces it leaves can be removed with
`riverlog.testing.netns.remove_stale("rl")`).

`python -m riverlog.testing.cluster` (`make cluster`) runs ZooKeeper and a cluster until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from riverlog.testing.broker_process import BrokerProcess, ClusterError
from riverlog.testing.cluster_view import (
    ClusterMetadata,
    MetadataError,
    PartitionMetadata,
)
from riverlog.testing.netns import Network, NetworkNamespace
from riverlog.testing.zookeeper import ZooKeeperServer

T = TypeVar("T")

__all__ = ["BrokerProcess", "ClusterError", "LocalCluster", "PartitionMetadata", "main"]

# Waiting swallows these: a broker that is starting, stopping or electing answers with them.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, ConnectionError, MetadataError)


class LocalCluster:
    """`size` broker processes (ids `first_broker_id`..) on one ZooKeeper, data under `base_dir`.

    Settings are Kafka config names: `config={"min.insync.replicas": "2"}` or, as keyword arguments,
    with underscores for dots (`min_insync_replicas="2"`).
    """

    def __init__(
        self,
        zk: ZooKeeperServer | str,
        base_dir: Path,
        size: int = 3,
        *,
        chroot: str | None = None,
        config: Mapping[str, str] | None = None,
        ports: Sequence[int] | None = None,
        first_broker_id: int = 1,
        start_timeout: float = 60.0,
        network: Network | None = None,
        **settings: str,
    ) -> None:
        self._zookeeper = zk
        self.chroot = f"/riverlog-{uuid.uuid4().hex[:8]}" if chroot is None else chroot.rstrip("/")
        self.base_dir = Path(base_dir)
        self.start_timeout = start_timeout
        self.settings = {
            **dict(config or {}),
            **{k.replace("_", "."): v for k, v in settings.items()},
        }
        self.network = network
        self.namespaces: dict[int, NetworkNamespace] = {}
        self.isolated: set[int] = set()
        self.brokers = [
            self._make_broker(first_broker_id + index, ports[index] if ports else 0)
            for index in range(size)
        ]
        self._zk_client: KazooClient | None = None

    def _make_broker(self, broker_id: int, port: int) -> BrokerProcess:
        # ZooKeeper's address is set by start(): a ZooKeeperServer has its port once started.
        data_dir = self.base_dir / f"broker-{broker_id}"
        if self.network is None:
            return BrokerProcess(
                broker_id, data_dir, zookeeper=None, port=port, settings=self.settings
            )
        # In a network each broker has an address of its own, so all can use Kafka's port.
        namespace = self.namespaces[broker_id] = self.network.add_namespace()
        return BrokerProcess(
            broker_id,
            data_dir,
            zookeeper=None,
            port=port or 9092,
            host=namespace.address,
            settings=self.settings,
            command_prefix=namespace.exec_prefix(),
        )

    @property
    def zookeeper_address(self) -> str:
        """ZooKeeper's HOST:PORT (without the chroot)."""
        zk = self._zookeeper
        return zk.connect_string if isinstance(zk, ZooKeeperServer) else zk

    @property
    def zookeeper_connect(self) -> str:
        """Kafka's `zookeeper.connect` for these brokers (with the chroot)."""
        return f"{self.zookeeper_address}{self.chroot}"

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> LocalCluster:
        """Create the chroot, start every broker (in parallel), wait until they form a cluster."""
        if self.network is not None and self.zookeeper_address.startswith("127."):
            raise ClusterError(
                "brokers in network namespaces cannot reach ZooKeeper on loopback: "
                "start it with ZooKeeperServer(..., host=network.gateway)"
            )
        self._ensure_chroot()
        for broker in self.brokers:
            broker.zookeeper = self.zookeeper_connect
            broker.launch()
        for broker in self.brokers:
            broker.wait_until_listening(self.start_timeout)
        self.wait_until_formed(self.start_timeout)
        return self

    def wait_until_formed(self, timeout: float | None = None) -> None:
        """Wait until every live broker's Metadata lists exactly the live brokers."""
        expected = {b.broker_id for b in self.live_brokers()}

        def formed() -> bool:
            return all(set(b.metadata([]).brokers) == expected for b in self.live_brokers())

        self.wait_for(formed, self.start_timeout if timeout is None else timeout, what="cluster")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every broker at once, wait, SIGKILL whatever is left after `timeout` seconds."""
        for broker in self.brokers:
            broker.signal_stop()
        deadline = time.monotonic() + timeout
        for broker in self.brokers:
            broker.wait_stopped(deadline - time.monotonic())
        self._close_zk_client()

    def kill(self) -> None:
        """SIGKILL every broker."""
        for broker in self.brokers:
            broker.kill()
        self._close_zk_client()

    def close(self, timeout: float = 10.0) -> None:
        """Stop every broker, then delete the brokers' network namespaces (when in a network)."""
        self.stop(timeout)
        if self.network is not None:
            for namespace in self.namespaces.values():
                self.network.remove_namespace(namespace)
        self.namespaces.clear()
        self.isolated.clear()

    def __enter__(self) -> LocalCluster:
        try:
            return self.start()
        except BaseException:
            self.kill()
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- brokers --------------------------------------------------------------------------------

    def broker(self, broker_id: int) -> BrokerProcess:
        for broker in self.brokers:
            if broker.broker_id == broker_id:
                return broker
        raise KeyError(f"no broker {broker_id} in this cluster")

    def live_brokers(self) -> list[BrokerProcess]:
        """Brokers that run, are not paused and are not isolated."""
        return [b for b in self.brokers if b.is_live and b.broker_id not in self.isolated]

    def isolate(self, broker_id: int) -> None:
        """Cut the broker's network namespace off from everything (needs `network=`)."""
        self._namespace(broker_id).cut()
        self.isolated.add(broker_id)

    def heal(self, broker_id: int) -> None:
        """Reconnect a broker cut off by `isolate`."""
        self._namespace(broker_id).heal()
        self.isolated.discard(broker_id)

    def _namespace(self, broker_id: int) -> NetworkNamespace:
        if broker_id not in self.namespaces:
            raise ClusterError("this cluster runs without network namespaces (pass network=)")
        return self.namespaces[broker_id]

    @property
    def bootstrap_servers(self) -> str:
        """The live brokers' addresses, comma-separated (all brokers when none is live)."""
        brokers = self.live_brokers() or self.brokers
        return ",".join(b.bootstrap for b in brokers)

    # -- metadata -------------------------------------------------------------------------------

    def cluster_metadata(
        self, topics: Sequence[str] | None = None, via: int | None = None
    ) -> ClusterMetadata:
        """Metadata from broker `via`, else from the first live broker that answers."""
        candidates = [self.broker(via)] if via is not None else self.live_brokers()
        failure: BaseException | None = None
        for broker in candidates:
            try:
                return broker.metadata(topics)
            except (OSError, ConnectionError) as exc:
                failure = exc
        raise ClusterError(f"no live broker answered Metadata (last error: {failure!r})")

    def metadata(self, topic: str, via: int | None = None) -> dict[int, PartitionMetadata]:
        """Leader, replicas and ISR of each of the topic's partitions."""
        return self.cluster_metadata([topic], via).partitions(topic)

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int = 3,
        config: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> dict[int, PartitionMetadata]:
        """CreateTopics through confluent-kafka's AdminClient; wait until every partition has a leader."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        topic = NewTopic(name, partitions, replication_factor, config=dict(config or {}))
        deadline = time.monotonic() + timeout
        retried = False
        while True:
            try:
                admin.create_topics([topic], operation_timeout=timeout)[name].result(
                    timeout=timeout
                )
                break
            except KafkaException as exc:
                error = exc.args[0]
                if retried and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    break  # an earlier attempt got through before its connection broke
                transient = error.retriable() or error.code() == KafkaError._TRANSPORT
                if not transient or time.monotonic() > deadline:
                    raise
                retried = True
                time.sleep(0.2)
        return self.wait_for(
            lambda: self._all_led(name, partitions), timeout, what=f"leaders for {name}"
        )

    def wait_for_leader(
        self,
        topic: str,
        partition: int = 0,
        exclude: Collection[int] = (),
        timeout: float = 30.0,
    ) -> int:
        """Wait until a live broker reports a leader for the partition that is not in `exclude`."""

        def leader() -> int | None:
            found = self.metadata(topic)[partition].leader
            return found if found >= 0 and found not in exclude else None

        return self.wait_for(
            leader, timeout, what=f"leader of {topic}-{partition} not in {exclude}"
        )

    def wait_for_isr(
        self, topic: str, partition: int, isr: Iterable[int], timeout: float = 30.0
    ) -> PartitionMetadata:
        """Wait until the partition's ISR is exactly `isr` (in any order)."""
        expected = set(isr)

        def reached() -> PartitionMetadata | None:
            state = self.metadata(topic)[partition]
            return state if set(state.isr) == expected else None

        return self.wait_for(
            reached, timeout, what=f"ISR {sorted(expected)} for {topic}-{partition}"
        )

    def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 30.0,
        interval: float = 0.1,
        what: str = "condition",
    ) -> T:
        """Poll `predicate` until it returns something truthy; return that.

        Connection and Metadata errors count as "not yet". On timeout the error names what was
        awaited, the last failure and any broker that exited on its own.
        """
        deadline = time.monotonic() + timeout
        failure: BaseException | None = None
        while True:
            try:
                if value := predicate():
                    return value
            except TRANSIENT_ERRORS as exc:
                failure = exc
            except ClusterError as exc:
                failure = exc
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"timed out after {timeout} s waiting for {what}{self._why(failure)}"
                )
            time.sleep(interval)

    # -- ZooKeeper ------------------------------------------------------------------------------

    @property
    def zk_client(self) -> KazooClient:
        """A kazoo client inside this cluster's chroot (started on first use)."""
        if self._zk_client is None:
            client = KazooClient(hosts=self.zookeeper_connect, timeout=10.0)
            client.start(timeout=15.0)
            self._zk_client = client
        return self._zk_client

    def zk_json(self, path: str) -> Any:
        """The JSON at a znode (inside the chroot), or None when the znode does not exist."""
        try:
            data, _stat = self.zk_client.get(path)
        except NoNodeError:
            return None
        return json.loads(data) if data else None

    def controller_id(self) -> int | None:
        """The controller's broker id from ZooKeeper's /controller, or None when there is none."""
        controller = self.zk_json("/controller")
        return int(controller["brokerid"]) if controller else None

    def registered_broker_ids(self) -> list[int]:
        """The ids under /brokers/ids (brokers with a live ZooKeeper session)."""
        try:
            children = self.zk_client.get_children("/brokers/ids")
        except NoNodeError:
            return []
        return sorted(int(child) for child in children)

    def partition_state(self, topic: str, partition: int) -> Any:
        """/brokers/topics/<topic>/partitions/<p>/state: leader, leader_epoch, isr, controller_epoch."""
        return self.zk_json(f"/brokers/topics/{topic}/partitions/{partition}/state")

    # -- internals ------------------------------------------------------------------------------

    def _ensure_chroot(self) -> None:
        if not self.chroot:
            return
        client = KazooClient(hosts=self.zookeeper_address, timeout=10.0)
        client.start(timeout=15.0)
        try:
            client.ensure_path(self.chroot)
        finally:
            client.stop()
            client.close()

    def _close_zk_client(self) -> None:
        if self._zk_client is not None:
            self._zk_client.stop()
            self._zk_client.close()
            self._zk_client = None

    def _all_led(self, topic: str, partitions: int) -> dict[int, PartitionMetadata] | None:
        # Every live broker must know a leader for every partition: clients may ask any of them.
        for broker in self.live_brokers():
            states = broker.metadata([topic]).partitions(topic)
            if len(states) < partitions or not all(s.has_leader for s in states.values()):
                return None
        return self.metadata(topic)

    def _why(self, failure: BaseException | None) -> str:
        lines = [f" (last error: {failure!r})"] if failure is not None else []
        for broker in self.brokers:
            try:
                broker.check_alive()
            except ClusterError as exited:
                lines.append(str(exited))
        return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m riverlog.testing.cluster` (`make cluster`): ZooKeeper and brokers until Ctrl-C."""
    args = _parse_args(argv)
    data = Path(args.data_dir)
    settings = _local_defaults(args.size) | dict(_assignment(item) for item in args.set)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    zk = ZooKeeperServer(data / "zk", port=args.zookeeper_port, force_sync=True)
    ports = [args.port + index for index in range(args.size)] if args.port else None
    cluster = LocalCluster(
        zk if args.zookeeper is None else args.zookeeper,
        data,
        args.size,
        chroot=args.chroot,
        config=settings,
        ports=ports,
    )
    try:
        if args.zookeeper is None:
            zk.start()
            print(
                f"ZooKeeper {zk.connect_string} (data {zk.data_dir}, log {zk.log_path})", flush=True
            )
        with cluster:
            for broker in cluster.brokers:
                print(
                    f"broker {broker.broker_id} {broker.bootstrap} (data {broker.data_dir}, "
                    f"log {broker.log_path})",
                    flush=True,
                )
            print(f"bootstrap servers: {cluster.bootstrap_servers}", flush=True)
            print("Ctrl-C stops them all.", flush=True)
            _watch(cluster)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    finally:
        cluster.stop()
        zk.stop()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m riverlog.testing.cluster",
        description="A local ZooKeeper and a cluster of riverlog brokers; Ctrl-C stops them all.",
    )
    parser.add_argument("--data-dir", default="data", help="zk/ and broker-N/ go here (./data)")
    parser.add_argument("--size", type=int, default=3, help="number of brokers (3)")
    parser.add_argument(
        "--port", type=int, default=9092, help="first broker's port, 0 for free ports"
    )
    parser.add_argument("--zookeeper-port", type=int, default=2181, help="ZooKeeper's client port")
    parser.add_argument(
        "--zookeeper", help="use this ZooKeeper (HOST:PORT) instead of starting one"
    )
    parser.add_argument("--chroot", default="", help="ZooKeeper chroot for the brokers (none)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a broker setting, Kafka's config names (repeatable)",
    )
    return parser.parse_args(argv)


def _local_defaults(size: int) -> dict[str, str]:
    # Replicated by default, as a three-broker Kafka deployment would be configured.
    replicas = str(min(3, size))
    return {
        "default.replication.factor": replicas,
        "min.insync.replicas": str(min(2, size)),
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": str(min(2, size)),
    }


def _assignment(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise SystemExit(f"error: --set expects KEY=VALUE, got {item!r}")
    return key.strip(), value.strip()


def _watch(cluster: LocalCluster) -> None:
    # Report brokers that exit on their own; keep serving the rest.
    reported: set[int] = set()
    while True:
        time.sleep(1.0)
        for broker in cluster.brokers:
            if broker.exit_code is not None and broker.broker_id not in reported:
                reported.add(broker.broker_id)
                print(
                    f"broker {broker.broker_id} exited with code {broker.exit_code}; "
                    f"see {broker.log_path}",
                    flush=True,
                )


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
