"""`riverlog registry start`: a schema registry speaking Confluent's REST API, configured by
Confluent's names from a properties file and `--set K=V` flags (flags win)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riverlog.cli.errors import CliError
from riverlog.cli.serving import service_logging, service_props, wait_for_signal

app = typer.Typer(help="Run a schema registry (Confluent's REST API).", no_args_is_help=True)


registry_props = service_props  # the name other commands imported first


@app.command("start")
def start(
    config_file: Annotated[
        Path | None, typer.Option("--config", help="schema-registry.properties file")
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE, Confluent Schema Registry's config names"),
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Start a schema registry and serve until SIGTERM or Ctrl-C."""
    from riverlog.common.configdef import ConfigError
    from riverlog.common.service import ServiceError
    from riverlog.registry.errors import RegistryError
    from riverlog.registry.server import RegistryServer

    service_logging(log_level)
    props = service_props(config_file, settings or [])
    try:
        server = RegistryServer(props)
    except (ConfigError, ValueError) as exc:
        raise CliError(f"invalid registry configuration: {exc}") from None
    try:
        server.start()
    except (RegistryError, ServiceError) as exc:
        raise CliError(f"schema registry could not start: {exc}") from None
    print(f"schema registry listening on {server.advertised_url}", flush=True)
    try:
        wait_for_signal()
    finally:
        server.stop()
