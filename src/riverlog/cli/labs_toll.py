"""`riverlog labs toll generate|up|down|status`: the toll collection lab on a running platform.

`generate` writes the seed's reference data (files + PostgreSQL rows when a database is given) and
produces top-ups and passages; `up` puts topics, tables, SQL monitoring, connectors and the streams
apps on the platform (and blocks while the apps run); `down` takes them off again.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from riverlog.cli.client import DEFAULT_BOOTSTRAP, BootstrapOption
from riverlog.cli.errors import CliError
from riverlog.labs.toll.platform.lab import LabSettings

app = typer.Typer(help="Toll collection & monitoring lab.", no_args_is_help=True)

DATA_DIR = Path("data") / "labs" / "toll"
PG_PORT = 5433

DataDir = Annotated[
    Path, typer.Option("--data-dir", help="the lab's files, PostgreSQL and app state go here")
]
PostgresUrl = Annotated[
    str | None,
    typer.Option(
        "--postgres-url",
        help=f"PostgreSQL to use (postgresql://user@host:port/db); default: one the lab runs under "
        f"--data-dir on port {PG_PORT}",
    ),
]
PostgresPort = Annotated[
    int, typer.Option("--postgres-port", help="port of the PostgreSQL the lab runs")
]
ConnectUrl = Annotated[str, typer.Option("--connect-url", help="Kafka Connect REST URL")]
SqlUrl = Annotated[str, typer.Option("--sql-url", help="SQL server URL ('' to skip SQL)")]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _postgres(url: str | None, data_dir: Path, port: int, *, start: bool) -> str:
    from riverlog.labs.toll.platform.database import LabPostgres, PostgresError

    if url:
        return url
    server = LabPostgres(data_dir / "postgres", port)
    if start:
        try:
            server.start()
        except PostgresError as exc:
            raise CliError(str(exc)) from None
    return server.dsn


@app.command("generate")
def generate_cmd(
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    seed: Annotated[int, typer.Option(help="the world and its traffic depend only on this")] = 1,
    passages: Annotated[int, typer.Option(help="ordinary passages to produce")] = 10_000,
    rate: Annotated[
        float | None, typer.Option(help="passages per second (default: as fast as possible)")
    ] = None,
    data_dir: DataDir = DATA_DIR,
    postgres_url: Annotated[
        str | None,
        typer.Option(
            "--postgres-url", help="also upsert accounts/vehicles/tags into this database"
        ),
    ] = None,
) -> None:
    """Write the seed's reference data and produce its top-ups and passages (deterministic per seed)."""
    from riverlog.labs.toll.generator import generate
    from riverlog.labs.toll.platform import database
    from riverlog.labs.toll.platform.feed import produce_facts, write_reference_files

    if passages < 0 or (rate is not None and rate <= 0):
        raise CliError("--passages must be >= 0 and --rate > 0")
    world = generate(seed, passages)
    files = write_reference_files(world, data_dir / "reference")
    typer.echo(f"reference files: {', '.join(str(f) for f in files)}")
    if postgres_url:
        database.create_schema(postgres_url)
        rows = database.seed(postgres_url, world.accounts, world.vehicles, world.tags)
        typer.echo(f"postgres: {rows} reference rows upserted")
    try:
        stats = produce_facts(
            world,
            bootstrap,
            rate=rate,
            progress=lambda s: typer.echo(f"  {s.passages} passages ({s.seconds:.1f} s)"),
        )
    except RuntimeError as exc:
        raise CliError(f"producing to {bootstrap} failed: {exc}") from None
    m = world.manifest
    typer.echo(
        f"produced {stats.payments} top-ups and {stats.passages} passages in {stats.seconds:.1f} s; "
        f"injected: {len(m.unknown_plate)} unknown plates, {len(m.low_confidence)} low-confidence, "
        f"{len(m.duplicate)} duplicates, {len(m.out_of_order)} out of order, "
        f"{len(m.tag_mismatch)} tag and {len(m.class_mismatch)} class mismatches, "
        f"{len(m.cloned_pairs)} cloned pairs, failed gantry {m.failed_gantry}"
    )


def _settings(
    bootstrap: str,
    connect_url: str,
    sql_url: str,
    postgres_dsn: str,
    data_dir: Path,
    alerts_url: str | None,
    seed: int,
    partitions: int,
) -> LabSettings:
    return LabSettings(
        bootstrap,
        connect_url.rstrip("/"),
        postgres_dsn,
        data_dir,
        sql_url.rstrip("/") or None,
        alerts_url,
        seed,
        partitions,
    )


