"""KafkaStreams: the client that runs a topology — its threads, its state, its shutdown.

States and transitions are Kafka Streams' (`KafkaStreams.State`), written as data first:

    CREATED          -> REBALANCING, PENDING_SHUTDOWN
    REBALANCING      -> RUNNING, PENDING_SHUTDOWN, PENDING_ERROR
    RUNNING          -> REBALANCING, RUNNING, PENDING_SHUTDOWN, PENDING_ERROR
    PENDING_SHUTDOWN -> NOT_RUNNING
    NOT_RUNNING      -> (none)
    PENDING_ERROR    -> ERROR
    ERROR            -> (none)

As in Kafka: REBALANCING -> REBALANCING is a no-op; once shutting down (PENDING_SHUTDOWN or
PENDING_ERROR) any move but to the matching final state is ignored. The client is REBALANCING while a
thread is starting, assigned, revoked or restoring, and RUNNING when every live thread runs. A thread
that dies of an exception asks the uncaught-exception handler: REPLACE_THREAD starts a fresh one,
SHUTDOWN_CLIENT (the default, as in Kafka) stops every thread and ends in ERROR, and SHUTDOWN_APPLICATION
does the same here (librdkafka's group protocol cannot carry Kafka's shutdown request to other
instances; they are not told).
"""

from __future__ import annotations

import enum
import fcntl
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, ClassVar

from confluent_kafka.admin import AdminClient

from riverlog.streams.config import StreamsConfig, as_streams_config
from riverlog.streams.errors import InvalidStateStoreException, StreamsException
from riverlog.streams.interactive import StoreQueryParameters, composite_store
from riverlog.streams.runtime.global_thread import GlobalStreamThread
from riverlog.streams.runtime.internal_topics import (
    InternalTopicManager,
    full_name,
    source_topics_by_subtopology,
)
from riverlog.streams.runtime.iq_metadata import (
    HostInfo,
    KeyQueryMetadata,
    MetadataExchange,
    StreamsMetadata,
    murmur2_partition,
    parse_host,
)
from riverlog.streams.runtime.restore import StateRestoreListener
from riverlog.streams.runtime.standby import StandbyUpdater
from riverlog.streams.runtime.stream_thread import StreamThread, ThreadState
from riverlog.streams.serdes import Serde
from riverlog.streams.topology import Topology

log = logging.getLogger(__name__)


class State(enum.Enum):
    CREATED = "CREATED"
    REBALANCING = "REBALANCING"
    RUNNING = "RUNNING"
    PENDING_SHUTDOWN = "PENDING_SHUTDOWN"
    NOT_RUNNING = "NOT_RUNNING"
    PENDING_ERROR = "PENDING_ERROR"
    ERROR = "ERROR"

    def is_running_or_rebalancing(self) -> bool:
        return self in (State.RUNNING, State.REBALANCING)

    def has_completed_shutdown(self) -> bool:
        return self in (State.NOT_RUNNING, State.ERROR)


TRANSITIONS: dict[State, frozenset[State]] = {
    State.CREATED: frozenset({State.REBALANCING, State.PENDING_SHUTDOWN}),
    State.REBALANCING: frozenset({State.RUNNING, State.PENDING_SHUTDOWN, State.PENDING_ERROR}),
    State.RUNNING: frozenset(
        {State.REBALANCING, State.RUNNING, State.PENDING_SHUTDOWN, State.PENDING_ERROR}
    ),
    State.PENDING_SHUTDOWN: frozenset({State.NOT_RUNNING}),
    State.NOT_RUNNING: frozenset(),
    State.PENDING_ERROR: frozenset({State.ERROR}),
    State.ERROR: frozenset(),
}


class StreamThreadExceptionResponse(enum.Enum):
    """What to do when a stream thread dies of an exception (Kafka's names)."""

    REPLACE_THREAD = "REPLACE_THREAD"
    SHUTDOWN_CLIENT = "SHUTDOWN_CLIENT"
    SHUTDOWN_APPLICATION = "SHUTDOWN_APPLICATION"


StateListener = Callable[[State, State], None]
_State = State
UncaughtExceptionHandler = Callable[[BaseException], StreamThreadExceptionResponse]


