"""`riverlog platform start`: broker, schema registry, Connect, SQL and console from one command."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from riverlog.cli.errors import fail

app = typer.Typer(help="Run the whole platform.", no_args_is_help=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@app.command("start")
def start(
    data_dir: Annotated[Path, typer.Option(help="every service's data goes under here")] = Path(
        "data"
    ),
    host: Annotated[str, typer.Option(help="interface every service binds to")] = "localhost",
    broker_port: Annotated[int, typer.Option(help="Kafka port")] = 9092,
    registry_port: Annotated[int, typer.Option(help="schema registry port")] = 8081,
    connect_port: Annotated[int, typer.Option(help="Connect REST port")] = 8083,
    sql_port: Annotated[int, typer.Option(help="SQL server port")] = 8088,
    console_port: Annotated[int, typer.Option(help="web console port")] = 8080,
    metrics_port: Annotated[int, typer.Option(help="broker Prometheus metrics port")] = 9644,
    no_registry: Annotated[
        bool, typer.Option("--no-registry", help="don't start the registry")
    ] = False,
    no_connect: Annotated[bool, typer.Option("--no-connect", help="don't start Connect")] = False,
    no_sql: Annotated[bool, typer.Option("--no-sql", help="don't start the SQL server")] = False,
    no_console: Annotated[
        bool, typer.Option("--no-console", help="don't start the console")
    ] = False,
    start_timeout: Annotated[
        float,
        typer.Option(
            "--start-timeout",
            metavar="SECONDS",
            help="how long each service may take to listen on its port before the platform "
            "gives up and stops them all",
        ),
    ] = 30.0,
) -> None:
    """Start every service, print one line each with its URL, and run until Ctrl-C or SIGTERM."""
    if not start_timeout > 0:
        fail(f"--start-timeout must be a positive number of seconds, not {start_timeout:g}")
    from riverlog.cli.main import SUBCOMMANDS
    from riverlog.platform.runner import Platform, PlatformError
    from riverlog.platform.services import PlatformOptions, connect_worker_properties, plan

    ports = {
        "broker": broker_port,
        "registry": registry_port,
        "connect": connect_port,
        "sql": sql_port,
        "console": console_port,
        "metrics": metrics_port,
    }
    disabled = {
        name
        for name, off in (
            ("registry", no_registry),
            ("connect", no_connect),
            ("sql", no_sql),
            ("console", no_console),
        )
        if off
    }
    options = PlatformOptions(data_dir, host, ports, frozenset(disabled), frozenset(SUBCOMMANDS))
    specs = plan(options)
    for spec in specs:
        if spec.name == "connect" and spec.skipped is None and spec.data_dir is not None:
            spec.data_dir.mkdir(parents=True, exist_ok=True)
            (spec.data_dir / "worker.properties").write_text(
                connect_worker_properties(f"{host}:{broker_port}", spec.url, spec.data_dir)
            )
    platform = Platform(specs, data_dir / "logs", host=host, start_timeout_s=start_timeout)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        platform.start()
        typer.echo("Ctrl-C stops them all.")
        platform.watch()
    except KeyboardInterrupt:
        typer.echo("stopping")
    except PlatformError as exc:
        platform.stop()
        fail(str(exc))
    finally:
        platform.stop()