@app.command("up")
def up_cmd(
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    connect_url: ConnectUrl = "http://localhost:8083",
    sql_url: SqlUrl = "http://localhost:8088",
    console_url: Annotated[
        str, typer.Option("--console-url", help="the console (its /labs/toll/alerts takes alerts)")
    ] = "http://localhost:8080",
    alerts_url: Annotated[
        str | None, typer.Option("--alerts-url", help="post alerts here instead of the console")
    ] = None,
    postgres_url: PostgresUrl = None,
    postgres_port: PostgresPort = PG_PORT,
    data_dir: DataDir = DATA_DIR,
    seed: Annotated[int, typer.Option(help="seed of the reference data loaded")] = 1,
    partitions: Annotated[int, typer.Option(help="partitions of each new lab topic")] = 3,
    no_apps: Annotated[
        bool, typer.Option("--no-apps", help="don't run the streams apps (return at once)")
    ] = False,
) -> None:
    """Put the lab on a running platform; runs the streams apps until Ctrl-C or `labs toll down`.

    Without --no-apps, Connect, the SQL server and the console are started in this process when
    their URLs do not answer (they stop with it)."""
    from riverlog.common.processes import port_accepts
    from riverlog.common.service import ServiceError
    from riverlog.labs.toll.platform.lab import LabError, up
    from riverlog.labs.toll.platform.local_services import LocalServices, reachable
    from riverlog.labs.toll.platform.monitoring import SqlServerError

    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if not port.isdigit() or not port_accepts(host or "localhost", int(port)):
        raise CliError(
            f"no broker at {bootstrap}: start the platform first (riverlog platform start)"
        )
    dsn = _postgres(postgres_url, data_dir, postgres_port, start=True)
    alerts = alerts_url or (f"{console_url.rstrip('/')}/labs/toll/alerts" if console_url else None)
    settings = _settings(bootstrap, connect_url, sql_url, dsn, data_dir, alerts, seed, partitions)
    local = LocalServices(bootstrap, data_dir / "services")
    try:
        if no_apps:
            for name, url in (("Connect", connect_url), ("the SQL server", sql_url)):
                if url and not reachable(url):
                    raise CliError(
                        f"{name} is not running at {url}: start the platform (riverlog platform "
                        "start), or run `labs toll up` without --no-apps to start it in this process"
                    )
        else:
            local.ensure(connect_url, sql_url or None, console_url or None, echo=typer.echo)
        apps = up(settings, start_apps=not no_apps, echo=typer.echo)
    except (LabError, SqlServerError, ServiceError, ValueError) as exc:
        local.stop()
        raise CliError(str(exc)) from None
    except BaseException:
        local.stop()
        raise
    if apps is None:
        return
    pid_file = data_dir / "up.pid"
    pid_file.write_text(str(os.getpid()))
    signal.signal(signal.SIGTERM, _interrupt)
    typer.echo("the toll lab runs; Ctrl-C (or `riverlog labs toll down`) stops the apps")
    try:
        signal.pause()
    except KeyboardInterrupt:
        typer.echo("stopping the apps")
    finally:
        apps.close()
        local.stop()
        pid_file.unlink(missing_ok=True)


def _stop_up(pid_file: Path, timeout_s: float = 60.0) -> None:
    """SIGTERM the `labs toll up` process recorded in `pid_file` and wait for it to exit."""
    import time

    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (ValueError, ProcessLookupError):
        pid_file.unlink(missing_ok=True)
        return
    typer.echo("apps      `labs toll up` asked to stop")
    deadline = time.monotonic() + timeout_s
    while pid_file.exists() and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)


@app.command("down")
def down_cmd(
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    connect_url: ConnectUrl = "http://localhost:8083",
    sql_url: SqlUrl = "http://localhost:8088",
    postgres_url: PostgresUrl = None,
    postgres_port: PostgresPort = PG_PORT,
    data_dir: DataDir = DATA_DIR,
    drop_data: Annotated[
        bool, typer.Option("--drop-data", help="also delete the topics, tables and files")
    ] = False,
) -> None:
    """Remove the lab's connectors and SQL queries, stop `labs toll up`; keep the data unless asked."""
    from riverlog.labs.toll.platform.database import LabPostgres, PostgresError
    from riverlog.labs.toll.platform.lab import LabError, remove, remove_data
    from riverlog.labs.toll.platform.monitoring import SqlServerError

    dsn = _postgres(postgres_url, data_dir, postgres_port, start=drop_data)
    settings = _settings(bootstrap, connect_url, sql_url, dsn, data_dir, None, 1, 1)
    try:
        remove(settings, echo=typer.echo)  # first: `up` may be hosting Connect and SQL
        _stop_up(data_dir / "up.pid")
        if drop_data:
            remove_data(settings, echo=typer.echo)
        else:
            typer.echo("data      kept (topics, tables, files); --drop-data removes them")
    except (LabError, SqlServerError) as exc:
        raise CliError(str(exc)) from None
    if postgres_url is None:
        try:
            LabPostgres(data_dir / "postgres", postgres_port).stop()
        except PostgresError as exc:
            raise CliError(str(exc)) from None
