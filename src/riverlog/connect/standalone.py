"""`connect standalone`: one worker, connectors from files and REST, offsets in a local file.

`ConnectStandalone` assembles the parts — worker config, file offset store, herder, REST service — and
runs until stopped; tests run it in-process, the CLI in the foreground.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from riverlog.common.configdef import ConfigError, load_properties
from riverlog.common.service import HttpService
from riverlog.connect.errors import ConnectRestError
from riverlog.connect.herder import StandaloneHerder
from riverlog.connect.offsets import FileOffsetStore
from riverlog.connect.rest import ConnectRest
from riverlog.connect.worker_config import WorkerConfig

log = logging.getLogger(__name__)


def read_connector_file(path: Path) -> tuple[str, dict[str, Any]]:
    """(name, config) from a `.properties` file or a `.json` file (Kafka's POST body or a flat map)."""
    text = path.read_text()
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ConfigError(str(path), f"not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise ConfigError(str(path), "must hold a JSON object")
        config = doc["config"] if isinstance(doc.get("config"), dict) else doc
        name = doc.get("name") or config.get("name")
    else:
        config = dict(load_properties(text))
        name = config.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("name", f"{path}: a connector needs a 'name'")
    return name, config


def worker_id_for(config: WorkerConfig, port: int) -> str:
    host = config.get("rest.advertised.host.name") or config.listener()[0]
    if host in ("0.0.0.0", "", "::"):
        host = socket.gethostname()
    return f"{host}:{config.get('rest.advertised.port') or port}"


class ClusterIdProbe:
    """Looks the Kafka cluster id up in the background until it answers (a worker whose Kafka is away
    reports `kafka_cluster_id: null` on `GET /` and logs it, and recovers when Kafka returns)."""

    def __init__(self, client_config: Mapping[str, str]) -> None:
        self.client_config: dict[str, Any] = dict(client_config)
        self.cluster_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cluster-id-probe", daemon=True)

    def start(self) -> ClusterIdProbe:
        self._thread.start()
        return self

    def _run(self) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(self.client_config)
        warned = False
        while not self._stop.is_set():
            try:
                self.cluster_id = (
                    admin.describe_cluster(request_timeout=5).result(timeout=6).cluster_id
                )
                if warned:
                    log.info("Kafka cluster %s reachable again", self.cluster_id)
                return
            except Exception as exc:
                if not warned:
                    log.warning(
                        "Kafka at %s is not reachable: %s",
                        self.client_config.get("bootstrap.servers"),
                        exc,
                    )
                    warned = True
            self._stop.wait(2.0)

    def stop(self) -> None:
        self._stop.set()


class ConnectStandalone:
    def __init__(
        self,
        worker_props: Mapping[str, str],
        connector_files: list[Path] | None = None,
        *,
        port: int | None = None,
    ) -> None:
        self.config = WorkerConfig.parse(worker_props, distributed=False)
        self.connector_files = list(connector_files or [])
        self.connectors = [read_connector_file(p) for p in self.connector_files]
        host, listen_port = self.config.listener()
        self.service_host = host
        self.service_port = listen_port if port is None else port
        self.service: HttpService | None = None
        self.herder: StandaloneHerder | None = None
        self.probe = ClusterIdProbe(self.config.client_config())

    @property
    def url(self) -> str:
        assert self.service is not None
        return self.service.url

    def start(self) -> ConnectStandalone:
        store = FileOffsetStore(self.config.get("offset.storage.file.filename"))
        self.probe.start()
        herder_box: list[StandaloneHerder] = []
        rest = ConnectRest(_Lazy(herder_box))
        self.service = HttpService(
            rest.app(), self.service_host, self.service_port, name="connect"
        ).start()
        herder = StandaloneHerder(self.config, store, worker_id_for(self.config, self.service.port))
        herder.kafka_cluster_id = None
        herder.server_info = self._server_info(herder)  # type: ignore[method-assign]
        herder_box.append(herder)
        self.herder = herder
        for name, config in self.connectors:
            try:
                herder.put_connector_config(name, config, allow_replace=True)
            except ConnectRestError as exc:
                self.stop()
                raise ConfigError(name, exc.message) from None
        return self

    def _server_info(self, herder: StandaloneHerder) -> Any:
        original = herder.server_info

        def info() -> dict[str, Any]:
            answer: dict[str, Any] = original()
            answer["kafka_cluster_id"] = self.probe.cluster_id
            return answer

        return info

    def stop(self) -> None:
        self.probe.stop()
        if self.service is not None:
            self.service.stop()
        if self.herder is not None:
            self.herder.stop()

    def __enter__(self) -> ConnectStandalone:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Lazy:
    """The herder, once it exists (the REST service starts first to learn its port)."""

    def __init__(self, box: list[Any], probe: ClusterIdProbe | None = None) -> None:
        self._box = box
        self._probe = probe

    def server_info(self) -> dict[str, Any]:
        """`GET /` answers even before the herder exists (e.g. while Kafka is unreachable)."""
        if self._box:
            return self._box[0].server_info()  # type: ignore[no-any-return]
        from riverlog.connect.plugins import VERSION

        return {
            "version": VERSION,
            "commit": "riverlog",
            "kafka_cluster_id": self._probe.cluster_id if self._probe else None,
        }

    def __getattr__(self, name: str) -> Any:
        if not self._box:
            raise ConnectRestError(409, "Worker is still starting up")
        return getattr(self._box[0], name)
