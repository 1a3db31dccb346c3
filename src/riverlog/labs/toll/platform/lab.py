"""`labs toll up` / `down`: put the whole toll use case onto a running platform, and take it off again.

`up`, in order (each step idempotent, so `up` can be re-run):
  1. the topics (missing ones created; reference topics and balances compacted);
  2. the PostgreSQL tables, seeded with the seed's accounts, vehicles and tags, and the gantries and
     tariffs files written under the data directory;
  3. the SQL monitoring sources and queries (before any connector writes, since persistent queries of
     a server left at `auto.offset.reset=latest` only see what arrives after they start);
  4. the connectors (`PUT /connectors/{name}/config`), waited for until RUNNING;
  5. the streams apps (`riverlog.labs.toll.apps.TollApps`), when that package is in this riverlog.
`down` removes the connectors and the SQL sources/queries (the apps stop with the `up` process);
with `drop_data` it also deletes the lab's topics, drops the tables and removes the files.
"""

from __future__ import annotations

import importlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from riverlog.labs.toll.generator import generate
from riverlog.labs.toll.platform import database, monitoring, topics
from riverlog.labs.toll.platform.connectors import all_connectors
from riverlog.labs.toll.platform.feed import write_reference_files

APPS_MODULE = "riverlog.labs.toll.apps"
CONNECTOR_PREFIX = "toll-"


class LabError(RuntimeError):
    """A step of up/down failed; the message names the step and what to do."""


@dataclass
class LabSettings:
    bootstrap: str
    connect_url: str
    postgres_dsn: str
    data_dir: Path
    sql_url: str | None = None
    alerts_url: str | None = None  # where the HTTP sink posts alerts (None: no HTTP sink)
    seed: int = 1
    partitions: int = 1
    start_timeout_s: float = 60.0

    @property
    def reference_dir(self) -> Path:
        return self.data_dir / "reference"


class Apps(Protocol):
    def start(self) -> None: ...
    def close(self) -> None: ...


