"""`riverlog broker start`: a broker with Kafka's config names from a file, the environment or flags."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from riverlog.cli.startup import freeze_imported_objects, keep_hypothesis_out

if TYPE_CHECKING:
    from riverlog.broker.config import BrokerConfig

app = typer.Typer(help="Run a broker.", no_args_is_help=True)


def build_config(
    config_file: Path | None,
    listen: str | None,
    data_dir: Path | None,
    broker_id: int | None,
    settings: list[str],
    zookeeper: str | None = None,
) -> BrokerConfig:
    # Server code is imported only when a broker starts: client commands stay light.
    from riverlog.broker.config import BrokerConfig, parse_assignments

    overrides = parse_assignments(settings)
    if listen is not None:
        overrides["listeners"] = listen if "://" in listen else f"PLAINTEXT://{listen}"
    if data_dir is not None:
        overrides["log.dirs"] = str(data_dir)
    if broker_id is not None:
        overrides["broker.id"] = str(broker_id)
    if zookeeper is not None:
        overrides["zookeeper.connect"] = zookeeper
    return BrokerConfig.load(config_file, overrides)


@app.command("start")
def start(
    config_file: Annotated[
        Path | None, typer.Option("--config", help="server.properties or .toml file")
    ] = None,
    listen: Annotated[str | None, typer.Option(help="HOST:PORT to listen on")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="where partition logs live")] = None,
    broker_id: Annotated[int | None, typer.Option(help="this broker's id")] = None,
    zookeeper: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT (or HOST:PORT/chroot) of a ZooKeeper ensemble: join that cluster"
        ),
    ] = None,
    settings: Annotated[
        list[str] | None, typer.Option("--set", help="KEY=VALUE, Kafka's config names")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Start a broker and serve until SIGTERM or Ctrl-C."""
    keep_hypothesis_out()  # before kio's first import: see riverlog.cli.startup
    config = build_config(config_file, listen, data_dir, broker_id, settings or [], zookeeper)
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import uvloop

    from riverlog.cluster.node import BrokerNode

    freeze_imported_objects()  # no full-GC pauses over them later: see riverlog.cli.startup
    uvloop.run(BrokerNode(config).run_until_signalled())
