"""Which services the platform starts, on which ports, with which commands (data under one directory).

A service whose command does not exist yet in this riverlog is listed as skipped with a note, so the
platform starts whatever is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORTS = {
    "broker": 9092,
    "registry": 8081,
    "connect": 8083,
    "sql": 8088,
    "console": 8080,
    "metrics": 9644,
}


@dataclass(frozen=True)
class ServiceSpec:
    """One child process: `riverlog <args>`, ready when `port` accepts connections."""

    name: str
    port: int
    url: str
    args: tuple[str, ...]
    data_dir: Path | None = None
    skipped: str | None = None  # why it does not start (None: it starts)


@dataclass
class PlatformOptions:
    data_dir: Path
    host: str = "localhost"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    disabled: frozenset[str] = frozenset()
    available: frozenset[str] = frozenset()  # riverlog sub-commands that exist


def plan(options: PlatformOptions) -> list[ServiceSpec]:
    """The services in start order (dependencies first)."""
    host, ports, data = options.host, options.ports, options.data_dir
    bootstrap = f"{host}:{ports['broker']}"

    def http(name: str) -> str:
        return f"http://{host}:{ports[name]}"

    specs = [
        ServiceSpec(
            "broker",
            ports["broker"],
            bootstrap,
            (
                "broker",
                "start",
                "--listen",
                bootstrap,
                "--data-dir",
                str(data / "broker"),
                "--set",
                f"metrics.port={ports['metrics']}",
            ),
            data / "broker",
        ),
        ServiceSpec(
            "registry",
            ports["registry"],
            http("registry"),
            (
                "registry",
                "start",
                "--set",
                f"listeners={http('registry')}",
                "--set",
                f"kafkastore.bootstrap.servers={bootstrap}",
            ),
        ),
        ServiceSpec(
            "connect",
            ports["connect"],
            http("connect"),
            ("connect", "distributed", str(data / "connect" / "worker.properties")),
            data / "connect",
        ),
        ServiceSpec(
            "sql",
            ports["sql"],
            http("sql"),
            (
                "sql",
                "server",
                "--set",
                f"listeners={http('sql')}",
                "--set",
                f"bootstrap.servers={bootstrap}",
                "--set",
                f"ksql.streams.state.dir={data / 'sql'}",
            ),
            data / "sql",
        ),
        ServiceSpec(
            "console",
            ports["console"],
            http("console"),
            ("console", "--bootstrap-server", bootstrap, "--listen", http("console")),
        ),
    ]
    out = []
    for spec in specs:
        command = spec.args[0]
        if spec.name in options.disabled:
            spec = _skip(spec, f"turned off (--no-{spec.name})")
        elif command not in options.available:
            spec = _skip(spec, f"not in this riverlog yet (no `riverlog {command}` command)")
        out.append(spec)
    _link_optional_services(out, options)
    return out


def _skip(spec: ServiceSpec, why: str) -> ServiceSpec:
    return ServiceSpec(spec.name, spec.port, spec.url, spec.args, spec.data_dir, why)


def _link_optional_services(specs: list[ServiceSpec], options: PlatformOptions) -> None:
    """Point SQL and the console at the registry and Connect when those run."""
    running = {spec.name: spec for spec in specs if spec.skipped is None}
    for index, spec in enumerate(specs):
        extra: list[str] = []
        if spec.name == "sql":
            if "registry" in running:
                extra += ["--set", f"ksql.schema.registry.url={running['registry'].url}"]
            if "connect" in running:
                extra += ["--set", f"ksql.connect.url={running['connect'].url}"]
        if spec.name == "console":
            if options.ports.get("metrics"):
                extra += [
                    "--metrics-url",
                    f"http://{options.host}:{options.ports['metrics']}/metrics",
                ]
            for other, flag in (
                ("registry", "--registry-url"),
                ("connect", "--connect-url"),
                ("sql", "--sql-url"),
            ):
                if other in running:
                    extra += [flag, running[other].url]
        if extra:
            specs[index] = ServiceSpec(
                spec.name,
                spec.port,
                spec.url,
                spec.args + tuple(extra),
                spec.data_dir,
                spec.skipped,
            )


def connect_worker_properties(bootstrap: str, listener: str, data_dir: Path) -> str:
    """The platform's Connect worker: distributed mode, one worker, Kafka Connect's default topic names."""
    return "\n".join(
        [
            f"bootstrap.servers={bootstrap}",
            "group.id=connect-cluster",
            f"listeners={listener}",
            "config.storage.topic=connect-configs",
            "offset.storage.topic=connect-offsets",
            "status.storage.topic=connect-status",
            "config.storage.replication.factor=1",
            "offset.storage.replication.factor=1",
            "status.storage.replication.factor=1",
            "key.converter=org.apache.kafka.connect.json.JsonConverter",
            "value.converter=org.apache.kafka.connect.json.JsonConverter",
            "",
        ]
    )
