"""CREATE / DROP / DESCRIBE SOURCE|SINK CONNECTOR and SHOW CONNECTORS against a Kafka Connect
REST API (`ksql.connect.url`), answered with ksqlDB's entities (connector_info, drop_connector,
connector_description, connector_list). Connector statements go straight to Connect (ksqlDB does
not put them in the command topic)."""

from __future__ import annotations

from typing import Any

import httpx

from riverlog.sql import ast
from riverlog.sql.errors import SqlNotFoundError, SqlStatementError


class ConnectClient:
    def __init__(self, url: str | None) -> None:
        self.url = (url or "").rstrip("/")

    def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        if not self.url:
            raise SqlStatementError(
                "Connector statements need 'ksql.connect.url' (the Kafka Connect REST API)."
            )
        try:
            return httpx.request(method, self.url + path, json=body, timeout=30)
        except httpx.HTTPError as e:
            raise SqlStatementError(f"Could not reach Kafka Connect at {self.url}: {e}") from None

    def create(self, stmt: ast.CreateConnector) -> dict[str, Any]:
        config = {str(k): _text(v) for k, v in stmt.properties.items()}
        r = self._call("POST", "/connectors", {"name": stmt.name, "config": config})
        base = {"statementText": stmt.text, "warnings": []}
        if r.status_code == 409 and stmt.if_not_exists:
            return {
                **base,
                "@type": "warning_entity",
                "message": f"Connector {stmt.name} already exists",
            }
        if r.status_code >= 400:
            raise SqlStatementError(f"Failed to create connector: {_message(r)}")
        info = r.json()
        return {
            **base,
            "@type": "connector_info",
            "info": {
                "name": info.get("name", stmt.name),
                "config": info.get("config", config),
                "tasks": info.get("tasks", []),
                "type": info.get("type", stmt.kind.lower()),
            },
        }

    def drop(self, stmt: ast.DropConnector) -> dict[str, Any]:
        r = self._call("DELETE", f"/connectors/{stmt.name}")
        base = {"statementText": stmt.text, "warnings": []}
        if r.status_code == 404:
            if stmt.if_exists:
                return {
                    **base,
                    "@type": "warning_entity",
                    "message": f"Connector {stmt.name} does not exist.",
                }
            raise SqlNotFoundError(f"Connector {stmt.name} does not exist.")
        if r.status_code >= 400:
            raise SqlStatementError(f"Failed to drop connector: {_message(r)}")
        return {**base, "@type": "drop_connector", "connectorName": stmt.name}

    def describe(self, name: str, text: str) -> dict[str, Any]:
        info = self._call("GET", f"/connectors/{name}")
        if info.status_code == 404:
            raise SqlNotFoundError(f"Connector {name} does not exist.")
        status = self._call("GET", f"/connectors/{name}/status")
        config = info.json().get("config", {})
        return {
            "statementText": text,
            "warnings": [],
            "@type": "connector_description",
            "connectorClass": config.get("connector.class", ""),
            "status": status.json() if status.status_code < 400 else {},
            "sources": [],
            "topics": [
                t for t in str(config.get("topics", config.get("kafka.topic", ""))).split(",") if t
            ],
            "errors": [],
        }

    def list(self, stmt: ast.ListStatement) -> dict[str, Any]:
        r = self._call("GET", "/connectors?expand=status&expand=info")
        if r.status_code >= 400:
            raise SqlStatementError(f"Failed to list connectors: {_message(r)}")
        body = r.json()
        connectors = []
        items = body.items() if isinstance(body, dict) else ((n, {}) for n in body)
        for name, detail in items:
            info = detail.get("info", {}) if isinstance(detail, dict) else {}
            status = detail.get("status", {}) if isinstance(detail, dict) else {}
            kind = str(info.get("type", status.get("type", "unknown")))
            if stmt.qualifier and kind.upper() != stmt.qualifier:
                continue
            connectors.append(
                {
                    "name": name,
                    "type": kind,
                    "className": info.get("config", {}).get("connector.class", ""),
                    "state": status.get("connector", {}).get("state", "UNKNOWN"),
                }
            )
        return {
            "statementText": stmt.text,
            "warnings": [],
            "@type": "connector_list",
            "connectors": connectors,
        }


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _message(r: httpx.Response) -> str:
    try:
        return str(r.json().get("message", r.text))
    except ValueError:
        return r.text