class IllegalStateException(StreamsException):
    """A call not allowed in the client's current state."""


_REBALANCING_THREAD_STATES = {
    ThreadState.STARTING,
    ThreadState.PARTITIONS_ASSIGNED,
    ThreadState.PARTITIONS_REVOKED,
}


class KafkaStreams:
    """Runs `topology` with `config` (a StreamsConfig or a dict of Kafka Streams properties)."""

    State: ClassVar[type[_State]] = _State

    def __init__(self, topology: Topology, config: StreamsConfig | Mapping[str, Any]) -> None:
        self.topology = topology
        self.config = as_streams_config(config)
        self._lock = threading.RLock()
        self._state = _State.CREATED
        self._state_listener: StateListener | None = None
        self._restore_listener: StateRestoreListener | None = None
        self._handler: UncaughtExceptionHandler | None = None
        self._threads: list[StreamThread] = []
        self._global_thread: GlobalStreamThread | None = None
        server = str(self.config.values.get("application.server") or "")
        self.host_info: HostInfo | None = parse_host(server) if server else None
        self._metadata: MetadataExchange | None = None
        self._http: Any = None
        self._standby: StandbyUpdater | None = None
        self._next_thread_index = 1
        self._shutdown_thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._state_dir_lock: IO[str] | None = None
        # topic -> partitions, known at start (custom partitioners of sinks ask tasks for it)
        self._partition_counts: dict[str, int] = {}
        app = self.config.application_id
        self._source_topics = source_topics_by_subtopology(app, topology)
        self._changelogs = frozenset(
            f"{app}-{suffix}"
            for suffix, spec in topology.internal_topics().items()
            if spec.kind == "changelog"
        )
        self._maybe_choose_co_partitioning_assignor()
        # Sources read with Consumed...with_offset_reset_policy("latest") (else: earliest)
        self._latest_topics = frozenset(
            full_name(app, topology, topic)
            for info in topology.subtopologies().values()
            for topic in info.source_topics
            if (spec := topology.source_for_topic(topic)) is not None
            and str(spec.offset_reset or "").lower() == "latest"
        )

    def _maybe_choose_co_partitioning_assignor(self) -> None:
        """A sub-topology reading several topics needs partition p of each on the same task.

        librdkafka's client-side assignors cannot promise that (cooperative-sticky splits them), so
        such a topology joins with KIP-848's consumer protocol and the broker's `range` assignor, which
        does — unless the user chose a group protocol, in which case a classic choice is warned about.
        """
        if all(len(topics) <= 1 for topics in self._source_topics.values()):
            return
        chosen = self.config.group_protocol()
        if chosen is None:
            self.config.prefixed["main.consumer."]["group.protocol"] = "consumer"
            log.info(
                "a sub-topology reads several topics: joining with group.protocol=consumer (range)"
            )
        elif chosen != "consumer":
            log.warning(
                "a sub-topology reads several topics, but group.protocol=%s cannot keep their partitions "
                "together on one task: set main.consumer.group.protocol=consumer",
                chosen,
            )

    # State ---------------------------------------------------------------------------------------

    @property
    def state(self) -> _State:
        return self._state

    def set_state_listener(self, listener: StateListener) -> None:
        """`listener(new_state, old_state)` on every change; only before start()."""
        with self._lock:
            if self._state is not _State.CREATED:
                raise IllegalStateException("Can only set StateListener before calling start().")
            self._state_listener = listener

    def set_global_state_restore_listener(self, listener: StateRestoreListener) -> None:
        """Hear every store's restoration progress (riverlog.streams.runtime.restore); only before
        start(), as in Kafka Streams."""
        with self._lock:
            if self._state is not _State.CREATED:
                raise IllegalStateException(
                    "Can only set GlobalStateRestoreListener before calling start()."
                )
            self._restore_listener = listener

    def set_uncaught_exception_handler(self, handler: UncaughtExceptionHandler | Any) -> None:
        """A callable (or object with `handle`) taking the exception, returning a response."""
        with self._lock:
            if self._state is not _State.CREATED:
                raise IllegalStateException(
                    "Can only set UncaughtExceptionHandler before calling start()."
                )
            self._handler = handler.handle if hasattr(handler, "handle") else handler

    def _set_state(self, new: _State) -> bool:
        with self._lock:
            old = self._state
            if old is _State.PENDING_SHUTDOWN and new is not _State.NOT_RUNNING:
                return False
            if old is _State.PENDING_ERROR and new is not _State.ERROR:
                return False
            if old.has_completed_shutdown():
                return False
            if old is _State.REBALANCING and new is _State.REBALANCING:
                return True
            if new not in TRANSITIONS[old]:
                raise IllegalStateException(
                    f"Stream-client: unexpected state transition from {old.value} to {new.value}"
                )
            self._state = new
            log.info("State transition from %s to %s", old.value, new.value)
        listener = self._state_listener
        if listener is not None and old is not new:
            try:
                listener(new, old)
            except Exception:
                log.exception("state listener failed")
        return True

    # Lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Create internal topics and start the stream threads (returns at once)."""
        with self._lock:
            if self._state is not _State.CREATED:
                raise IllegalStateException(
                    f"The client is {self._state.value}, and can only start once"
                )
            self._set_state(_State.REBALANCING)
        try:
            admin = AdminClient(
                self.config.admin_configs(f"{self.config.client_id_prefix()}-admin")
            )
            self._partition_counts.update(
                InternalTopicManager(admin, self.config).make_ready(self.topology)
            )
        except BaseException as exc:
            log.error("stream-client failed to start: %s", exc)
            self._set_state(_State.PENDING_ERROR)
            self._set_state(_State.ERROR)
            self._stopped.set()
            raise
        if self.topology.global_store_specs:
            self._global_thread = GlobalStreamThread(self.topology, self.config)
            try:
                self._global_thread.bootstrap()
            except BaseException as exc:
                log.error("stream-client failed to load its global tables: %s", exc)
                self._global_thread.close()
                self._set_state(_State.PENDING_ERROR)
                self._set_state(_State.ERROR)
                self._stopped.set()
                raise
        try:
            self._lock_state_dir()
        except BaseException:
            self._set_state(State.PENDING_ERROR)
            self._set_state(State.ERROR)
            self._stopped.set()
            raise
        with self._lock:
            for _ in range(int(self.config["num.stream.threads"])):
                self._start_thread()
        if self.host_info is not None:
            from riverlog.common.service import HttpService
            from riverlog.streams.runtime.iq_http import build_app

            self._metadata = MetadataExchange(self, self.host_info)
            self._metadata.start()
            replicas = int(self.config.values.get("num.standby.replicas") or 0)
            if replicas > 0 and not str(self.config["processing.guarantee"]).startswith(
                "exactly_once"
            ):
                self._standby = StandbyUpdater(self, self._metadata, replicas)
                self._standby.start()
            self._http = HttpService(
                build_app(self), self.host_info.host, self.host_info.port, name="streams-iq"
            ).start()

    def _lock_state_dir(self) -> None:
        """Hold `state.dir/<application.id>/.lock` while running, as Kafka Streams locks its directory:
        a second instance of the app on the same state directory is refused rather than corrupt it."""
        app_dir = Path(self.config["state.dir"]) / self.config.application_id
        app_dir.mkdir(parents=True, exist_ok=True)
        handle = (app_dir / ".lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StreamsException(
                f"state directory {app_dir} is locked by another instance of {self.config.application_id}"
                " in another process: give each instance its own state.dir"
            ) from None
        self._state_dir_lock = handle

    def _unlock_state_dir(self) -> None:
        handle, self._state_dir_lock = self._state_dir_lock, None
        if handle is not None:
            handle.close()  # closing the file releases the flock

    def _start_thread(self) -> StreamThread:
        thread = StreamThread(
            self._next_thread_index,
            self.topology,
            self.config,
            self._source_topics,
            self._changelogs,
            self._on_thread_state,
            self._on_thread_failure,
            self._partition_counts,
            self._latest_topics,
        )
        self._next_thread_index += 1
        thread.reader.listener = self._restore_listener
        thread.reader.application_id = self.config.application_id
        self._threads.append(thread)
        thread.start()
        return thread

    def close(self, timeout: timedelta | float | None = None) -> bool:
        """Stop every thread, committing their work; True if all stopped within `timeout`."""
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        with self._lock:
            if self._state.has_completed_shutdown():
                return True
            if self._state is _State.CREATED:
                self._set_state(_State.PENDING_SHUTDOWN)
                self._set_state(_State.NOT_RUNNING)
                self._stopped.set()
                return True
            begun = self._set_state(_State.PENDING_SHUTDOWN)
        if begun:
            self._shutdown_async(_State.NOT_RUNNING)
        if isinstance(threading.current_thread(), StreamThread):
            # Called from our own thread (a listener or handler): waiting for it would deadlock.
            return self._stopped.is_set()
        return self._stopped.wait(seconds)

    def _shutdown_async(self, final: _State) -> None:
        def shutdown() -> None:
            with self._lock:
                threads = list(self._threads)
            for thread in threads:
                thread.shutdown()
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()
            with self._lock:
                # Let the threads (and their librdkafka clients) go: nothing reconnects after close.
                self._threads.clear()
            if self._global_thread is not None:
                self._global_thread.close()
            if self._standby is not None:
                self._standby.close()
            if self._http is not None:
                self._http.stop()
            if self._metadata is not None:
                self._metadata.close()
            self._unlock_state_dir()
            self._set_state(final)
            self._stopped.set()

        self._shutdown_thread = threading.Thread(
            target=shutdown, name="kafka-streams-close", daemon=True
        )
        self._shutdown_thread.start()

    def clean_up(self) -> None:
        """Delete this application's local state directory (only when not running)."""
        if self._state.is_running_or_rebalancing() or self._state in (
            _State.PENDING_SHUTDOWN,
            _State.PENDING_ERROR,
        ):
            raise IllegalStateException("Cannot clean up while running.")
        shutil.rmtree(
            Path(self.config["state.dir"]) / self.config.application_id, ignore_errors=True
        )

    def __enter__(self) -> KafkaStreams:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Threads -----------------------------------------------------------------------------------

    def _on_thread_state(self, thread: StreamThread, old: ThreadState, new: ThreadState) -> None:
        if new in _REBALANCING_THREAD_STATES:
            if self._state is _State.RUNNING:
                self._set_state(_State.REBALANCING)
            return
        if new is ThreadState.RUNNING:
            with self._lock:
                live = [t for t in self._threads if t.state is not ThreadState.DEAD]
                all_running = all(t.state is ThreadState.RUNNING for t in live)
            if all_running and self._state is _State.REBALANCING:
                self._set_state(_State.RUNNING)

    def _on_thread_failure(self, thread: StreamThread, exc: BaseException) -> None:
        node = getattr(exc, "node_name", None)
        where = f" in processor node {node}" if node else ""
        log.error("stream thread %s died%s: %s", thread.name, where, exc)
        response = StreamThreadExceptionResponse.SHUTDOWN_CLIENT
        if self._handler is not None:
            try:
                response = StreamThreadExceptionResponse(self._handler(exc))
            except Exception:
                log.exception("uncaught exception handler failed; shutting the client down")
        with self._lock:
            self._threads.remove(thread)
            if (
                response is StreamThreadExceptionResponse.REPLACE_THREAD
                and self._state.is_running_or_rebalancing()
            ):
                log.info("replacing stream thread %s", thread.name)
                self._start_thread()
                return
        if response is StreamThreadExceptionResponse.SHUTDOWN_APPLICATION:
            log.error(
                "SHUTDOWN_APPLICATION: shutting this client down (other instances are not told)"
            )
        if self._set_state(_State.PENDING_ERROR):
            self._shutdown_async(_State.ERROR)

    def store(self, params: StoreQueryParameters) -> Any:
        """Kafka's `KafkaStreams.store`: a read-only view of a store over this instance's active
        tasks. Raises `InvalidStateStoreException` (retriable) while the instance is not RUNNING or
        the store's task is restoring, unless `params.enable_stale_stores()` was asked for."""
        spec = self.topology.stores.get(params.store_name)
        global_store = self.topology.global_state.get(params.store_name)
        if global_store is not None and (params.stale_stores or self.state is _State.RUNNING):
            return composite_store(params, "kv", lambda: [global_store])
        if spec is None:
            raise InvalidStateStoreException(
                f"Cannot get state store {params.store_name} because no such store is registered "
                "in the topology."
            )
        if not params.stale_stores and self.state is not _State.RUNNING:
            raise InvalidStateStoreException(
                f"KafkaStreams is not in state RUNNING (it is {self.state.name}): store "
                f"{params.store_name} may be migrating or restoring; retry"
            )
        if self.state.has_completed_shutdown() or self.state is _State.ERROR:
            raise InvalidStateStoreException(f"KafkaStreams is {self.state.name}")

        def stores() -> list[Any]:
            with self._lock:
                threads = list(self._threads)
            out = []
            for thread in threads:
                for task_id, task in list(thread.tasks.tasks.items()):
                    if params.partition is not None and task_id.partition != params.partition:
                        continue
                    if not params.stale_stores and thread.reader.is_restoring(task_id):
                        raise InvalidStateStoreException(
                            f"Cannot get state store {params.store_name}: its task {task_id} "
                            "is restoring; retry"
                        )
                    store = task.state.stores.get(params.store_name)
                    if store is not None:
                        out.append(store)
            return out

        if not stores() and not params.stale_stores and params.partition is None:
            raise InvalidStateStoreException(
                f"Cannot get state store {params.store_name}: this instance has no active task "
                "holding it (rebalancing or owned elsewhere); retry"
            )
        return composite_store(params, spec.kind, stores)

    def query_metadata_for_key(
        self, store_name: str, key: Any, key_serde: Serde[Any]
    ) -> KeyQueryMetadata:
        """The instance (`application.server`) owning `key` in `store_name`, from the instances'
        published metadata (see `riverlog.streams.runtime.iq_metadata`)."""
        if self._metadata is None or self.host_info is None:
            raise StreamsException("query metadata needs application.server to be set")
        sub = self.topology.subtopology_of_store(store_name)
        topics = sorted(self.topology.subtopologies()[sub].source_topics)
        real = [
            f"{self.config.application_id}-{t}" if self.topology.is_internal(t) else t
            for t in topics
        ]
        count = max(self._partition_counts.get(t, 0) for t in real)
        if count <= 0:
            raise InvalidStateStoreException(f"partition count of {real} not known yet")
        kb = key_serde.serialize(real[0], key)
        if kb is None:
            raise ValueError("null keys have no owner")
        p = murmur2_partition(kb, count)
        replicas = int(self.config.values.get("num.standby.replicas") or 0)
        hosts = sorted({c.host_info for c in self._metadata.all_hosts()}, key=str)
        for t in real:
            owner = self._metadata.owner(t, p)
            if owner is not None:
                standbys: frozenset[HostInfo] = frozenset()
                if replicas > 0 and owner in hosts and self._standby is not None:
                    i = hosts.index(owner)
                    standbys = frozenset(
                        hosts[(i + k) % len(hosts)]
                        for k in range(1, min(replicas, len(hosts) - 1) + 1)
                    )
                return KeyQueryMetadata(owner, standbys, p)
        raise InvalidStateStoreException(
            f"no instance owns partition {p} of {store_name} yet (rebalancing): retry"
        )

    def metadata_for_all_streams_clients(self) -> list[StreamsMetadata]:
        """Every instance with `application.server`, its partitions and the stores they hold."""
        if self._metadata is None:
            raise StreamsException("streams metadata needs application.server to be set")
        out = self._metadata.all_hosts()
        app = self.config.application_id
        for info in self.topology.subtopologies().values():
            real = {f"{app}-{t}" if self.topology.is_internal(t) else t for t in info.source_topics}
            for meta in out:
                if any(t in real for t, _ in meta.topic_partitions):
                    meta.state_store_names.update(info.stores)
        return out

    def metrics(self) -> dict[str, float]:
        """Thread and task counters summed over live threads."""
        out: dict[str, float] = {}
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            for name, value in thread.metrics().items():
                out[name] = out.get(name, 0.0) + value
        if self._global_thread is not None:  # records the global stores loaded at start
            out["global-restore-total"] = float(self._global_thread.restored)
        return out

    def wait_for_state(self, state: _State, timeout_s: float) -> bool:
        """Poll until the client reaches `state` (a convenience for scripts and tests)."""
        deadline = time.monotonic() + timeout_s
        while self._state is not state:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True
