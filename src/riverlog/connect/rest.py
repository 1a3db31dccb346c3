"""Kafka Connect's REST API as a Starlette app (paths, payloads and status codes of Kafka Connect 3.9).

Every route calls the herder and nothing else; handlers are sync functions, which Starlette runs in its
thread pool, so blocking herder work never stalls the event loop. Errors are Kafka's
`{"error_code": <status>, "message": …}`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from riverlog.common.metrics import FunctionCollector, ServiceMetrics, gauge
from riverlog.connect.errors import ConnectRestError

Handler = Callable[[Request], Response]


class HerderLike(Protocol):
    def __getattr__(self, name: str) -> Any: ...


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error_code": status, "message": message}, status_code=status)


def _body(request: Request) -> Any:
    import anyio.from_thread

    raw = anyio.from_thread.run(request.body)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ConnectRestError(400, f"Malformed JSON in request body: {exc}") from None


def _bool_param(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise ConnectRestError(400, f"Invalid boolean value for query parameter {name}: {value}")
    return value.lower() == "true"


class ConnectRest:
    """Routes bound to a herder (and an optional forwarder used by the distributed herder)."""

    def __init__(self, herder: Any) -> None:
        self.herder = herder
        self._logger_times: dict[str, int] = {}

    def app(self) -> Starlette:
        r = self._wrap
        routes = [
            Route("/", r(self.root), methods=["GET"]),
            Route("/connectors", r(self.list_connectors), methods=["GET"]),
            Route("/connectors", r(self.create_connector, forward=True), methods=["POST"]),
            Route("/connectors/{c}", r(self.get_connector), methods=["GET"]),
            Route("/connectors/{c}", r(self.delete_connector, forward=True), methods=["DELETE"]),
            Route("/connectors/{c}/config", r(self.get_config), methods=["GET"]),
            Route("/connectors/{c}/config", r(self.put_config, forward=True), methods=["PUT"]),
            Route("/connectors/{c}/config", r(self.patch_config, forward=True), methods=["PATCH"]),
            Route("/connectors/{c}/status", r(self.status), methods=["GET"]),
            Route("/connectors/{c}/restart", r(self.restart, forward=True), methods=["POST"]),
            Route("/connectors/{c}/pause", r(self.pause, forward=True), methods=["PUT"]),
            Route("/connectors/{c}/resume", r(self.resume, forward=True), methods=["PUT"]),
            Route("/connectors/{c}/stop", r(self.stop, forward=True), methods=["PUT"]),
            Route("/connectors/{c}/tasks", r(self.tasks), methods=["GET"]),
            # Kafka's internal endpoint: a connector's owner hands its task configs to the leader
            Route(
                "/connectors/{c}/tasks", r(self.put_task_configs, forward=True), methods=["POST"]
            ),
            Route("/connectors/{c}/tasks/{t:int}/status", r(self.task_status), methods=["GET"]),
            Route("/connectors/{c}/tasks/{t:int}/restart", r(self.task_restart), methods=["POST"]),
            Route("/connectors/{c}/topics", r(self.topics), methods=["GET"]),
            Route(
                "/connectors/{c}/topics/reset", r(self.topics_reset, forward=True), methods=["PUT"]
            ),
            Route("/connectors/{c}/offsets", r(self.get_offsets), methods=["GET"]),
            Route(
                "/connectors/{c}/offsets", r(self.alter_offsets, forward=True), methods=["PATCH"]
            ),
            Route(
                "/connectors/{c}/offsets", r(self.reset_offsets, forward=True), methods=["DELETE"]
            ),
            Route("/connector-plugins", r(self.plugins), methods=["GET"]),
            Route("/connector-plugins/{p}/config", r(self.plugin_config), methods=["GET"]),
            Route("/connector-plugins/{p}/config/validate", r(self.validate), methods=["PUT"]),
            Route("/admin/loggers", r(self.loggers), methods=["GET"]),
            Route("/admin/loggers/{name}", r(self.logger), methods=["GET"]),
            Route("/admin/loggers/{name}", r(self.set_logger), methods=["PUT"]),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            return _error(exc.status_code, f"HTTP {exc.status_code} {exc.detail}")

        app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
        metrics = ServiceMetrics("kafka_connect_rest_request", FunctionCollector(self._metrics))
        return metrics.install(app)

    def _metrics(self) -> Iterator[Metric]:
        """Worker metrics as Connect's JMX names them (connect-worker-metrics, connector status)."""
        prefix = "kafka_connect_connect_worker_metrics_"
        statuses: list[dict[str, Any]] = []
        for name in self.herder.connectors():
            try:
                statuses.append(self.herder.connector_status(name))
            except ConnectRestError:
                continue  # deleted meanwhile
        tasks = [t for s in statuses for t in s["tasks"]]
        yield gauge(prefix + "connector_count", "Connectors on this worker", len(statuses))
        yield gauge(prefix + "task_count", "Tasks on this worker", len(tasks))
        by_state = GaugeMetricFamily(
            prefix + "connector_task_count",
            "Tasks per connector by state (connector-running-task-count and siblings)",
            labels=["connector", "state"],
        )
        status = GaugeMetricFamily(
            "kafka_connect_connector_metrics_status",
            "1 for the connector's current status (connector-metrics status)",
            labels=["connector", "status"],
        )
        for s in statuses:
            status.add_metric([s["name"], str(s["connector"]["state"]).lower()], 1)
            counts: dict[str, int] = {}
            for t in s["tasks"]:
                counts[str(t["state"]).lower()] = counts.get(str(t["state"]).lower(), 0) + 1
            for state, n in sorted(counts.items()):
                by_state.add_metric([s["name"], state], n)
        yield by_state
        yield status
        yield from self._task_metrics()

    def _task_metrics(self) -> Iterator[Metric]:
        """Per-task record counters of the tasks running on this worker, as Kafka Connect's
        source-task-metrics / sink-task-metrics (e.g. source-record-poll-total{connector,task})."""
        worker = getattr(self.herder, "worker", None)
        tasks = list(getattr(worker, "tasks", {}).items())
        families: dict[str, CounterMetricFamily] = {}
        for task_id, task in sorted(tasks, key=lambda item: str(item[0])):
            for name, value in task.counters().items():
                group = "source_task_metrics" if name.startswith("source") else "sink_task_metrics"
                metric = f"kafka_connect_{group}_{name.replace('-', '_').removesuffix('_total')}"
                family = families.get(metric)
                if family is None:
                    family = families[metric] = CounterMetricFamily(
                        metric, f"Connect's {name} per task", labels=["connector", "task"]
                    )
                family.add_metric([task_id.connector, str(task_id.task)], value)
        yield from families.values()

    def _wrap(self, handler: Handler, forward: bool = False) -> Handler:
        def endpoint(request: Request) -> Response:
            try:
                if forward and getattr(self.herder, "is_leader", True) is False:
                    return self._forward(request)
                return handler(request)
            except ConnectRestError as exc:
                return _error(exc.status, exc.message)
            except Exception as exc:
                logging.getLogger(__name__).exception(
                    "REST request %s %s failed", request.method, request.url.path
                )
                return _error(500, str(exc) or type(exc).__name__)

        return endpoint

    def _forward(self, request: Request) -> Response:
        """A write reaching a follower goes to the leader (Kafka Connect forwards the same way)."""
        import anyio.from_thread
        import httpx

        leader = getattr(self.herder, "leader_url", None)
        if leader is None or request.headers.get("x-riverlog-forwarded"):
            raise ConnectRestError(
                409,
                "Cannot complete request because of a conflicting operation (e.g. worker rebalance)",
            )
        body = anyio.from_thread.run(request.body)
        url = (
            leader.rstrip("/")
            + request.url.path
            + (f"?{request.url.query}" if request.url.query else "")
        )
        headers = {
            "content-type": request.headers.get("content-type", "application/json"),
            "x-riverlog-forwarded": "1",
        }
        try:
            answer = httpx.request(request.method, url, content=body, headers=headers, timeout=60)
        except httpx.HTTPError as exc:
            raise ConnectRestError(
                409, f"Cannot forward the request to the leader at {leader}: {exc}"
            ) from None
        return Response(
            answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type"),
        )

    # ------------------------------------------------------------ routes

    def root(self, request: Request) -> Response:
        return JSONResponse(self.herder.server_info())

    def list_connectors(self, request: Request) -> Response:
        names = self.herder.connectors()
        expand = request.query_params.getlist("expand")
        if not expand:
            return JSONResponse(names)
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            entry: dict[str, Any] = {}
            try:
                if "status" in expand:
                    entry["status"] = self.herder.connector_status(name)
                if "info" in expand:
                    entry["info"] = self.herder.connector_info(name)
            except ConnectRestError:
                continue  # deleted meanwhile
            out[name] = entry
        return JSONResponse(out)

    def create_connector(self, request: Request) -> Response:
        body = _body(request)
        if not isinstance(body, dict):
            raise ConnectRestError(
                400, "Request body must be a JSON object with 'name' and 'config'"
            )
        config = body.get("config")
        name = body.get("name") or (config or {}).get("name")
        if not isinstance(name, str):
            raise ConnectRestError(400, "Connector name is required")
        if not isinstance(config, dict):
            raise ConnectRestError(400, "Connector config is required")
        _, info = self.herder.put_connector_config(
            name.strip(), config, allow_replace=False, initial_state=body.get("initial_state")
        )
        return JSONResponse(
            info, status_code=201, headers={"Location": f"/connectors/{name.strip()}"}
        )

    def get_connector(self, request: Request) -> Response:
        return JSONResponse(self.herder.connector_info(request.path_params["c"]))

    def delete_connector(self, request: Request) -> Response:
        self.herder.delete_connector(request.path_params["c"])
        return Response(status_code=204)

    def get_config(self, request: Request) -> Response:
        return JSONResponse(self.herder.connector_config(request.path_params["c"]))

    def put_config(self, request: Request) -> Response:
        body = _body(request)
        if not isinstance(body, dict):
            raise ConnectRestError(400, "Request body must be a JSON object of connector configs")
        created, info = self.herder.put_connector_config(
            request.path_params["c"], body, allow_replace=True
        )
        if created:
            return JSONResponse(
                info,
                status_code=201,
                headers={"Location": f"/connectors/{request.path_params['c']}"},
            )
        return JSONResponse(info, status_code=200)

    def patch_config(self, request: Request) -> Response:
        body = _body(request)
        if not isinstance(body, dict):
            raise ConnectRestError(400, "Request body must be a JSON object of connector configs")
        return JSONResponse(self.herder.patch_connector_config(request.path_params["c"], body))

    def status(self, request: Request) -> Response:
        return JSONResponse(self.herder.connector_status(request.path_params["c"]))

    def restart(self, request: Request) -> Response:
        include = _bool_param(request, "includeTasks", False)
        only_failed = _bool_param(request, "onlyFailed", False)
        answer = self.herder.restart_connector(
            request.path_params["c"], include_tasks=include, only_failed=only_failed
        )
        if answer is None:
            return Response(status_code=204)
        return JSONResponse(answer, status_code=202)

    def pause(self, request: Request) -> Response:
        self.herder.pause(request.path_params["c"])
        return Response(status_code=202)

    def resume(self, request: Request) -> Response:
        self.herder.resume(request.path_params["c"])
        return Response(status_code=202)

    def stop(self, request: Request) -> Response:
        self.herder.stop_connector(request.path_params["c"])
        return Response(status_code=202)

    def tasks(self, request: Request) -> Response:
        return JSONResponse(self.herder.tasks_info(request.path_params["c"]))

    def put_task_configs(self, request: Request) -> Response:
        put = getattr(self.herder, "put_task_configs", None)
        if put is None:
            raise ConnectRestError(404, "Task configs are written by the connector's worker here")
        body = _body(request)
        if not isinstance(body, list) or not all(isinstance(c, dict) for c in body):
            raise ConnectRestError(400, "Request body must be a JSON array of task config objects")
        put(
            request.path_params["c"],
            [{str(k): str(v) for k, v in c.items()} for c in body],
        )
        return Response(status_code=204)

    def task_status(self, request: Request) -> Response:
        return JSONResponse(
            self.herder.task_status(request.path_params["c"], request.path_params["t"])
        )

    def task_restart(self, request: Request) -> Response:
        self.herder.restart_task(request.path_params["c"], request.path_params["t"])
        return Response(status_code=204)

    def topics(self, request: Request) -> Response:
        if not self.herder.config.get("topic.tracking.enable"):
            raise ConnectRestError(403, "Topic tracking is disabled.")
        return JSONResponse(self.herder.connector_topics(request.path_params["c"]))

    def topics_reset(self, request: Request) -> Response:
        if not self.herder.config.get("topic.tracking.enable"):
            raise ConnectRestError(403, "Topic tracking is disabled.")
        self.herder.reset_topics(request.path_params["c"])
        return Response(status_code=202)

    def get_offsets(self, request: Request) -> Response:
        return JSONResponse(self.herder.get_offsets(request.path_params["c"]))

    def alter_offsets(self, request: Request) -> Response:
        body = _body(request)
        if not isinstance(body, dict) or not isinstance(body.get("offsets"), list):
            raise ConnectRestError(
                400, "Partitions / offsets need to be provided for an alter offsets request"
            )
        return JSONResponse(self.herder.alter_offsets(request.path_params["c"], body["offsets"]))

    def reset_offsets(self, request: Request) -> Response:
        return JSONResponse(self.herder.reset_offsets(request.path_params["c"]))

    def plugins(self, request: Request) -> Response:
        return JSONResponse(self.herder.plugins_list(_bool_param(request, "connectorsOnly", True)))

    def plugin_config(self, request: Request) -> Response:
        return JSONResponse(self.herder.plugin_config(request.path_params["p"]))

    def validate(self, request: Request) -> Response:
        body = _body(request)
        if not isinstance(body, dict):
            raise ConnectRestError(400, "Request body must be a JSON object of connector configs")
        return JSONResponse(self.herder.validate_plugin(request.path_params["p"], body))

    # ------------------------------------------------------------ loggers (Python's logging tree)

    def _level_of(self, logger: logging.Logger) -> str:
        level = logging.getLevelName(logger.getEffectiveLevel())
        return {"WARNING": "WARN", "CRITICAL": "FATAL"}.get(level, level)

    def loggers(self, request: Request) -> Response:
        out: dict[str, dict[str, Any]] = {}
        root = logging.getLogger()
        out["root"] = {
            "level": self._level_of(root),
            "last_modified": self._logger_times.get("root"),
        }
        for name in sorted(logging.root.manager.loggerDict):
            logger = logging.getLogger(name)
            if logger.level != logging.NOTSET:
                out[name] = {
                    "level": self._level_of(logger),
                    "last_modified": self._logger_times.get(name),
                }
        return JSONResponse(out)

    def logger(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name != "root" and name not in logging.root.manager.loggerDict:
            raise ConnectRestError(404, f"Logger {name} not found.")
        logger = logging.getLogger() if name == "root" else logging.getLogger(name)
        return JSONResponse(
            {"level": self._level_of(logger), "last_modified": self._logger_times.get(name)}
        )

    def set_logger(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = _body(request)
        level = (body or {}).get("level") if isinstance(body, dict) else None
        if not isinstance(level, str):
            raise ConnectRestError(400, "Desired 'level' parameter was not specified in request.")
        py_level = {
            "WARN": "WARNING",
            "FATAL": "CRITICAL",
            "TRACE": "DEBUG",
            "ALL": "DEBUG",
            "OFF": "CRITICAL",
        }.get(level.upper(), level.upper())
        if not isinstance(logging.getLevelName(py_level), int):
            raise ConnectRestError(404, f"invalid log level '{level}'.")
        scope = request.query_params.get("scope", "worker").lower()
        affected = (
            [n for n in logging.root.manager.loggerDict if n == name or n.startswith(name + ".")]
            if name != "root"
            else ["root"]
        )
        if name not in affected:
            affected.append(name)
        now = int(time.time() * 1000)
        for n in affected:
            (logging.getLogger() if n == "root" else logging.getLogger(n)).setLevel(py_level)
            self._logger_times[n] = now
        if scope == "cluster":
            return Response(status_code=204)
        return JSONResponse(sorted(affected))
