"""`connect distributed`: workers sharing one `group.id` form a cluster (Kafka's `DistributedHerder`).

State lives in three topics, in Kafka Connect's record formats (values written as JsonConverter with
schemas disabled writes them):
- `config.storage.topic` (1 partition, compacted): `connector-<name>` → `{"properties": {…}}`,
  `task-<name>-<n>` → `{"properties": {…}}`, `commit-<name>` → `{"tasks": <count>}` (Kafka's key; the
  task configs written before it take effect), `target-state-<name>` → `{"state": …, "state.v2": …}`,
  `restart-connector-<name>` → `{"include-tasks": b, "only-failed": b}`; tombstones delete.
- `status.storage.topic`: `status-connector-<name>` / `status-task-<name>-<n>` →
  `{"state", "trace", "worker_id", "generation"}`.
- `offset.storage.topic`: `["<connector>", {partition}]` → `{offset}`, partitioned with murmur2 as Java.

Membership is Kafka's group protocol with protocol type `connect` (see `group.py`); what a rebalance
does — incremental cooperative by default, eager with `connect.protocol=eager` — is in `rebalance.py`.
Only the leader writes connector configs and target states: REST writes reaching a follower are forwarded
to the leader's URL (409 while no leader is known, as Kafka answers during a rebalance). The worker that
runs a connector writes its task configs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

from kio.schema.errors import ErrorCode

from riverlog.common.service import HttpService
from riverlog.connect import connector_config as cc
from riverlog.connect.errors import ConnectRestError
from riverlog.connect.group import Assignment, GroupError, GroupMember
from riverlog.connect.herder import StandaloneHerder
from riverlog.connect.kafka_log import KafkaBasedLog, ensure_topic
from riverlog.connect.offsets import OffsetStore
from riverlog.connect.rest import ConnectRest
from riverlog.connect.standalone import ClusterIdProbe, _Lazy, worker_id_for
from riverlog.connect.status import State, Status, TargetState, TaskId
from riverlog.connect.worker_config import WorkerConfig

log = logging.getLogger(__name__)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class KafkaOffsetStore(OffsetStore):
    """Source offsets in `offset.storage.topic`; every worker reads all of it."""

    def __init__(self, topic: str, client_config: dict[str, Any], name: str) -> None:
        super().__init__()
        self.log = (
            KafkaBasedLog(  # read_committed: exactly-once tasks write offsets in transactions
                topic,
                client_config,
                lambda k, v, p, o: self.apply_record(k or b"", v),
                name=f"offsets-{name}",
                read_committed=True,
            )
        )

    def put(
        self, connector: str, offsets: Mapping[Any, tuple[dict[str, Any], dict[str, Any] | None]]
    ) -> None:
        from riverlog.connect.offsets import key_bytes, value_bytes

        for partition, offset in offsets.values():
            self.log.send(key_bytes(connector, partition), value_bytes(offset), flush=False)
        self.log.flush()
        self.log.read_to_end()

    def close(self) -> None:
        self.log.stop()


class DistributedHerder(StandaloneHerder):
    def __init__(self, config: WorkerConfig, worker_id: str, url: str) -> None:
        client = config.client_config()
        admin = {**client, **config.with_prefix("admin.")}
        ensure_topic(
            admin,
            config.get("config.storage.topic"),
            1,
            int(config.get("config.storage.replication.factor")),
        )
        ensure_topic(
            admin,
            config.get("offset.storage.topic"),
            int(config.get("offset.storage.partitions")),
            int(config.get("offset.storage.replication.factor")),
        )
        ensure_topic(
            admin,
            config.get("status.storage.topic"),
            int(config.get("status.storage.partitions")),
            int(config.get("status.storage.replication.factor")),
        )
        safe = worker_id.replace(":", "-")
        store = KafkaOffsetStore(config.get("offset.storage.topic"), client, safe)
        super().__init__(config, store, worker_id)
        self.url = url
        self.pending_tasks: dict[str, dict[int, dict[str, str]]] = {}
        self.config_offset = 0
        self.config_log = KafkaBasedLog(
            config.get("config.storage.topic"), client, self._apply_config, name=f"configs-{safe}"
        )
        self.status_log = KafkaBasedLog(
            config.get("status.storage.topic"), client, self._apply_status, name=f"status-{safe}"
        )
        self.member = GroupMember(
            list(config.get("bootstrap.servers")),
            config.get("group.id"),
            session_timeout_ms=int(config.get("session.timeout.ms")),
            rebalance_timeout_ms=int(config.get("rebalance.timeout.ms")),
            client_id=f"connect-{safe}",
        )
        self.assignment: Assignment | None = None
        self.is_leader = False
        self.leader_url: str | None = None
        self.member_urls: dict[str, str] = {}
        self.owners: dict[tuple[str, int], str] = {}  # leader: (connector, task) -> member id
        self._rejoin = threading.Event()
        self.rejoin_at: float | None = None  # a scheduled rejoin (the cooperative protocol's delay)
        self._retry_task_configs: set[str] = set()  # connectors whose configs the leader missed
        self.changed: set[str] = (
            set()
        )  # connectors whose config or task configs changed since the last rebalance
        from riverlog.connect.group import CooperativeAssignor

        self.assignor = CooperativeAssignor(int(config.get("scheduled.rebalance.max.delay.ms")))
        self.cooperative = str(config.get("connect.protocol")) != "eager"
        self._thread = threading.Thread(target=self._run, name="distributed-herder", daemon=True)

    # ------------------------------------------------------------ start / stop

    def start(self) -> DistributedHerder:
        assert isinstance(self.offset_store, KafkaOffsetStore)
        self.offset_store.log.start()
        self.status_log.start()
        self.config_log.start()
        self._rejoin.set()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(10)
        self._stop_everything()
        self.member.leave()
        self.config_log.stop()
        self.status_log.stop()
        self.offset_store.close()

    # ------------------------------------------------------------ replaying the topics

    def _apply_config(
        self, key: bytes | None, value: bytes | None, partition: int, offset: int
    ) -> None:
        name_key = (key or b"").decode()
        doc = json.loads(value) if value else None
        with self.lock:
            self.config_offset = offset + 1
            if name_key.startswith("connector-"):
                name = name_key[len("connector-") :]
                if doc is None:
                    self.configs.pop(name, None)
                    self.task_configs.pop(name, None)
                    self.targets.pop(name, None)
                    self.statuses.forget(name)
                else:
                    new_props = {str(k): str(v) for k, v in doc["properties"].items()}
                    if name in self.configs and self.configs[name] != new_props:
                        self.changed.add(name)
                    self.configs[name] = new_props
                    self.targets.setdefault(name, TargetState.STARTED)
                self._rejoin.set()
            elif name_key.startswith("task-") and doc is not None:
                name, _, index = name_key[len("task-") :].rpartition("-")
                self.pending_tasks.setdefault(name, {})[int(index)] = {
                    str(k): str(v) for k, v in doc["properties"].items()
                }
            elif name_key.startswith("commit-") and doc is not None:
                name = name_key[len("commit-") :]
                pending = self.pending_tasks.get(name, {})
                count = int(doc.get("tasks", 0))
                new_tasks = [pending[i] for i in range(count) if i in pending]
                if self.task_configs.get(name) and self.task_configs.get(name) != new_tasks:
                    self.changed.add(name)
                self.task_configs[name] = new_tasks
                self._rejoin.set()
            elif name_key.startswith("target-state-"):
                name = name_key[len("target-state-") :]
                if doc is None:
                    return
                state = TargetState(doc.get("state.v2") or doc.get("state") or "STARTED")
                previous = self.targets.get(name)
                self.targets[name] = state
                if previous is not None and previous is not state:
                    threading.Thread(
                        target=self._apply_target, args=(name, previous, state), daemon=True
                    ).start()
            elif name_key.startswith("restart-connector-") and doc is not None:
                name = name_key[len("restart-connector-") :]
                threading.Thread(
                    target=self._apply_restart,
                    args=(name, bool(doc.get("include-tasks")), bool(doc.get("only-failed"))),
                    daemon=True,
                ).start()

    def _apply_status(
        self, key: bytes | None, value: bytes | None, partition: int, offset: int
    ) -> None:
        name_key = (key or b"").decode()
        if value is None:
            return
        doc = json.loads(value)
        status = Status(
            State(doc["state"]),
            doc.get("worker_id") or "",
            doc.get("trace"),
            int(doc.get("generation") or 0),
        )
        if name_key.startswith("status-connector-"):
            self.statuses.put_connector(name_key[len("status-connector-") :], status)
        elif name_key.startswith("status-task-"):
            name, _, index = name_key[len("status-task-") :].rpartition("-")
            self.statuses.put_task(TaskId(name, int(index)), status)

    # ------------------------------------------------------------ status callbacks write the topic

    def _connector_status(self, name: str, state: State, trace: str | None) -> None:
        super()._connector_status(name, state, trace)
        self._write_status(f"status-connector-{name}", state, trace)

    def _task_status(self, task: TaskId, state: State, trace: str | None) -> None:
        super()._task_status(task, state, trace)
        self._write_status(f"status-task-{task.connector}-{task.task}", state, trace)

    def _write_status(self, key: str, state: State, trace: str | None) -> None:
        doc = {
            "state": state.value,
            "trace": trace,
            "worker_id": self.worker_id,
            "generation": self.member.generation,
        }
        try:
            self.status_log.send(key, _json(doc))
        except Exception as exc:
            log.warning("could not write status %s: %s", key, exc)

    # ------------------------------------------------------------ the membership loop

    def _run(self) -> None:
        interval = int(self.config.get("heartbeat.interval.ms")) / 1000
        next_beat = 0.0
        while not self._stopped.is_set():
            try:
                if self.rejoin_at is not None and time.monotonic() >= self.rejoin_at:
                    self.rejoin_at = None
                    self._rejoin.set()
                if self._rejoin.is_set():
                    self._rebalance()
                    next_beat = time.monotonic() + interval
                elif time.monotonic() >= next_beat:
                    for name in sorted(self._retry_task_configs):
                        self._retry_task_configs.discard(name)
                        self._reconfigure(name)  # hand them to the (possibly new) leader again
                    code = self.member.heartbeat()
                    next_beat = time.monotonic() + interval
                    if code != ErrorCode.none:
                        if code == ErrorCode.unknown_member_id:
                            self.member.member_id = ""
                        self._rejoin.set()
                self._stopped.wait(0.05)
            except (GroupError, OSError, TimeoutError) as exc:
                log.warning("group membership: %s; rejoining", exc)
                self.is_leader, self.leader_url = False, None
                self._rejoin.set()
                self._stopped.wait(1.0)

    def _rebalance(self) -> None:
        """One rebalance: cooperative (`connect.protocol` compatible/sessioned) or eager; see rebalance.py."""
        from riverlog.connect.rebalance import rebalance

        rebalance(self)

    def _stop_everything(self) -> None:
        tasks = [
            t
            for name in list(self.worker.connectors) + [t.connector for t in self.worker.tasks]
            for t in self.worker.task_ids(name)
        ]
        self.worker.stop_tasks(sorted(set(tasks)))
        for name in list(self.worker.connectors):
            self.worker.stop_connector(name)

    def _start_assigned(self, mine: Assignment) -> None:
        with self.lock:
            for name in mine.connectors:
                if name not in self.configs:
                    continue
                target = self.targets.get(name, TargetState.STARTED)
                if (
                    self.worker.start_connector(name, self.configs[name], target)
                    and target is not TargetState.STOPPED
                ):
                    self._maybe_write_task_configs(name)
                elif target is TargetState.STOPPED and self.task_configs.get(name):
                    self.config_log.send(f"commit-{name}", _json({"tasks": 0}))
            for name, index in mine.tasks:
                configs = self.task_configs.get(name, [])
                if name in self.configs and index < len(configs):
                    self.worker.start_task(
                        TaskId(name, index),
                        self.configs[name],
                        configs[index],
                        self.targets.get(name, TargetState.STARTED),
                    )

    def _maybe_write_task_configs(self, name: str) -> None:
        """The connector's owner writes its task configs when they differ from the stored ones."""
        try:
            configs = self.worker.connector_task_configs(
                name, int(self.configs[name].get("tasks.max", "1"))
            )
        except Exception as exc:
            self._connector_status(
                name,
                State.FAILED,
                "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            )
            return
        if configs == self.task_configs.get(name):
            return
        if self.is_leader:
            self._write_task_configs(name, configs)
            return
        # A follower hands them to the leader (Kafka's POST /connectors/{c}/tasks), which writes them.
        import httpx

        leader = self.leader_url
        try:
            if leader is None:
                raise httpx.ConnectError("no leader known")
            answer = httpx.post(
                f"{leader.rstrip('/')}/connectors/{name}/tasks",
                json=configs,
                headers={"x-riverlog-forwarded": "1"},
                timeout=30,
            )
            answer.raise_for_status()
            log.info(
                "Task configs of %s (%d) handed to the leader at %s", name, len(configs), leader
            )
        except httpx.HTTPError as exc:
            log.warning("Task configs of %s not handed to the leader (%s): retried", name, exc)
            self._retry_task_configs.add(name)

    def put_task_configs(self, name: str, configs: list[dict[str, str]]) -> None:
        """The leader's side of POST /connectors/{c}/tasks."""
        self._require_leader()
        with self.lock:
            if name not in self.configs:
                raise ConnectRestError(404, f"Connector {name} not found")
            self._write_task_configs(name, configs)

    def _write_task_configs(self, name: str, configs: list[dict[str, str]]) -> None:
        for i, c in enumerate(configs):
            self.config_log.send(f"task-{name}-{i}", _json({"properties": c}), flush=False)
        self.config_log.send(f"commit-{name}", _json({"tasks": len(configs)}))

    def _reconfigure(self, name: str) -> None:
        with self.lock:
            if name in self.worker.connectors:
                self._maybe_write_task_configs(name)

    def _apply_target(self, name: str, previous: TargetState, state: TargetState) -> None:
        with self.lock:
            owned = name in self.worker.connectors
            if state is TargetState.STOPPED:
                task_ids = self.worker.task_ids(name)
                self.worker.stop_tasks(task_ids)
                if owned:
                    self.worker.set_connector_target(name, state)
                return
            if previous is TargetState.STOPPED:
                if owned:
                    self.worker.stop_connector(name)
                    if self.worker.start_connector(name, self.configs[name], state):
                        self._maybe_write_task_configs(name)
                return
            if owned:
                self.worker.set_connector_target(name, state)
            for task_id in self.worker.task_ids(name):
                self.worker.set_task_target(task_id, state)

    def _apply_restart(self, name: str, include_tasks: bool, only_failed: bool) -> None:
        with self.lock:
            if name not in self.configs:
                return
            conn_status = self.statuses.connector(name)
            if name in self.worker.connectors and (
                not only_failed or (conn_status is not None and conn_status.state is State.FAILED)
            ):
                self._restart_connector_only(name)
            if include_tasks:
                for task_id in [
                    TaskId(name, i) for i in range(len(self.task_configs.get(name, [])))
                ]:
                    status = self.statuses.task(task_id)
                    owned = (
                        self.assignment is not None
                        and (name, task_id.task) in self.assignment.tasks
                    )
                    if owned and (
                        not only_failed or (status is not None and status.state is State.FAILED)
                    ):
                        self._restart_task(task_id)

    # ------------------------------------------------------------ REST writes (leader only; followers forward)

    def _require_leader(self) -> None:
        if not self.is_leader:
            raise ConnectRestError(
                409,
                "Cannot complete request because of a conflicting operation (e.g. worker rebalance)",
            )

    def put_connector_config(
        self,
        name: str,
        config: Mapping[str, Any],
        *,
        allow_replace: bool,
        initial_state: str | None = None,
    ) -> tuple[bool, dict[str, Any]]:
        self._require_leader()
        props = {
            str(k): str(v) if not isinstance(v, bool) else str(v).lower()
            for k, v in config.items()
            if v is not None
        }
        if "name" in props and props["name"] != name:
            raise ConnectRestError(
                400,
                f"Connector name configuration ({props['name']}) doesn't match connector name in the URL ({name})",
            )
        props["name"] = name
        target: TargetState | None = None
        if initial_state is not None:
            mapping = {
                "RUNNING": TargetState.STARTED,
                "PAUSED": TargetState.PAUSED,
                "STOPPED": TargetState.STOPPED,
            }
            if initial_state.upper() not in mapping:
                raise ConnectRestError(
                    400,
                    f"Invalid initial state {initial_state}: must be one of RUNNING, PAUSED, STOPPED",
                )
            target = mapping[initial_state.upper()]
        infos = self.validate(props)
        if infos["error_count"]:
            raise ConnectRestError(400, cc.invalid_message(infos))
        self.config_log.read_to_end()
        with self.lock:
            exists = name in self.configs
        if exists and not allow_replace:
            raise ConnectRestError(409, f"Connector {name} already exists")
        if not exists and target is not None:
            self.config_log.send(
                f"target-state-{name}",
                _json(
                    {
                        "state": "PAUSED" if target is not TargetState.STARTED else "STARTED",
                        "state.v2": target.value,
                    }
                ),
                flush=False,
            )
        self.config_log.send(f"connector-{name}", _json({"properties": props}))
        self.config_log.read_to_end()
        return not exists, self.connector_info(name)

    def delete_connector(self, name: str) -> None:
        self._require_leader()
        self._require(name)
        self.config_log.send(f"connector-{name}", None, flush=False)
        self.config_log.send(f"target-state-{name}", None)
        self.config_log.read_to_end()

    def _set_target(self, name: str, target: TargetState) -> None:
        self._require_leader()
        self._require(name)
        legacy = "PAUSED" if target is not TargetState.STARTED else "STARTED"
        self.config_log.send(
            f"target-state-{name}",
            _json({"state": legacy, "state.v2": target.value}),
            flush=target is not TargetState.STOPPED,
        )
        if target is TargetState.STOPPED:
            self.config_log.send(f"commit-{name}", _json({"tasks": 0}))
        self.config_log.read_to_end()

    def restart_connector(
        self, name: str, *, include_tasks: bool, only_failed: bool
    ) -> dict[str, Any] | None:
        self._require_leader()
        self._require(name)
        self.config_log.send(
            f"restart-connector-{name}",
            _json({"include-tasks": include_tasks, "only-failed": only_failed}),
        )
        if not include_tasks and not only_failed:
            return None
        answer = self.connector_status(name)
        conn = self.statuses.connector(name)
        if not only_failed or (conn is not None and conn.state is State.FAILED):
            answer["connector"]["state"] = State.RESTARTING.value
        for t in answer["tasks"]:
            if include_tasks and (not only_failed or t["state"] == State.FAILED.value):
                t["state"] = State.RESTARTING.value
        return answer

    def restart_task(self, name: str, task: int) -> None:
        self._require(name)
        if self.assignment is not None and (name, task) in self.assignment.tasks:
            self._restart_task(TaskId(name, task))
            return
        self._require_leader()
        owner = self.owners.get((name, task))
        if owner is None or owner not in self.member_urls:
            raise ConnectRestError(404, f"Unknown task: {name}-{task}")
        import httpx

        r = httpx.post(
            f"{self.member_urls[owner]}/connectors/{name}/tasks/{task}/restart",
            headers={"X-Riverlog-Forwarded": "1"},
            timeout=30,
        )
        if r.status_code >= 400:
            raise ConnectRestError(r.status_code, r.json().get("message", r.text))

    def _require_stopped(self, name: str) -> None:
        super()._require_stopped(name)


class ConnectDistributed:
    """One distributed worker: REST service, herder, group membership."""

    def __init__(self, worker_props: Mapping[str, str], *, port: int | None = None) -> None:
        self.config = WorkerConfig.parse(worker_props, distributed=True)
        host, listen_port = self.config.listener()
        self.service_host, self.service_port = host, listen_port if port is None else port
        self.service: HttpService | None = None
        self.herder: DistributedHerder | None = None
        self.probe = ClusterIdProbe(self.config.client_config())
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        assert self.service is not None
        return self.service.url

    def start(self) -> ConnectDistributed:
        box: list[Any] = []
        rest = ConnectRest(_Lazy(box, self.probe))
        self.service = HttpService(
            rest.app(), self.service_host, self.service_port, name="connect"
        ).start()
        self.probe.start()
        self._box = box
        self._starter = threading.Thread(
            target=self._start_herder, name="herder-start", daemon=True
        )
        self._starter.start()
        return self

    def _start_herder(self) -> None:
        """Build the herder once Kafka answers (its topics must exist first); retried every 5 s with
        one log line per failure, so a worker started before its Kafka comes up on its own."""
        assert self.service is not None
        worker_id = worker_id_for(self.config, self.service.port)
        advertised = f"http://{worker_id}"
        while not self._stopping.is_set():
            try:
                herder = DistributedHerder(self.config, worker_id, advertised)
                break
            except Exception as exc:
                log.warning(
                    "Kafka at %s is not usable yet (%s); retrying in 5 s",
                    ",".join(self.config.get("bootstrap.servers")),
                    exc,
                )
                self._stopping.wait(5)
        else:
            return
        original = herder.server_info

        def info() -> dict[str, Any]:
            answer: dict[str, Any] = original()
            answer["kafka_cluster_id"] = self.probe.cluster_id
            return answer

        herder.server_info = info  # type: ignore[method-assign]
        self.herder = herder.start()
        self._box.append(herder)

    def stop(self) -> None:
        self._stopping.set()
        self.probe.stop()
        if self.service is not None:
            self.service.stop()
        if self.herder is not None:
            self.herder.stop()
