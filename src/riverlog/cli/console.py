"""`riverlog console`: the web console for a Kafka cluster (and its registry, Connect and SQL server)."""

from __future__ import annotations

import signal
import socket
import threading
from types import FrameType
from typing import Annotated

import typer

from riverlog.cli.client import CommandConfigOption
from riverlog.cli.errors import CliError


def _check_bindable(host: str, port: int) -> None:
    """Fail with one line before uvicorn logs its own multi-line error for a taken port."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise CliError(
            f"console cannot listen on {host}:{port}: {exc.strerror} (is the port in use? "
            "choose another with --listen)"
        ) from None


def console(
    bootstrap_server: Annotated[
        str, typer.Option("--bootstrap-server", help="Kafka bootstrap HOST:PORT")
    ] = "localhost:9092",
    listen: Annotated[
        str, typer.Option(help="where the console listens (localhost only by default)")
    ] = "http://localhost:8080",
    registry_url: Annotated[str | None, typer.Option(help="schema registry URL")] = None,
    connect_url: Annotated[str | None, typer.Option(help="Kafka Connect REST URL")] = None,
    sql_url: Annotated[str | None, typer.Option(help="SQL server URL")] = None,
    metrics_url: Annotated[
        list[str] | None,
        typer.Option(help="a broker's Prometheus /metrics URL (repeatable; default: port 9644)"),
    ] = None,
    command_config: CommandConfigOption = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="no create, delete, produce, reset or config change")
    ] = False,
    login: Annotated[
        bool,
        typer.Option(
            "--login",
            help="users log in with their SASL user and password and see what their ACLs allow "
            "(needs --command-config security.protocol=SASL_SSL|SASL_PLAINTEXT)",
        ),
    ] = False,
) -> None:
    """Serve the web console until Ctrl-C or SIGTERM."""
    from confluent_kafka import KafkaException

    from riverlog.cli.client import ClientSettings
    from riverlog.common.service import HttpService, ServiceError, parse_listener
    from riverlog.console.app import ConsoleSettings, build_app

    try:
        _, host, port = parse_listener(listen)
    except ValueError as exc:
        raise CliError(f"--listen: {exc}") from None
    client = ClientSettings.from_options(bootstrap_server, command_config)
    settings = ConsoleSettings(
        bootstrap=client.bootstrap,
        client_config=dict(client.extra),
        registry_url=registry_url,
        connect_url=connect_url,
        sql_url=sql_url,
        metrics_urls=list(metrics_url or []),
        read_only=read_only,
        login=login,
    )
    if login:
        from riverlog.console.login import login_settings_error

        problem = login_settings_error(settings.client_config)
        if problem is not None:
            raise CliError(problem)
    _check_bindable(host, port)
    try:
        app = build_app(settings)
    except KafkaException as exc:  # librdkafka refused a --command-config setting
        raise CliError(f"--command-config: {exc.args[0].str() if exc.args else exc}") from None
    service = HttpService(app, host, port, name="console")
    try:
        service.start()
    except ServiceError as exc:
        raise CliError(f"{exc} (is the port in use? choose another with --listen)") from None
    typer.echo(
        f"console on {service.url} for {bootstrap_server}{' (read-only)' if read_only else ''}"
        f"{' (users log in)' if login else ''}"
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(1.0):
        pass
    service.stop()
