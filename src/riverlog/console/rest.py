"""HTTP calls to the other services' REST APIs, as Kafka Connect, ksqlDB and Confluent Schema Registry
define them (so the console works against those too). A service without a URL is "not configured".
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

TIMEOUT_S = 10.0
PUSH_WAIT_S = 3.0


class RestError(Exception):
    """The service answered with an error, or could not be reached; the message is shown inline."""


class RestService:
    def __init__(self, name: str, url: str | None) -> None:
        self.name = name
        self.url = url.rstrip("/") if url else None
        self._client = httpx.Client(timeout=TIMEOUT_S) if url else None

    @property
    def configured(self) -> bool:
        return self.url is not None

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        if self._client is None or self.url is None:
            raise RestError(f"{self.name} is not configured")
        try:
            response = self._client.request(
                method,
                self.url + path,
                json=body,
                headers={"Accept": "application/json", **headers},
            )
        except httpx.HTTPError as exc:
            raise RestError(f"{self.name} at {self.url} did not answer: {exc}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("message") or response.text
            except (ValueError, AttributeError):
                detail = response.text
            raise RestError(f"{self.name}: HTTP {response.status_code}: {detail}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def q(name: str) -> str:
    return quote(name, safe="")


TASK_COUNTERS = {
    "kafka_connect_source_task_metrics_source_record_poll_total": "polled",
    "kafka_connect_source_task_metrics_source_record_write_total": "written",
    "kafka_connect_sink_task_metrics_sink_record_read_total": "read",
    "kafka_connect_sink_task_metrics_sink_record_send_total": "put",
}


def task_counters(text: str) -> dict[tuple[str, int], dict[str, int]]:
    """Per-task record counters from a Connect worker's Prometheus text (Kafka Connect's
    source-/sink-task-metrics), by (connector, task id)."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[tuple[str, int], dict[str, int]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            label = TASK_COUNTERS.get(sample.name)
            if label is None or "connector" not in sample.labels or "task" not in sample.labels:
                continue
            key = (sample.labels["connector"], int(sample.labels["task"]))
            found.setdefault(key, {})[label] = int(sample.value)
    return found


class ConnectApi(RestService):
    """Kafka Connect's REST API."""

    def connectors(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/connectors?expand=status&expand=info")
        return result

    def task_counters(self) -> dict[tuple[str, int], dict[str, int]]:
        """Each task's record counters from the worker's /metrics (empty when it has none: a
        Connect without riverlog's metrics, or an unreachable /metrics)."""
        if self._client is None or self.url is None:
            return {}
        try:
            response = self._client.get(self.url + "/metrics")
        except httpx.HTTPError:
            return {}
        if response.status_code != 200:
            return {}
        try:
            return task_counters(response.text)
        except ValueError:
            return {}

    def plugins(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/connector-plugins")
        return result

    def validate(self, plugin: str, config: dict[str, str]) -> dict[str, Any]:
        simple = plugin.rsplit(".", 1)[-1]
        result: dict[str, Any] = self.call(
            "PUT", f"/connector-plugins/{q(simple)}/config/validate", config
        )
        return result

    def create(self, name: str, config: dict[str, str]) -> None:
        self.call("POST", "/connectors", {"name": name, "config": config})

    def action(self, name: str, action: str) -> None:
        if action == "pause":
            self.call("PUT", f"/connectors/{q(name)}/pause")
        elif action == "resume":
            self.call("PUT", f"/connectors/{q(name)}/resume")
        elif action == "restart":
            self.call("POST", f"/connectors/{q(name)}/restart?includeTasks=true")
        elif action == "delete":
            self.call("DELETE", f"/connectors/{q(name)}")
        else:
            raise RestError(f"unknown connector action {action!r}")


class SqlApi(RestService):
    """ksqlDB's REST API: /ksql for statements, /query for pull and push queries (bounded here)."""

    def statement(self, ksql: str) -> list[Any]:
        result = self.call("POST", "/ksql", {"ksql": ksql, "streamsProperties": {}})
        return result if isinstance(result, list) else [result]

    def query(self, ksql: str, limit: int = 100) -> tuple[list[str], list[list[Any]]]:
        """Run a query; a push query is cut after `limit` rows (the page streams by re-running)."""
        if self._client is None or self.url is None:
            raise RestError(f"{self.name} is not configured")
        columns: list[str] = []
        rows: list[list[Any]] = []
        body = {"sql": ksql, "properties": {"auto.offset.reset": "earliest"}}
        try:
            with self._client.stream(
                "POST",
                self.url + "/query-stream",
                json=body,
                headers={"Accept": "application/vnd.ksqlapi.delimited.v1"},
                # a push query keeps the response open: stop when no row came for PUSH_WAIT_S
                timeout=httpx.Timeout(TIMEOUT_S, read=PUSH_WAIT_S),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise RestError(f"{self.name}: HTTP {response.status_code}: {response.text}")
                for line in response.iter_lines():
                    item = _json_line(line)
                    if isinstance(item, dict) and "columnNames" in item:
                        columns = list(item["columnNames"])
                    elif isinstance(item, list):
                        rows.append(item)
                        if len(rows) >= limit:
                            break
        except httpx.ReadTimeout:
            pass  # a push query with no more rows for now
        except httpx.HTTPError as exc:
            raise RestError(f"{self.name} at {self.url} did not answer: {exc}") from None
        return columns, rows


def _json_line(line: str) -> Any:
    """One line of ksqlDB's delimited format: the header object, then one JSON array per row."""
    text = line.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class RegistryApi(RestService):
    """Confluent Schema Registry's REST API."""

    def subjects(self) -> list[str]:
        result: list[str] = self.call("GET", "/subjects")
        return sorted(result)

    def versions(self, subject: str) -> list[int]:
        result: list[int] = self.call("GET", f"/subjects/{q(subject)}/versions")
        return result

    def version(self, subject: str, version: int | str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/subjects/{q(subject)}/versions/{version}")
        return result

    def compatibility(self, subject: str | None = None) -> str:
        path = f"/config/{q(subject)}?defaultToGlobal=true" if subject else "/config"
        try:
            result = self.call("GET", path)
        except RestError:
            result = self.call("GET", "/config")
        level = result.get("compatibilityLevel") or result.get("compatibility") or ""
        return str(level)

    def set_compatibility(self, subject: str | None, level: str) -> None:
        path = f"/config/{q(subject)}" if subject else "/config"
        self.call("PUT", path, {"compatibility": level})
