"""A broker node: assembles storage, metadata, the replica manager and the server, runs their timers.

Start: load every partition log (recovery), replay the local metadata log, register this broker, listen.
Stop (SIGTERM/SIGINT or `stop()`): stop accepting, close connections, flush every log and write the
checkpoints, so a restart recovers nothing and serves all data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from riverlog.broker.admin.topics import TopicAdmin
from riverlog.broker.authz import Authorizer, authorizer_enabled
from riverlog.broker.config import BrokerConfig
from riverlog.broker.handlers import ALL_HANDLERS
from riverlog.broker.listeners import ListenerPlan, plan_listeners
from riverlog.broker.local_metadata import LocalMetadataStore, load_or_create_cluster_id
from riverlog.broker.metadata_store import MetadataStore
from riverlog.broker.network.authn import listener_security
from riverlog.broker.network.dispatch import Dispatcher
from riverlog.broker.network.server import BrokerServer
from riverlog.broker.quotas import QuotaManager
from riverlog.broker.replication.fetch_manager import FetchManager
from riverlog.broker.replication.replica_manager import ReplicaManager, topic_log_config
from riverlog.broker.services import BrokerServices, ProducerIdManager
from riverlog.metadata.image import ClusterImage, RegisterBrokerRecord, format_endpoints
from riverlog.storage.clock import SYSTEM_CLOCK, Clock
from riverlog.storage.manager import LogManager

if TYPE_CHECKING:
    from riverlog.broker.coordinators.groups import GroupRuntime
    from riverlog.broker.coordinators.transactions import TxnRuntime
    from riverlog.broker.metrics_http import MetricsServer
    from riverlog.cluster.zk_mode import ZkMode

log = logging.getLogger(__name__)
FLUSH_CHECK_INTERVAL_S = 1.0
CLEANER_STEP_PAUSE_S = 0.005


class BrokerNode:
    def __init__(self, config: BrokerConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.clock = clock
        self.broker_id = config.broker_id
        self.port = -1  # the first listener's bound port
        self.ports: dict[str, int] = {}  # listener name → bound port
        self.endpoints: tuple[tuple[str, str, int], ...] = ()  # advertised (name, host, port)
        # Validated before anything is opened, so a bad listener setting fails fast, naming its key.
        self.plan: ListenerPlan = plan_listeners(config)
        authorizer_enabled(config)
        self.security = {
            listener.name: listener_security(config, listener) for listener in self.plan.listeners
        }
        self.services: BrokerServices | None = None
        self._server: BrokerServer | None = None
        self._logs: LogManager | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self.advertised: tuple[str, int] = ("", -1)
        self.zk: ZkMode | None = None
        self._coordinator_tasks: list[asyncio.Task[None]] = []
        self.metrics_server: MetricsServer | None = None

    @property
    def bootstrap(self) -> str:
        host, _ = self.config.advertised_listener
        return f"{host}:{self.port}"

    async def start(self) -> None:
        started = time.monotonic()
        data_dir = self.config.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        default_log_config = topic_log_config(self.config, {})
        self._logs = LogManager(data_dir, default_log_config, self.clock)
        self._logs.load()
        metadata: MetadataStore
        if self.config.get("zookeeper.connect"):
            from riverlog.broker.replication.peer import inter_broker_security
            from riverlog.cluster.zk_mode import ZkMode  # kazoo only when clustered

            inter_broker_security(self.config)  # a bad inter-broker login fails now, naming its key
            self.zk = ZkMode(self.config, self.broker_id)
            self.zk.store.cache.inter_broker_listener = self.plan.inter_broker
            metadata = await self.zk.open(data_dir)
        else:
            cluster_id = self.config.get_str("cluster.id") or load_or_create_cluster_id(
                data_dir, self.broker_id
            )
            image = ClusterImage(cluster_id=cluster_id, controller_id=self.broker_id)
            metadata = LocalMetadataStore.open(data_dir, image, self.clock)
        replicas = ReplicaManager(self._logs, self.config, self.clock, self.broker_id)
        if self.zk is not None:
            self.zk.attach(replicas)
        topics = TopicAdmin(metadata, self.config, self.broker_id)
        producer_ids = ProducerIdManager(metadata)
        services = BrokerServices(
            config=self.config,
            broker_id=self.broker_id,
            clock=self.clock,
            metadata=metadata,
            replicas=replicas,
            topics=topics,
            producer_ids=producer_ids,
            coordinator_factory=lambda: self._start_coordinators(replicas, topics, producer_ids),
            fetches=FetchManager(replicas, self.config, self.clock),
        )
        services.authorizer = Authorizer(self.config, lambda: metadata.image)
        dispatcher = Dispatcher(services, ALL_HANDLERS)
        dispatcher.quotas = services.quotas = QuotaManager(lambda: metadata.image)
        services.api_ranges = [(r.api_key, r.min_version, r.max_version) for r in dispatcher.ranges]
        self._server = BrokerServer(dispatcher, self.config.get_int("socket.request.max.bytes"))
        for listener in self.plan.listeners:
            bound = await self._server.start(
                listener.host, listener.port, self.security[listener.name]
            )
            self.ports[listener.name] = bound
        self.port = self.ports[self.plan.listeners[0].name]
        if self.zk is not None:
            # Registered first: a broker restarted before its previous session expired waits here,
            # and must not replicate (nor rejoin ISRs) until it is a registered broker again.
            host, port = self._advertised()
            protocols = tuple((ln.name, ln.protocol) for ln in self.plan.listeners)
            await self.zk.register(host, port, self.endpoints, protocols)
        else:
            self._register(metadata)
        metadata.on_commit.append(replicas.sync_with_image)
        replicas.sync_with_image(metadata.image)
        self.services = services
        await self._maybe_start_metrics(services, self.plan.listeners[0].host)
        self._start_timers()
        asyncio.get_running_loop().call_soon(services.coordinators)
        log.info(
            "broker %d listening on %s (cluster %s, %d partitions) in %.0f ms",
            self.broker_id,
            self.bootstrap,
            metadata.image.cluster_id,
            len(replicas.partitions),
            (time.monotonic() - started) * 1000,
        )

    async def _maybe_start_metrics(self, services: BrokerServices, host: str) -> None:
        """Serve GET /metrics on `metrics.port` (0: off). The default port being taken (another
        broker on this machine) only turns metrics off, with a warning; a port set explicitly must
        bind, or the broker does not start."""
        port = self.config.get_int("metrics.port")
        if port == 0:
            return
        from riverlog.broker.handlers import HANDLERS
        from riverlog.broker.metrics_http import MetricsServer

        names = {h.API_KEY: h.name.title().replace("_", "") for h in HANDLERS}
        server = MetricsServer(services, names)
        try:
            await server.start(host, port)
        except OSError as exc:
            if "metrics.port" in self.config.explicit:
                raise OSError(exc.errno, f"metrics.port {port}: {exc.strerror}") from None
            log.warning("metrics off: default metrics.port %d is taken (%s)", port, exc.strerror)
            return
        self.metrics_server = server
        log.info("metrics on http://%s:%d/metrics", host or "0.0.0.0", server.port)

    def _start_coordinators(
        self, replicas: ReplicaManager, topics: TopicAdmin, producer_ids: ProducerIdManager
    ) -> tuple[GroupRuntime, TxnRuntime]:
        """Build the group and transaction coordinators (on first use, or just after start-up:
        their imports are a third of the broker's) and start their timers; loading their internal
        partitions (and finishing transactions a crash left half done) happens in those timers."""
        from riverlog.broker.coordinators.groups import GroupRuntime
        from riverlog.broker.coordinators.transactions import TxnRuntime

        groups = GroupRuntime(self.config, self.clock, replicas, topics, self.broker_id)
        transactions = TxnRuntime(
            self.config, self.clock, replicas, topics, self.broker_id, producer_ids.next_id, groups
        )

        # Coordinators move with the leadership of their internal partitions: on every image change
        # each loads the partitions it now leads and drops the ones it lost (after the replica
        # manager has applied the change: it listens first).
        def follow_leadership(_image: ClusterImage) -> None:
            groups.load()
            transactions.load()

        topics.store.on_commit.append(follow_leadership)
        loop = asyncio.get_running_loop()
        self._coordinator_tasks = [
            loop.create_task(groups.start()),
            loop.create_task(transactions.start()),
        ]
        return groups, transactions

    def _advertised(self) -> tuple[str, int]:
        """Every listener's advertised address (a wildcard host becomes this machine's name, an
        unset or 0 port the bound one); returns the inter-broker listener's."""
        endpoints = []
        for listener in self.plan.listeners:
            host, port = self.plan.advertised[listener.name]
            if host in ("0.0.0.0", "::", ""):
                host = socket.gethostname()
            if port in (0, listener.port):
                port = self.ports[listener.name]
            endpoints.append((listener.name, host, port))
        self.endpoints = tuple(endpoints)
        inter = next(e for e in endpoints if e[0] == self.plan.inter_broker)
        self.advertised = (inter[1], inter[2])
        return self.advertised

    def _register(self, metadata: MetadataStore) -> None:
        host, port = self._advertised()
        rack = self.config.get("broker.rack")
        record = RegisterBrokerRecord(
            self.broker_id,
            host,
            port,
            str(rack) if rack else None,
            format_endpoints(self.endpoints),
        )
        current = metadata.image.brokers.get(self.broker_id)
        if current is None or (current.host, current.port, current.rack, current.endpoints) != (
            host,
            port,
            record.rack,
            self.endpoints,
        ):
            metadata.commit([record])
        self.advertised = (host, port)

    def _start_timers(self) -> None:
        logs = self._logs
        assert logs is not None
        retention_s = self.config.get_int("log.retention.check.interval.ms") / 1000
        checkpoint_s = self.config.get_int("log.flush.offset.checkpoint.interval.ms") / 1000
        self._every(retention_s, lambda: logs.retention_pass(self.clock.now_ms()))
        self._every(FLUSH_CHECK_INTERVAL_S, self._flush_pass)
        self._every(checkpoint_s, logs.checkpoint)
        if self.zk is not None and self.services is not None:
            lag_s = self.config.get_int("replica.lag.time.max.ms") / 2000
            self._every(lag_s, self.services.replicas.shrink_isr_pass)
        if self.config.get_bool("log.cleaner.enable"):
            self._tasks.append(asyncio.get_running_loop().create_task(self._clean_forever()))

    async def _clean_forever(self) -> None:
        """Compaction in bounded steps: back to back while a round is in progress (yielding to
        requests between steps), else every `log.cleaner.backoff.ms` (Kafka's cleaner thread)."""
        assert self._logs is not None
        backoff_s = self.config.get_int("log.cleaner.backoff.ms") / 1000
        while True:
            try:
                result = await self._logs.clean_pass_async(self.clock.now_ms())
                busy = result.busy
            except Exception:
                log.exception("log cleaner pass failed")
                busy = False
            await asyncio.sleep(CLEANER_STEP_PAUSE_S if busy else backoff_s)

    async def _flush_pass(self) -> None:
        """Kafka's flush.ms / flush.messages policy; the fsyncs run on a worker thread."""
        assert self._logs is not None
        now = self.clock.now_ms()
        for plog in list(self._logs.logs().values()):
            if plog.flush_due(now):
                pending = plog.begin_flush()
                await asyncio.to_thread(pending.run)
                plog.complete_flush(pending)

    def _every(self, interval_s: float, action: Callable[[], object]) -> None:
        """Run `action` (plain or async) every interval on the event loop; storage is not
        thread-safe, so only fsyncs leave the loop."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    result = action()
                    if isinstance(result, Awaitable):
                        await result
                except Exception:
                    log.exception("background task failed")

        self._tasks.append(asyncio.get_running_loop().create_task(loop()))

    async def stop(self) -> None:
        log.info("broker %d stopping", self.broker_id)
        if self.zk is not None:
            try:
                await self.zk.controlled_shutdown()
            except Exception:
                log.exception("controlled shutdown failed")
        if self.services is not None and self.services.coordinators_started:
            await asyncio.gather(*self._coordinator_tasks, return_exceptions=True)
            await self.services.groups.stop()
            await self.services.transactions.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._server is not None:
            await self._server.stop()
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        if self.zk is not None:
            await self.zk.close()
        if self.services is not None:
            self.services.replicas.purgatory.notify_all()
            if self.zk is None:
                self.services.metadata.close()
        if self._logs is not None:
            self._logs.checkpoint()
            self._logs.close()
        self._stopped.set()
        log.info("broker %d stopped cleanly", self.broker_id)

    async def run_until_signalled(self) -> None:
        """Start, then serve until SIGTERM or SIGINT; shut down cleanly.

        The handlers go in before the port opens: a SIGTERM that arrives while start-up finishes
        (metrics, timers) must still mean a clean stop, not the default death."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        await stop.wait()
        await self.stop()
