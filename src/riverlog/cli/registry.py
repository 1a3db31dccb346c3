"""`riverlog registry start`: a schema registry speaking Confluent's REST API, configured by
Confluent's names from a properties file and `--set K=V` flags (flags win)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from riverlog.cli.errors import CliError

app = typer.Typer(help="Run a schema registry (Confluent's REST API).", no_args_is_help=True)


def registry_props(config_file: Path | None, settings: list[str]) -> dict[str, str]:
    """The properties from the file, then each `--set K=V` over them."""
    from riverlog.common.configdef import load_properties

    props: dict[str, str] = {}
    if config_file is not None:
        props.update(load_properties(config_file.read_text()))
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"bad --set {item!r}: expected KEY=VALUE")
        props[key.strip()] = value.strip()
    return props


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

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    props = registry_props(config_file, settings or [])
    try:
        server = RegistryServer(props)
    except (ConfigError, ValueError) as exc:
        raise CliError(f"invalid registry configuration: {exc}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        server.start()
    except (RegistryError, ServiceError) as exc:
        raise CliError(f"schema registry could not start: {exc}") from None
    print(f"schema registry listening on {server.advertised_url}", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