@dataclass
class ConnectClient:
    """Kafka Connect's REST API, the calls the lab needs."""

    url: str
    timeout_s: float = 30.0

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a 409 (a distributed worker's rebalance in progress, as Kafka answers) is
        retried for up to `timeout_s`."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                answer = httpx.request(
                    method, f"{self.url}{path}", timeout=self.timeout_s, **kwargs
                )
            except httpx.HTTPError as exc:
                raise LabError(f"Connect at {self.url} unreachable: {exc}") from exc
            if answer.status_code != 409 or time.monotonic() > deadline:
                return answer
            time.sleep(0.5)

    def put(self, name: str, config: dict[str, str]) -> None:
        answer = self._call("PUT", f"/connectors/{name}/config", json=config)
        if answer.status_code not in (200, 201):
            raise LabError(f"Connect refused connector {name}: {answer.text[:500]}")

    def names(self) -> list[str]:
        answer = self._call("GET", "/connectors")
        names: list[str] = answer.json() if answer.status_code == 200 else []
        return names

    def status(self, name: str) -> dict[str, Any] | None:
        answer = self._call("GET", f"/connectors/{name}/status")
        if answer.status_code != 200:
            return None
        status: dict[str, Any] = answer.json()
        return status

    def delete(self, name: str) -> bool:
        return self._call("DELETE", f"/connectors/{name}").status_code == 204

    def wait_running(self, name: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status(name) or {}
            states = [status.get("connector", {}).get("state")] + [
                t.get("state") for t in status.get("tasks", [])
            ]
            if "FAILED" in states:
                traces = [t.get("trace", "") for t in status.get("tasks", []) if t.get("trace")]
                trace = (traces or [status.get("connector", {}).get("trace", "")])[0] or ""
                raise LabError(f"connector {name} FAILED: {trace.strip().splitlines()[-1:]}")
            if len(states) > 1 and all(s == "RUNNING" for s in states):
                return
            if time.monotonic() > deadline:
                raise LabError(f"connector {name} not RUNNING after {timeout_s:.0f} s: {states}")
            time.sleep(0.2)


def load_apps_class() -> Callable[..., Apps]:
    """`TollApps` from the toll-app package; LabError saying so when this riverlog lacks it."""
    try:
        module = importlib.import_module(APPS_MODULE)
    except ImportError as exc:
        raise LabError(
            f"the toll streams apps ({APPS_MODULE}) are not in this riverlog: {exc}"
        ) from exc
    apps_class: Callable[..., Apps] = module.TollApps
    return apps_class


def prepare_data(settings: LabSettings) -> int:
    """PG tables seeded from the seed's world, and the gantries/tariffs files; returns rows written."""
    world = generate(settings.seed, 0)
    database.create_schema(settings.postgres_dsn)
    rows = database.seed(settings.postgres_dsn, world.accounts, world.vehicles, world.tags)
    write_reference_files(world, settings.reference_dir)
    return rows


def up(
    settings: LabSettings, *, start_apps: bool = True, echo: Callable[[str], None] = print
) -> Apps | None:
    """Steps 1-5 above; returns the started apps (the caller closes them), or None."""
    created = topics.ensure_topics(settings.bootstrap, settings.partitions)
    echo(f"topics    {len(created)} created, {len(topics.lab_topics()) - len(created)} existed")
    rows = prepare_data(settings)
    echo(
        f"postgres  tables ready, {rows} reference rows upserted; files in {settings.reference_dir}"
    )
    if settings.sql_url:
        client = monitoring.SqlClient(settings.sql_url)
        monitoring.create_all(client)
        monitoring.wait_queries_consuming(client, settings.bootstrap, settings.start_timeout_s)
        echo(f"sql       monitoring sources and queries at {settings.sql_url}")
    else:
        echo("sql       skipped (no SQL server URL)")
    connect = ConnectClient(settings.connect_url)
    connectors = all_connectors(settings.postgres_dsn, settings.reference_dir, settings.alerts_url)
    for name, config in connectors.items():
        connect.put(name, config)
    for name in connectors:
        connect.wait_running(name, settings.start_timeout_s)
    echo(f"connect   {len(connectors)} connectors RUNNING: {', '.join(connectors)}")
    if not start_apps:
        return None
    apps = load_apps_class()(
        settings.bootstrap, state_dir=str(settings.data_dir / "apps"), application_prefix="toll"
    )
    apps.start()
    echo("apps      toll streams apps started")
    return apps


def down(
    settings: LabSettings, *, drop_data: bool = False, echo: Callable[[str], None] = print
) -> None:
    """Remove the connectors and SQL sources/queries; with `drop_data`, topics, tables and files too."""
    remove(settings, echo=echo)
    if drop_data:
        remove_data(settings, echo=echo)
    else:
        echo("data      kept (topics, tables, files); --drop-data removes them")


def remove(settings: LabSettings, *, echo: Callable[[str], None] = print) -> None:
    """Remove the lab's connectors and its SQL sources and queries (their topics stay)."""
    connect = ConnectClient(settings.connect_url)
    removed = [n for n in connect.names() if n.startswith(CONNECTOR_PREFIX) and connect.delete(n)]
    echo(f"connect   {len(removed)} connectors removed")
    if settings.sql_url:
        monitoring.drop_all(monitoring.SqlClient(settings.sql_url))
        echo("sql       monitoring sources and queries dropped")


def remove_data(settings: LabSettings, *, echo: Callable[[str], None] = print) -> None:
    """Delete the lab's topics, drop its tables, remove its files."""
    deleted = topics.delete_topics(settings.bootstrap)
    database.drop_schema(settings.postgres_dsn)
    shutil.rmtree(settings.reference_dir, ignore_errors=True)
    shutil.rmtree(settings.data_dir / "apps", ignore_errors=True)
    echo(f"data      {len(deleted)} topics deleted, tables dropped, files removed")
