"""A registry instance: the `_schemas` store, the replayed state, the leader elector and the REST app,
served by `HttpService`. Start order: replay the topic, listen (learning the port), then join the
election under this instance's URL; stop in reverse.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from riverlog.common.service import HttpService, parse_listener
from riverlog.registry.config import parse_config
from riverlog.registry.core import SchemaRegistry
from riverlog.registry.election import LeaderElector
from riverlog.registry.kafka_store import KafkaStore
from riverlog.registry.rest import build_app
from riverlog.registry.state import RegistryState

log = logging.getLogger(__name__)


class _Leadership:
    def __init__(self, server: RegistryServer) -> None:
        self.server = server

    def is_leader(self) -> bool:
        elector = self.server.elector
        return elector is not None and elector.is_leader

    def leader_url(self) -> str | None:
        elector = self.server.elector
        if elector is None:
            return None
        return elector.wait_for_leader(self.server.store.timeout_s + 5)

    def cluster_id(self) -> str:
        return self.server.store.cluster_id


class RegistryServer:
    """One schema registry instance; `props` are Confluent's config keys (validated here)."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        self.config = parse_config(props)
        scheme, host, port = parse_listener(",".join(self.config["listeners"]))
        self.scheme, self.host, self.port = scheme, host, port
        bootstrap = ",".join(self.config["kafkastore.bootstrap.servers"])
        self.bootstrap = bootstrap
        self.state = RegistryState()
        self.store = KafkaStore(
            self.state,
            bootstrap,
            topic=self.config["kafkastore.topic"],
            replication_factor=self.config["kafkastore.topic.replication.factor"],
            timeout_ms=self.config["kafkastore.timeout.ms"],
            init_timeout_ms=self.config["kafkastore.init.timeout.ms"],
        )
        self.registry = SchemaRegistry(
            self.state,
            self.store,
            default_compatibility=self.config["schema.compatibility.level"].upper(),
            mode_mutability=self.config["mode.mutability"],
        )
        self.elector: LeaderElector | None = None
        self.app = build_app(
            self.registry, _Leadership(self), self.config["schema.registry.group.id"]
        )
        self.http = HttpService(self.app, host, port, name="schema-registry")

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def advertised_url(self) -> str:
        return f"{self.scheme}://{self.config['host.name']}:{self.http.port}"

    def start(self) -> RegistryServer:
        self.store.start()
        try:
            self.http.start()
            self.elector = LeaderElector(
                self.bootstrap,
                self.config["schema.registry.group.id"],
                self.config["kafkastore.topic"],
                self.advertised_url,
                eligible=self.config["leader.eligibility"],
                session_timeout_ms=self.config["kafkastore.session.timeout.ms"],
            )
            self.elector.start()
        except BaseException:
            self.stop()
            raise
        log.info("schema registry listening on %s", self.advertised_url)
        return self

    def stop(self) -> None:
        if self.elector is not None:
            self.elector.stop()
        self.http.stop()
        self.store.stop()

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
