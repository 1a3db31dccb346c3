"""The herder: what runs where, and the operations the REST API offers (Kafka's `AbstractHerder` and
`StandaloneHerder`).

State it owns (under one lock): connector configs, their task configs, each connector's target state
(STARTED, PAUSED, STOPPED), the topics each connector used, and the statuses reported by the worker.
Invariants: a connector config is validated before it is stored (an invalid one is never half-created);
tasks run only for connectors whose target is STARTED or PAUSED; offsets may be altered or reset only
while the connector is STOPPED, as Kafka requires. Every method answers in Kafka's REST shapes, raising
`ConnectRestError(status, message)` for Kafka's error answers.

The standalone herder runs everything on this worker; the distributed herder (`distributed.py`) keeps the
same state in Kafka topics and shares the answer-building code here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from riverlog.connect import connector_config as cc
from riverlog.connect.eos_validation import exactly_once_errors
from riverlog.connect.errors import ConnectException, ConnectRestError, NotFoundException
from riverlog.connect.offsets import OffsetStore
from riverlog.connect.plugins import PLUGINS, VERSION, Plugins
from riverlog.connect.status import State, Status, StatusStore, TargetState, TaskId
from riverlog.connect.worker import Worker, check_override_policy
from riverlog.connect.worker_config import WorkerConfig

log = logging.getLogger(__name__)

_INITIAL_STATES = {
    "RUNNING": TargetState.STARTED,
    "PAUSED": TargetState.PAUSED,
    "STOPPED": TargetState.STOPPED,
}


def not_found(name: str) -> ConnectRestError:
    return ConnectRestError(404, f"Connector {name} not found")


class StandaloneHerder:
    """All connectors and tasks on this worker; configs in memory (re-read from files on restart)."""

    def __init__(
        self,
        config: WorkerConfig,
        offset_store: OffsetStore,
        worker_id: str,
        *,
        plugins: Plugins = PLUGINS,
        kafka_cluster_id: str | None = None,
    ) -> None:
        self.config = config
        self.worker_id = worker_id
        self.plugins = plugins
        self.kafka_cluster_id = kafka_cluster_id
        self.statuses = StatusStore()
        self.offset_store = offset_store
        self.lock = threading.RLock()
        self.configs: dict[str, dict[str, str]] = {}
        self.task_configs: dict[str, list[dict[str, str]]] = {}
        self.targets: dict[str, TargetState] = {}
        self.topics: dict[str, set[str]] = {}
        self.restart_attempts: dict[TaskId, int] = {}
        self.worker = Worker(
            config,
            worker_id,
            offset_store,
            self._connector_status,
            self._task_status,
            plugins,
            self._reconfigure_requested,
        )
        self._stopped = threading.Event()

    # ------------------------------------------------------------ status callbacks

    def _connector_status(self, name: str, state: State, trace: str | None) -> None:
        self.statuses.put_connector(name, Status(state, self.worker_id, trace))

    def _task_status(self, task: TaskId, state: State, trace: str | None) -> None:
        attempts = self.restart_attempts.get(task, 0)
        self.statuses.put_task(task, Status(state, self.worker_id, trace, attempts=attempts))
        if state is State.FAILED and self.config.get("auto.restart.enabled"):
            self._maybe_schedule_restart(task, attempts)

    def _maybe_schedule_restart(self, task: TaskId, attempts: int) -> None:
        if attempts >= int(self.config.get("auto.restart.max.attempts")):
            return
        delay = int(self.config.get("auto.restart.backoff.ms")) / 1000 * (2**attempts)

        def later() -> None:
            if self._stopped.wait(delay):
                return
            with self.lock:
                status = self.statuses.task(task)
                if (
                    task.connector not in self.configs
                    or status is None
                    or status.state is not State.FAILED
                ):
                    return
                self.restart_attempts[task] = attempts + 1
                log.info("Automatically restarting task %s (attempt %d)", task, attempts + 1)
                self._restart_task(task)

        threading.Thread(target=later, name=f"auto-restart-{task}", daemon=True).start()

    def _reconfigure_requested(self, name: str) -> None:
        threading.Thread(target=self._reconfigure, args=(name,), daemon=True).start()

    # ------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        self._stopped.set()
        self.worker.stop()
        self.offset_store.close()

    # ------------------------------------------------------------ reads

    def server_info(self) -> dict[str, Any]:
        return {"version": VERSION, "commit": "riverlog", "kafka_cluster_id": self.kafka_cluster_id}

    def connectors(self) -> list[str]:
        with self.lock:
            return sorted(self.configs)

    def _require(self, name: str) -> dict[str, str]:
        with self.lock:
            config = self.configs.get(name)
        if config is None:
            raise not_found(name)
        return config

    def connector_type(self, name: str) -> str:
        return self.worker.connector_type(self._require(name))

    def connector_info(self, name: str) -> dict[str, Any]:
        config = self._require(name)
        with self.lock:
            tasks = [TaskId(name, i).as_json() for i in range(len(self.task_configs.get(name, [])))]
        return {
            "name": name,
            "config": dict(config),
            "tasks": tasks,
            "type": self.worker.connector_type(config),
        }

    def connector_config(self, name: str) -> dict[str, str]:
        return dict(self._require(name))

    def connector_status(self, name: str) -> dict[str, Any]:
        config = self._require(name)
        status = self.statuses.connector(name) or Status(State.UNASSIGNED, self.worker_id)
        tasks = [{"id": t.task, **s.as_json()} for t, s in self.statuses.tasks_of(name)]
        return {
            "name": name,
            "connector": status.as_json(),
            "tasks": tasks,
            "type": self.worker.connector_type(config),
        }

    def task_status(self, name: str, task: int) -> dict[str, Any]:
        self._require(name)
        status = self.statuses.task(TaskId(name, task))
        if status is None:
            raise ConnectRestError(404, f"No status found for task {name}-{task}")
        return {"id": task, **status.as_json()}

    def tasks_info(self, name: str) -> list[dict[str, Any]]:
        self._require(name)
        with self.lock:
            configs = self.task_configs.get(name, [])
            return [
                {"id": TaskId(name, i).as_json(), "config": dict(c)} for i, c in enumerate(configs)
            ]

    def connector_topics(self, name: str) -> dict[str, Any]:
        self._require(name)
        with self.lock:
            topics = set(self.topics.get(name, set()))
        for task_id in self.worker.task_ids(name):
            wt = self.worker.tasks.get(task_id)
            topics |= getattr(wt, "topics_used", set())
        return {name: {"topics": sorted(topics)}}

    def reset_topics(self, name: str) -> None:
        self._require(name)
        if not self.config.get("topic.tracking.allow.reset"):
            raise ConnectRestError(403, "Topic tracking reset is disabled.")
        with self.lock:
            self.topics[name] = set()
        for task_id in self.worker.task_ids(name):
            wt = self.worker.tasks.get(task_id)
            if wt is not None and hasattr(wt, "topics_used"):
                wt.topics_used.clear()

    # ------------------------------------------------------------ validation and writes

    def validate(self, props: Mapping[str, str]) -> dict[str, Any]:
        props = self.worker.resolve(props)  # Kafka validates the transformed config
        infos = cc.validate(props, self.plugins)
        policy_errors = check_override_policy(
            str(self.config.get("connector.client.config.override.policy")), props
        )
        for key, messages in self._transaction_boundary_errors(props).items():
            for entry in infos["configs"]:
                value = entry.get("value") or {}
                if value.get("name") == key:
                    value["errors"] = [*value.get("errors", []), *messages]
                    infos["error_count"] += len(messages)
        for key, messages in policy_errors.items():
            infos["configs"].append(
                {
                    "definition": None,
                    "value": {
                        "name": key,
                        "value": props[key],
                        "recommended_values": [],
                        "errors": messages,
                        "visible": True,
                    },
                }
            )
            infos["error_count"] += len(messages)
        return infos

    def _transaction_boundary_errors(self, props: Mapping[str, str]) -> dict[str, list[str]]:
        eos = str(self.config.values.get("exactly.once.source.support", "disabled"))
        return exactly_once_errors(
            props, self.plugins, self.config.distributed, eos.lower() == "enabled"
        )

    def put_connector_config(
        self,
        name: str,
        config: Mapping[str, Any],
        *,
        allow_replace: bool,
        initial_state: str | None = None,
    ) -> tuple[bool, dict[str, Any]]:
        """Create or replace a connector; (created, info). 400 on invalid config, 409 if it exists."""
        props = {str(k): _string(v) for k, v in config.items() if v is not None}
        if "name" in props and props["name"] != name:
            raise ConnectRestError(
                400,
                f"Connector name configuration ({props['name']}) doesn't match connector name in the URL ({name})",
            )
        props["name"] = name
        _check_name(name)
        target = TargetState.STARTED
        if initial_state is not None:
            if initial_state.upper() not in _INITIAL_STATES:
                raise ConnectRestError(
                    400,
                    f"Invalid initial state {initial_state}: must be one of RUNNING, PAUSED, STOPPED",
                )
            target = _INITIAL_STATES[initial_state.upper()]
        infos = self.validate(props)
        if infos["error_count"]:
            raise ConnectRestError(400, cc.invalid_message(infos))
        with self.lock:
            exists = name in self.configs
            if exists and not allow_replace:
                raise ConnectRestError(409, f"Connector {name} already exists")
            if exists:
                self._stop_connector_and_tasks(name)
                target = self.targets.get(name, TargetState.STARTED)
            self.configs[name] = props
            self.targets[name] = target
            self._start_connector(name)
        return not exists, self.connector_info(name)

    def patch_connector_config(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        current = self.connector_config(name)
        for k, v in patch.items():
            if v is None:
                current.pop(k, None)
            else:
                current[k] = _string(v)
        _, info = self.put_connector_config(name, current, allow_replace=True)
        return info

    def delete_connector(self, name: str) -> None:
        with self.lock:
            self._require(name)
            self._stop_connector_and_tasks(name)
            del self.configs[name]
            self.task_configs.pop(name, None)
            self.targets.pop(name, None)
            self.topics.pop(name, None)
        self.statuses.forget(name)

    def _start_connector(self, name: str) -> None:
        target = self.targets[name]
        if not self.worker.start_connector(name, self.configs[name], target):
            return
        if target is TargetState.STOPPED:
            self.task_configs[name] = []
            return
        self._start_tasks(name)

    def _start_tasks(self, name: str) -> None:
        props = self.configs[name]
        try:
            configs = self.worker.connector_task_configs(name, int(props.get("tasks.max", "1")))
        except Exception as exc:
            import traceback

            self._connector_status(
                name,
                State.FAILED,
                "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            )
            return
        self.task_configs[name] = configs
        for i, task_props in enumerate(configs):
            self.worker.start_task(TaskId(name, i), props, task_props, self.targets[name])

    def _stop_connector_and_tasks(self, name: str) -> None:
        task_ids = self.worker.task_ids(name)
        self._collect_topics(name, task_ids)
        self.worker.stop_tasks(task_ids)
        self.worker.stop_connector(name)

    def _collect_topics(self, name: str, task_ids: list[TaskId]) -> None:
        used = self.topics.setdefault(name, set())
        for task_id in task_ids:
            wt = self.worker.tasks.get(task_id)
            used |= getattr(wt, "topics_used", set())

    def _reconfigure(self, name: str) -> None:
        with self.lock:
            if name not in self.configs or self.targets.get(name) is TargetState.STOPPED:
                return
            props = self.configs[name]
            new = self.worker.connector_task_configs(name, int(props.get("tasks.max", "1")))
            if new == self.task_configs.get(name):
                return
            task_ids = self.worker.task_ids(name)
            self._collect_topics(name, task_ids)
            self.worker.stop_tasks(task_ids)
            self.task_configs[name] = new
            for i, task_props in enumerate(new):
                self.worker.start_task(TaskId(name, i), props, task_props, self.targets[name])

    # ------------------------------------------------------------ state changes

    def pause(self, name: str) -> None:
        self._set_target(name, TargetState.PAUSED)

    def resume(self, name: str) -> None:
        self._set_target(name, TargetState.STARTED)

    def stop_connector(self, name: str) -> None:
        self._set_target(name, TargetState.STOPPED)

    def _set_target(self, name: str, target: TargetState) -> None:
        with self.lock:
            self._require(name)
            previous = self.targets.get(name)
            self.targets[name] = target
            if target is TargetState.STOPPED:
                task_ids = self.worker.task_ids(name)
                self._collect_topics(name, task_ids)
                self.worker.stop_tasks(task_ids)
                for t in task_ids:
                    self.statuses.tasks.pop(t, None)
                self.task_configs[name] = []
                self.worker.set_connector_target(name, target)
                return
            if previous is TargetState.STOPPED:
                self.worker.stop_connector(name)
                self._start_connector(name)
                return
            self.worker.set_connector_target(name, target)
            for task_id in self.worker.task_ids(name):
                self.worker.set_task_target(task_id, target)

    def restart_connector(
        self, name: str, *, include_tasks: bool, only_failed: bool
    ) -> dict[str, Any] | None:
        """Kafka's restart: None for the plain restart (204), else the status with RESTARTING (202)."""
        with self.lock:
            self._require(name)
            plain = not include_tasks and not only_failed
            conn_status = self.statuses.connector(name)
            restart_conn = not only_failed or (
                conn_status is not None and conn_status.state is State.FAILED
            )
            tasks = []
            if include_tasks:
                for t, s in self.statuses.tasks_of(name):
                    if not only_failed or s.state is State.FAILED:
                        tasks.append(t)
            if plain:
                self._restart_connector_only(name)
                return None
            if restart_conn:
                self._connector_status(name, State.RESTARTING, None)
            for t in tasks:
                self._task_status(t, State.RESTARTING, None)
            answer = self.connector_status(name)
            if restart_conn:
                self._restart_connector_only(name)
            for t in tasks:
                self._restart_task(t)
            return answer

    def _restart_connector_only(self, name: str) -> None:
        self.worker.stop_connector(name)
        target = self.targets[name]
        self.worker.start_connector(name, self.configs[name], target)

    def restart_task(self, name: str, task: int) -> None:
        with self.lock:
            self._require(name)
            task_id = TaskId(name, task)
            if task >= len(self.task_configs.get(name, [])):
                raise ConnectRestError(404, f"Unknown task: {task_id}")
            self._restart_task(task_id)

    def _restart_task(self, task_id: TaskId) -> None:
        name = task_id.connector
        self.worker.stop_tasks([task_id])
        configs = self.task_configs.get(name, [])
        if task_id.task < len(configs):
            self.worker.start_task(
                task_id, self.configs[name], configs[task_id.task], self.targets[name]
            )

    # ------------------------------------------------------------ offsets (only while STOPPED)

    def _require_stopped(self, name: str) -> None:
        self._require(name)
        if self.targets.get(name) is not TargetState.STOPPED or self.worker.task_ids(name):
            raise ConnectRestError(
                400,
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be done "
                f"for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint",
            )

    def get_offsets(self, name: str) -> dict[str, Any]:
        config = self._require(name)
        if self.worker.connector_type(config) == "sink":
            from riverlog.connect.sink_offsets import sink_offsets

            return {"offsets": sink_offsets(self.worker, name)}
        entries = self.offset_store.connector_offsets(name)
        return {"offsets": [{"partition": p, "offset": o} for p, o in entries]}

    def alter_offsets(self, name: str, offsets: list[Mapping[str, Any]]) -> dict[str, str]:
        self._require_stopped(name)
        config = self.configs[name]
        if self.worker.connector_type(config) == "sink":
            from riverlog.connect.sink_offsets import alter_sink_offsets

            alter_sink_offsets(self.worker, name, offsets)
        else:
            changes: dict[Any, Any] = {}
            for entry in offsets:
                partition, offset = entry.get("partition"), entry.get("offset")
                if not isinstance(partition, dict):
                    raise ConnectRestError(400, "Source partitions must be JSON objects")
                if offset is not None and not isinstance(offset, dict):
                    raise ConnectRestError(400, "Source offsets must be JSON objects or null")
                from riverlog.connect.api import partition_key

                changes[partition_key(partition)] = (partition, offset)
            self.offset_store.put(name, changes)
        return {"message": "The offsets for this connector have been altered successfully"}

    def reset_offsets(self, name: str) -> dict[str, str]:
        self._require_stopped(name)
        config = self.configs[name]
        if self.worker.connector_type(config) == "sink":
            from riverlog.connect.sink_offsets import reset_sink_offsets

            reset_sink_offsets(self.worker, name)
        else:
            from riverlog.connect.api import partition_key

            self.offset_store.put(
                name,
                {partition_key(p): (p, None) for p, _ in self.offset_store.connector_offsets(name)},
            )
        return {"message": "The offsets for this connector have been reset successfully"}

    # ------------------------------------------------------------ plugins

    def plugins_list(self, connectors_only: bool) -> list[dict[str, str]]:
        kinds = (
            ("source", "sink")
            if connectors_only
            else ("source", "sink", "converter", "header_converter", "transformation", "predicate")
        )
        return [p.as_json() for p in self.plugins.all() if p.type in kinds]

    def plugin_config(self, plugin: str) -> list[dict[str, Any]]:
        try:
            cls = self.plugins.load(plugin)
        except NotFoundException:
            raise ConnectRestError(
                404,
                f"Failed to find any class that implements Connector and which name matches {plugin}",
            ) from None
        definition = cls.config_def
        infos = cc._infos(plugin, definition, {}, {})
        return [c["definition"] for c in infos["configs"]]

    def validate_plugin(self, plugin: str, props: dict[str, Any]) -> dict[str, Any]:
        props = {str(k): _string(v) for k, v in props.items() if v is not None}
        given = props.get("connector.class")
        if given is None:
            props["connector.class"] = plugin
        else:
            try:
                same = (
                    self.plugins.resolve(given).class_name
                    == self.plugins.resolve(plugin).class_name
                )
            except ConnectException:
                same = given == plugin
            if not same:
                raise ConnectRestError(
                    400,
                    "Included connector type " + given + " does not match request type " + plugin,
                )
        return self.validate(props)


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _check_name(name: str) -> None:
    if not name.strip():
        raise ConnectRestError(400, "Connector name is required")
    if any(ord(c) < 0x20 for c in name):
        raise ConnectRestError(400, "Connector name contains ISO control characters")


def wait_for(predicate: Any, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
