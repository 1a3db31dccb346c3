"""`riverlog connect standalone|distributed`: Kafka Connect's scripts as sub-commands."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from riverlog.cli.errors import CliError
from riverlog.cli.serving import service_logging, wait_for_signal

app = typer.Typer(
    help="Run Kafka Connect workers (standalone or distributed).", no_args_is_help=True
)


def _worker_props(path: Path) -> dict[str, str]:
    from riverlog.common.configdef import load_properties

    if not path.exists():
        raise CliError(f"worker config {path} does not exist")
    return load_properties(path.read_text())


@app.command("standalone")
def standalone(
    worker_config: Annotated[Path, typer.Argument(help="worker .properties file")],
    connectors: Annotated[
        list[Path] | None, typer.Argument(help="connector .properties or .json files")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Run a standalone worker: connectors from the files (and REST), offsets in offset.storage.file.filename."""
    from riverlog.common.configdef import ConfigError
    from riverlog.common.service import ServiceError
    from riverlog.connect.standalone import ConnectStandalone

    service_logging(log_level)
    for path in connectors or []:
        if not path.exists():
            raise CliError(f"connector config {path} does not exist")
    try:
        worker = ConnectStandalone(_worker_props(worker_config), list(connectors or [])).start()
    except ConfigError as exc:
        raise CliError(f"invalid configuration: {exc}") from None
    except ServiceError as exc:
        raise CliError(
            f"{exc} (is another worker using the port? set listeners=http://host:port)"
        ) from None
    logging.getLogger("riverlog.connect").info(
        "Kafka Connect standalone worker started; REST API at %s", worker.url
    )
    try:
        wait_for_signal()
    finally:
        worker.stop()


@app.command("distributed")
def distributed(
    worker_config: Annotated[Path, typer.Argument(help="worker .properties file")],
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Run a distributed worker: configs, offsets and status in Kafka topics; connectors through REST."""
    from riverlog.common.configdef import ConfigError
    from riverlog.common.service import ServiceError

    service_logging(log_level)
    try:
        from riverlog.connect.distributed import ConnectDistributed  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise CliError("distributed mode is not available in this build") from None
    try:
        worker = ConnectDistributed(_worker_props(worker_config)).start()
    except ConfigError as exc:
        raise CliError(f"invalid configuration: {exc}") from None
    except ServiceError as exc:
        raise CliError(
            f"{exc} (is another worker using the port? set listeners=http://host:port)"
        ) from None
    logging.getLogger("riverlog.connect").info(
        "Kafka Connect distributed worker started; REST API at %s", worker.url
    )
    try:
        wait_for_signal()
    finally:
        worker.stop()
