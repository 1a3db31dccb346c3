"""`riverlog sql`: the ksqlDB-compatible SQL server and its interactive shell.

`riverlog sql server [--config ksql-server.properties] [--set K=V]` runs the server (ksqlDB's config
names; flags win over the file). `riverlog sql [--server URL] [-f file.sql] [-e "stmt"]` is the shell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riverlog.cli.errors import CliError
from riverlog.cli.serving import service_logging, service_props, wait_for_signal

app = typer.Typer(
    help="Streaming SQL in ksqlDB's dialect: `riverlog sql server` runs the server, `riverlog sql` the shell.",
    invoke_without_command=True,
)


@app.callback()
def shell(
    ctx: typer.Context,
    server: Annotated[
        str, typer.Option("--server", help="The SQL server's URL")
    ] = "http://localhost:8088",
    file: Annotated[
        Path | None, typer.Option("-f", "--file", help="Run the statements in this file, then exit")
    ] = None,
    execute: Annotated[
        str | None, typer.Option("-e", "--execute", help="Run these statements, then exit")
    ] = None,
    output: Annotated[str, typer.Option("--output", help="TABULAR or JSON")] = "TABULAR",
) -> None:
    """The interactive shell (ksqlDB's CLI): multi-line statements, history, RUN SCRIPT, SET, DEFINE."""
    if ctx.invoked_subcommand is not None:
        return
    from riverlog.sql.shell import Shell, ShellError

    sh = Shell(server, output=output.upper())
    try:
        if file is not None:
            code = sh.run_text(file.read_text(), stop_on_error=True)
        elif execute is not None:
            code = sh.run_text(execute, stop_on_error=True)
        else:
            code = sh.interactive()
    except ShellError as e:
        raise CliError(str(e)) from None
    raise typer.Exit(code)


@app.command("server")
def server_cmd(
    config_file: Annotated[
        Path | None, typer.Option("--config", help="ksql-server.properties")
    ] = None,
    settings: Annotated[
        list[str] | None, typer.Option("--set", help="KEY=VALUE, ksqlDB's config names")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Run the SQL server until SIGTERM or Ctrl-C."""
    from riverlog.common.configdef import ConfigError
    from riverlog.common.service import ServiceError
    from riverlog.sql.server.server import SqlServer

    service_logging(log_level)
    props = service_props(config_file, settings or [])
    try:
        srv = SqlServer(props)
    except (ConfigError, ValueError) as exc:
        raise CliError(f"invalid SQL server configuration: {exc}") from None
    try:
        srv.start()
    except (ServiceError, RuntimeError, OSError) as exc:
        raise CliError(f"SQL server could not start: {exc}") from None
    print(f"sql server listening on {srv.url}", flush=True)
    try:
        wait_for_signal()
    finally:
        srv.stop()
