"""The `Worker`: instantiates connectors and tasks and runs them (Kafka's `Worker`).

The herder decides what runs; the worker makes it so. It builds each task's converters (the connector's
`key.converter`/`value.converter` override the worker's), its transformation chain, its error handler
and its Kafka clients (worker `producer.`/`consumer.`/`admin.` keys, then the connector's
`producer.override.`/`consumer.override.`/`admin.override.` keys as `connector.client.config.override.policy`
allows). Invariant: every connector and task the worker holds has a status callback, and a failure in
plugin code turns into a FAILED status, never into an exception out of the worker.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from riverlog.connect import connector_config as cc
from riverlog.connect.api import (
    Connector,
    ConnectorContext,
    SinkConnector,
    SinkTask,
    SourceConnector,
    SourceTask,
)
from riverlog.connect.converters import Converter
from riverlog.connect.eos_validation import TRANSACTION_BOUNDARY_UNSUPPORTED
from riverlog.connect.error_handling import RetryWithToleranceOperator
from riverlog.connect.errors import ConfigException, ConnectException
from riverlog.connect.offsets import OffsetStore
from riverlog.connect.plugins import PLUGINS, Plugins
from riverlog.connect.status import State, TargetState, TaskId
from riverlog.connect.worker_config import WorkerConfig
from riverlog.connect.worker_sink import WorkerSinkTask
from riverlog.connect.worker_tasks import (
    Converters,
    StatusCallback,
    WorkerSourceTask,
    WorkerTask,
)

log = logging.getLogger(__name__)

ConnectorStatusCallback = Callable[[str, State, str | None], None]

_OVERRIDE_PREFIXES = ("producer.override.", "consumer.override.", "admin.override.")


def check_override_policy(policy: str, props: Mapping[str, str]) -> dict[str, list[str]]:
    """Errors for client overrides the worker's policy forbids (Kafka's `None`/`Principal`/`All`)."""
    errors: dict[str, list[str]] = {}
    for key in props:
        if not key.startswith(_OVERRIDE_PREFIXES):
            continue
        suffix = key.split(".override.", 1)[1]
        allowed = policy == "All" or (policy == "Principal" and suffix == "sasl.jaas.config")
        if not allowed:
            errors[key] = [
                f"The '{policy}' policy does not allow '{suffix}' to be overridden in the connector configuration."
            ]
    return errors


class _Context(ConnectorContext):
    def __init__(self, worker: Worker, name: str) -> None:
        self.worker, self.name = worker, name

    def request_task_reconfiguration(self) -> None:
        callback = self.worker.on_reconfigure
        if callback is not None:
            callback(self.name)

    def raise_error(self, error: BaseException) -> None:
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.worker.connector_status(self.name, State.FAILED, trace)


@dataclass
class WorkerConnector:
    name: str
    connector: Connector
    props: dict[str, str]
    target: TargetState
    running: bool = False


@dataclass
class Worker:
    config: WorkerConfig
    worker_id: str
    offset_store: OffsetStore
    connector_status: ConnectorStatusCallback
    task_status: StatusCallback
    plugins: Plugins = PLUGINS
    on_reconfigure: Callable[[str], None] | None = None
    connectors: dict[str, WorkerConnector] = field(default_factory=dict)
    tasks: dict[TaskId, WorkerTask] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # ------------------------------------------------------------ connectors

    def resolve(self, props: Mapping[str, str]) -> dict[str, str]:
        """Config provider references (`${file:…}`, `${env:…}`) replaced by their values."""
        from riverlog.connect.config_providers import resolve

        return resolve(props, self.config.config_providers())

    def start_connector(self, name: str, props: dict[str, str], target: TargetState) -> bool:
        """Instantiate and (unless STOPPED) start the connector; False and FAILED status if it raised."""
        props = self.resolve(props)
        with self.lock:
            try:
                connector: Connector = self.plugins.new(props["connector.class"])
                connector.initialize(_Context(self, name))
                wc = WorkerConnector(name, connector, dict(props), target)
                self.connectors[name] = wc
                if target is not TargetState.STOPPED:
                    connector.start(dict(props))
                    wc.running = True
            except Exception as exc:
                trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                log.error("Connector %s failed to start: %s", name, exc)
                self.connector_status(name, State.FAILED, trace)
                return False
            self.connector_status(name, _state_for(target), None)
            return True

    def connector_task_configs(self, name: str, max_tasks: int) -> list[dict[str, str]]:
        with self.lock:
            wc = self.connectors.get(name)
            if wc is None or not wc.running:
                return []
            configs = wc.connector.task_configs(max_tasks)
            if len(configs) > max_tasks and cc.parsed(wc.props, type(wc.connector)).get(
                "tasks.max.enforce", True
            ):
                raise ConnectException(
                    f"Connector {name} generated {len(configs)} tasks, more than tasks.max={max_tasks}"
                )
            task_cls = wc.connector.task_class()
            out = []
            for c in configs:
                full = {k: str(v) for k, v in c.items()}
                full["task.class"] = f"{task_cls.__module__}.{task_cls.__qualname__}"
                if isinstance(wc.connector, SinkConnector):
                    for key in ("topics", "topics.regex"):
                        if key in wc.props:
                            full.setdefault(key, wc.props[key])
                out.append(full)
            return out

    def stop_connector(self, name: str) -> None:
        with self.lock:
            wc = self.connectors.pop(name, None)
        if wc is not None and wc.running:
            try:
                wc.connector.stop()
            except Exception:
                log.exception("Connector %s raised in stop", name)

    def set_connector_target(self, name: str, target: TargetState) -> None:
        with self.lock:
            wc = self.connectors.get(name)
            if wc is None:
                return
            if target is TargetState.STOPPED and wc.running:
                try:
                    wc.connector.stop()
                except Exception:
                    log.exception("Connector %s raised in stop", name)
                wc.running = False
            wc.target = target
        self.connector_status(name, _state_for(target), None)

    def connector_type(self, props: Mapping[str, str]) -> str:
        try:
            return self.plugins.resolve(props.get("connector.class", "")).type
        except ConnectException:
            return "unknown"

    # ------------------------------------------------------------ tasks

    def start_task(
        self,
        task_id: TaskId,
        connector_props: dict[str, str],
        task_props: dict[str, str],
        target: TargetState,
    ) -> bool:
        """Build and start the task's thread; False and FAILED status if it could not be built."""
        try:
            connector_props, task_props = self.resolve(connector_props), self.resolve(task_props)
            worker_task = self._build_task(task_id, connector_props, task_props, target)
        except Exception as exc:
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            log.error("Task %s could not be built: %s", task_id, exc)
            self.task_status(task_id, State.FAILED, trace)
            return False
        with self.lock:
            self.tasks[task_id] = worker_task
        worker_task.start()
        return True

    def _build_task(
        self, task_id: TaskId, cprops: dict[str, str], tprops: dict[str, str], target: TargetState
    ) -> WorkerTask:
        connector_cls = self.plugins.load(cprops["connector.class"])
        parsed = cc.parsed(cprops, connector_cls)
        task_class_name = tprops.get("task.class", "")
        task_cls = _import(task_class_name) if task_class_name else None
        if task_cls is None:
            task_cls = connector_cls().task_class()
        task = task_cls()
        converters = Converters(
            self._converter(cprops, "key.converter", is_key=True),
            self._converter(cprops, "value.converter", is_key=False),
            self._converter(cprops, "header.converter", is_key=False),
        )
        chain = cc.build_chain(cprops, self.plugins)
        flush_ms = int(self.config.get("offset.flush.interval.ms"))
        if issubclass(connector_cls, SourceConnector) and isinstance(task, SourceTask):
            retry = RetryWithToleranceOperator(
                parsed, connector=task_id.connector, task_id=task_id.task
            )
            producer = self.producer_config(cprops, f"connector-producer-{task_id}")
            eos_topic = None
            connector_transactions = False
            if (
                self.config.distributed
                and str(self.config.values.get("exactly.once.source.support", "disabled")).lower()
                == "enabled"
            ):
                if str(parsed.get("transaction.boundary") or "poll").lower() == "connector":
                    if not connector_cls().can_define_transaction_boundaries(cprops):
                        raise ConnectException(TRANSACTION_BOUNDARY_UNSUPPORTED)
                    connector_transactions = True
                eos_topic = str(self.config.get("offset.storage.topic"))
                producer["transactional.id"] = (
                    f"{self.config.get('group.id')}-{task_id.connector}-{task_id.task}"
                )
                producer["enable.idempotence"] = True
                producer["partitioner"] = (
                    "murmur2_random"  # the offsets topic is partitioned as Java does
                )
            return WorkerSourceTask(
                task_id,
                task,
                tprops,
                converters=converters,
                chain=chain,
                retry=retry,
                offset_store=self.offset_store,
                producer_config=producer,
                flush_interval_ms=flush_ms,
                flush_timeout_ms=int(self.config.get("offset.flush.timeout.ms")),
                on_status=self.task_status,
                target=target,
                exactly_once_offsets_topic=eos_topic,
                create_topic=self._topic_creator(cprops),
                transaction_interval_ms=self._transaction_interval(parsed, flush_ms),
                connector_transactions=connector_transactions,
            )
        if issubclass(connector_cls, SinkConnector) and isinstance(task, SinkTask):
            dlq_producer: list[Any] = []
            dlq_rf = int(parsed.get("errors.deadletterqueue.topic.replication.factor", 3))

            def dlq_send(
                topic: str,
                key: bytes | None,
                value: bytes | None,
                headers: list[tuple[str, bytes | None]],
            ) -> None:
                if not dlq_producer:
                    from confluent_kafka import Producer

                    self.ensure_topic(topic, 1, dlq_rf)
                    dlq_producer.append(
                        Producer(self.producer_config(cprops, f"connector-dlq-producer-{task_id}"))
                    )
                dlq_producer[0].produce(topic, value=value, key=key, headers=headers)
                dlq_producer[0].flush(10)

            retry = RetryWithToleranceOperator(
                parsed, connector=task_id.connector, task_id=task_id.task, dlq_send=dlq_send
            )
            retry.on_close = dlq_producer.clear
            consumer = self.consumer_config(cprops, task_id)
            topics = [t for t in parsed.get("topics") or [] if t]
            return WorkerSinkTask(
                task_id,
                task,
                tprops,
                topics=topics,
                topics_regex=str(parsed.get("topics.regex") or ""),
                converters=converters,
                chain=chain,
                retry=retry,
                consumer_config=consumer,
                flush_interval_ms=flush_ms,
                on_status=self.task_status,
                target=target,
            )
        raise ConfigException(
            f"{task_cls.__name__} does not match connector type of {connector_cls.__name__}"
        )

    def _topic_creator(self, cprops: Mapping[str, str]) -> Callable[[str], None] | None:
        """KIP-158: with `topic.creation.enable` (worker) and `topic.creation.default.replication.factor`
        and `.partitions` (connector), topics a source writes to are created with the `default` group's
        settings (`topic.creation.default.<topic config>`) — or the first group in
        `topic.creation.groups` whose `include` regexes match and `exclude` ones do not."""
        if not self.config.get("topic.creation.enable"):
            return None
        prefix = "topic.creation.default."
        if prefix + "replication.factor" not in cprops or prefix + "partitions" not in cprops:
            return None
        import re

        groups = [
            g.strip() for g in cprops.get("topic.creation.groups", "").split(",") if g.strip()
        ]

        def settings(group: str) -> tuple[int, int, dict[str, str]]:
            p = f"topic.creation.{group}."
            own = {k[len(p) :]: v for k, v in cprops.items() if k.startswith(p)}
            base = {k[len(prefix) :]: v for k, v in cprops.items() if k.startswith(prefix)}
            merged = {**base, **own}
            rf, parts = (
                int(merged.pop("replication.factor", "-1")),
                int(merged.pop("partitions", "-1")),
            )
            merged.pop("include", None)
            merged.pop("exclude", None)
            return rf, parts, merged

        def create(topic: str) -> None:
            chosen = "default"
            for g in groups:
                inc = [x for x in cprops.get(f"topic.creation.{g}.include", "").split(",") if x]
                exc = [x for x in cprops.get(f"topic.creation.{g}.exclude", "").split(",") if x]
                if any(re.fullmatch(x, topic) for x in inc) and not any(
                    re.fullmatch(x, topic) for x in exc
                ):
                    chosen = g
                    break
            rf, parts, configs = settings(chosen)
            self.ensure_topic(topic, parts if parts > 0 else 1, rf if rf > 0 else 3, configs)

        return create

    def _converter(self, cprops: Mapping[str, str], key: str, *, is_key: bool) -> Converter:
        if cprops.get(key):
            name, props = (
                cprops[key],
                {k[len(key) + 1 :]: v for k, v in cprops.items() if k.startswith(key + ".")},
            )
        else:
            name, props = str(self.config.get(key)), self.config.with_prefix(key + ".")
        converter: Converter = self.plugins.new(name)
        converter.configure(props, is_key)
        return converter

    @staticmethod
    def _transaction_interval(parsed: Mapping[str, Any], flush_ms: int) -> int | None:
        """KIP-618's `transaction.boundary=interval`: a transaction per `transaction.boundary.interval.ms`
        (default: the worker's `offset.flush.interval.ms`); None for `poll` (one per poll)."""
        if str(parsed.get("transaction.boundary") or "poll").lower() != "interval":
            return None
        interval = parsed.get("transaction.boundary.interval.ms")
        return flush_ms if interval is None else int(interval)

    def producer_config(self, cprops: Mapping[str, str], client_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.config.client_config(),
            "client.id": client_id,
            "acks": "all",
            "linger.ms": 5,
            # Java's default partitioner (murmur2 of the key bytes), as Kafka Connect's producer:
            # keyed records land where Java producers and Kafka Streams put the same key
            "partitioner": "murmur2_random",
        }
        out.update(self.config.with_prefix("producer."))
        out.update(
            {
                k[len("producer.override.") :]: v
                for k, v in cprops.items()
                if k.startswith("producer.override.")
            }
        )
        return out

    def consumer_config(self, cprops: Mapping[str, str], task_id: TaskId) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.config.client_config(),
            "group.id": f"connect-{task_id.connector}",
            "client.id": f"connector-consumer-{task_id}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",  # sinks never see aborted transactions
        }
        out.update(self.config.with_prefix("consumer."))
        out.update(
            {
                k[len("consumer.override.") :]: v
                for k, v in cprops.items()
                if k.startswith("consumer.override.")
            }
        )
        return out

    def admin_config(self) -> dict[str, Any]:
        return {**self.config.client_config(), **self.config.with_prefix("admin.")}

    def ensure_topic(
        self,
        topic: str,
        partitions: int,
        replication: int,
        configs: Mapping[str, str] | None = None,
    ) -> None:
        """Create `topic` if missing (replication capped by the cluster's broker count)."""
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        admin = AdminClient(self.admin_config())
        md = admin.list_topics(timeout=10)
        if topic in md.topics:
            return
        rf = max(1, min(replication, len(md.brokers)))
        futures = admin.create_topics(
            [
                NewTopic(
                    topic,
                    num_partitions=partitions,
                    replication_factor=rf,
                    config=dict(configs or {}),
                )
            ]
        )
        try:
            futures[topic].result(10)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise

    def stop_tasks(self, task_ids: list[TaskId], timeout_s: float | None = None) -> None:
        """Signal all, then wait for all (Kafka's `stopAndAwaitTasks`)."""
        with self.lock:
            running = [(t, self.tasks.pop(t)) for t in task_ids if t in self.tasks]
        for _, wt in running:
            wt.stop()
        grace = (
            timeout_s
            if timeout_s is not None
            else int(self.config.get("task.shutdown.graceful.timeout.ms")) / 1000
        )
        for task_id, wt in running:
            if not wt.await_stop(grace):
                log.warning("Task %s did not stop within %.1f s", task_id, grace)

    def set_task_target(self, task_id: TaskId, target: TargetState) -> None:
        with self.lock:
            wt = self.tasks.get(task_id)
        if wt is not None:
            wt.set_target(target)

    def task_ids(self, connector: str) -> list[TaskId]:
        with self.lock:
            return sorted(t for t in self.tasks if t.connector == connector)

    def stop(self) -> None:
        with self.lock:
            names = list(self.connectors)
            tasks = list(self.tasks)
        self.stop_tasks(tasks)
        for name in names:
            self.stop_connector(name)


def _state_for(target: TargetState) -> State:
    return {
        TargetState.STARTED: State.RUNNING,
        TargetState.PAUSED: State.PAUSED,
        TargetState.STOPPED: State.STOPPED,
    }[target]


def _import(path: str) -> type[Any] | None:
    import importlib

    module, _, attr = path.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return None
    return obj if isinstance(obj, type) else None
