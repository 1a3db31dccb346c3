"""HTTP sink (Confluent's `io.confluent.connect.http.HttpSinkConnector` keys): records to an HTTP API.

Records are sent in batches of up to `batch.max.size`: the body is `batch.prefix` + the records joined
by `batch.separator` + `batch.suffix` (with `batch.max.size=1`, just the record). Each record is its
value as text (`request.body.format=string`) or as JSON (`json`: Structs as objects). `headers` are
`Name:value` pairs split by `header.separator`. Connection errors and 5xx answers are retried
`max.retries` times with exponential back-off from `retry.backoff.ms`; a 4xx answer is not retried: each
record of the batch goes to the errant record reporter (the DLQ, when `errors.tolerance=all` and
`errors.deadletterqueue.topic.name` are set), or with `behavior.on.error=fail` the task fails.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import httpx

from riverlog.common.configdef import NO_DEFAULT, ConfigDef, Importance, Type, in_range, one_of
from riverlog.connect.api import SinkConnector, SinkRecord, SinkTask, Task
from riverlog.connect.data import Struct
from riverlog.connect.errors import ConnectException, RetriableException

log = logging.getLogger(__name__)
H, M, L = Importance.HIGH, Importance.MEDIUM, Importance.LOW

CONFIG_DEF = (
    ConfigDef()
    .define("http.api.url", Type.STRING, NO_DEFAULT, None, H, "HTTP API URL.")
    .define(
        "request.method",
        Type.STRING,
        "POST",
        one_of("POST", "PUT", "PATCH", "DELETE", "GET", case_sensitive=False),
        H,
        "HTTP Request Method.",
    )
    .define(
        "headers",
        Type.STRING,
        "",
        None,
        H,
        "HTTP headers to be included in all requests, separated by header.separator (Name:value).",
    )
    .define(
        "header.separator",
        Type.STRING,
        "|",
        None,
        M,
        "Separator character used in headers property.",
    )
    .define(
        "request.body.format",
        Type.STRING,
        "string",
        one_of("string", "json", case_sensitive=False),
        M,
        "Used to produce request body in either JSON or String format.",
    )
    .define(
        "batch.max.size",
        Type.INT,
        1,
        in_range(1),
        M,
        "The number of records accumulated in a batch before the HTTP API will be invoked.",
    )
    .define("batch.prefix", Type.STRING, "", None, M, "Prefix added to record batches.")
    .define("batch.suffix", Type.STRING, "", None, M, "Suffix added to record batches.")
    .define("batch.separator", Type.STRING, ",", None, M, "Separator for records in a batch.")
    .define(
        "max.retries",
        Type.INT,
        10,
        in_range(0),
        M,
        "The maximum number of times to retry on errors before failing the task.",
    )
    .define(
        "retry.backoff.ms",
        Type.INT,
        3000,
        in_range(0),
        M,
        "The initial duration in milliseconds to wait following an error before a retry attempt is made.",
    )
    .define(
        "behavior.on.error",
        Type.STRING,
        "fail",
        one_of("fail", "log", "ignore", case_sensitive=False),
        M,
        "Error handling behavior when a request is refused (4xx) and no DLQ takes the records.",
    )
    .define("http.connect.timeout.ms", Type.INT, 30000, in_range(1), L, "Connect timeout.")
    .define("http.request.timeout.ms", Type.INT, 30000, in_range(1), L, "Request timeout.")
)


class HttpSinkConnector(SinkConnector):
    config_def = CONFIG_DEF

    def start(self, props: dict[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return HttpSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max_tasks)]


def _as_json(value: Any) -> Any:
    if isinstance(value, Struct):
        return {f.name: _as_json(value.get_without_default(f.name)) for f in value.schema.fields}
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value.__class__.__name__ == "Decimal":
        return str(value)
    return value


class HttpSinkTask(SinkTask):
    def start(self, props: dict[str, str]) -> None:
        self.cfg = CONFIG_DEF.parse(
            {k: v for k, v in props.items() if k in CONFIG_DEF}, allow_unknown=True
        )
        headers: dict[str, str] = {}
        for part in (
            self.cfg["headers"].split(self.cfg["header.separator"]) if self.cfg["headers"] else []
        ):
            name, _, value = part.partition(":")
            headers[name.strip()] = value.strip()
        timeout = httpx.Timeout(
            self.cfg["http.request.timeout.ms"] / 1000,
            connect=self.cfg["http.connect.timeout.ms"] / 1000,
        )
        self.client = httpx.Client(headers=headers, timeout=timeout)
        self._stop = threading.Event()

    def _text(self, record: SinkRecord) -> str:
        if self.cfg["request.body.format"].lower() == "json":
            return json.dumps(_as_json(record.value), separators=(",", ":"))
        value = record.value
        return (
            value.decode() if isinstance(value, bytes) else "null" if value is None else str(value)
        )

    def put(self, records: list[SinkRecord]) -> None:
        size = int(self.cfg["batch.max.size"])
        for i in range(0, len(records), size):
            self._send(records[i : i + size])

    def _send(self, batch: list[SinkRecord]) -> None:
        body = (
            self.cfg["batch.prefix"]
            + self.cfg["batch.separator"].join(self._text(r) for r in batch)
            + self.cfg["batch.suffix"]
        )
        delay = self.cfg["retry.backoff.ms"] / 1000
        for attempt in range(int(self.cfg["max.retries"]) + 1):
            try:
                answer = self.client.request(
                    self.cfg["request.method"].upper(),
                    self.cfg["http.api.url"],
                    content=body.encode(),
                )
            except httpx.HTTPError as exc:
                error: Exception = exc
            else:
                if answer.status_code < 400:
                    return
                if answer.status_code < 500:
                    self._refused(
                        batch,
                        ConnectException(
                            f"HTTP {answer.status_code} from {self.cfg['http.api.url']}: {answer.text[:500]}"
                        ),
                    )
                    return
                error = ConnectException(f"HTTP {answer.status_code}: {answer.text[:500]}")
            if attempt == int(self.cfg["max.retries"]) or self._stop.is_set():
                raise ConnectException(
                    f"Exhausted {self.cfg['max.retries']} retries sending to {self.cfg['http.api.url']}: {error}"
                )
            log.warning("HTTP sink: %s; retrying in %.1f s", error, delay)
            self._stop.wait(delay)
            delay *= 2

    def _refused(self, batch: list[SinkRecord], error: Exception) -> None:
        reporter = self.context.errant_record_reporter
        behavior = self.cfg["behavior.on.error"].lower()
        if reporter is not None and behavior != "ignore":
            try:
                for record in batch:
                    reporter(record, error)
                return
            except ConnectException:
                if behavior == "fail":
                    raise
        if behavior == "fail":
            raise error
        if behavior == "log":
            log.error("HTTP sink: records refused: %s", error)

    def stop(self) -> None:
        self._stop.set()
        self.client.close()


__all__ = ["HttpSinkConnector", "HttpSinkTask", "RetriableException"]
