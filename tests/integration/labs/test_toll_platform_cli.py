"""`riverlog labs toll generate|up|down` end to end, as processes, against a real broker, PostgreSQL,
Connect worker, SQL server and console: `up --no-apps` installs everything, `generate` feeds the
seed's data in, `down` removes connectors and SQL queries (data kept), `down --drop-data` removes
the topics and tables too; bad input is one line on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from riverlog.labs.toll.generator import generate
from riverlog.labs.toll.platform import monitoring
from riverlog.labs.toll.platform.lab import ConnectClient
from riverlog.testing.broker import RunningBroker
from riverlog.testing.toll_lab import TollLabServices, read_latest, wait_until

pytestmark = pytest.mark.integration
SEED = 11


@pytest.fixture(scope="module")
def services(
    broker: RunningBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TollLabServices]:
    with TollLabServices(broker.bootstrap_servers, tmp_path_factory.mktemp("toll-cli")) as running:
        yield running


def riverlog(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3] / "src")}
    return subprocess.run(
        [sys.executable, "-m", "riverlog", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def service_args(services: TollLabServices, data_dir: Path) -> list[str]:
    assert services.connect and services.sql and services.console
    return [
        "--bootstrap-server",
        services.bootstrap,
        "--connect-url",
        services.connect.url,
        "--sql-url",
        services.sql.url,
        "--postgres-url",
        services.pg.dsn,
        "--data-dir",
        str(data_dir),
    ]


def test_up_generate_down(services: TollLabServices, tmp_path: Path) -> None:
    assert services.console is not None
    data_dir = tmp_path / "lab"
    args = service_args(services, data_dir)
    up = riverlog(
        "labs",
        "toll",
        "up",
        *args,
        "--console-url",
        services.console.url,
        "--seed",
        str(SEED),
        "--no-apps",
    )
    assert up.returncode == 0, up.stderr
    assert "8 connectors RUNNING" in up.stdout
    connect = ConnectClient(services.connect.url if services.connect else "")
    assert len([n for n in connect.names() if n.startswith("toll-")]) == 8

    gen = riverlog(
        "labs",
        "toll",
        "generate",
        "--bootstrap-server",
        services.bootstrap,
        "--seed",
        str(SEED),
        "--passages",
        "300",
        "--data-dir",
        str(data_dir),
        "--postgres-url",
        services.pg.dsn,
    )
    assert gen.returncode == 0, gen.stderr
    world = generate(SEED, 300)
    assert f"{len(world.payments)} top-ups and {len(world.passages)} passages" in gen.stdout
    passages = wait_until(
        lambda: (p := read_latest(services.bootstrap, "toll.passages")) and len(p) >= 1 and p
    )
    last_by_plate = {p.plate: p.passage_id for p in world.passages}
    assert {plate: v["passage_id"] for plate, v in passages.items()} == last_by_plate
    vehicles = wait_until(
        lambda: (
            (v := read_latest(services.bootstrap, "toll.vehicles"))
            and len(v) == len(world.vehicles)
            and v
        )
    )
    assert set(vehicles) == {v.plate for v in world.vehicles}

    down = riverlog("labs", "toll", "down", *args)
    assert down.returncode == 0, down.stderr
    assert [n for n in connect.names() if n.startswith("toll-")] == []
    assert services.sql is not None
    client = monitoring.SqlClient(services.sql.url)
    listed = client.ksql("SHOW STREAMS; SHOW TABLES;")
    names = {s["name"] for e in listed for s in e.get("streams", []) + e.get("tables", [])}
    assert not {n for n in names if n.startswith("TOLL_")}
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    assert "toll.passages" in admin.list_topics(timeout=10).topics  # data kept

    dropped = riverlog("labs", "toll", "down", *args, "--drop-data")
    assert dropped.returncode == 0, dropped.stderr
    wait_until(
        lambda: "toll.passages" not in admin.list_topics(timeout=10).topics, what="topics deleted"
    )
    with psycopg.connect(services.pg.dsn) as conn:
        assert conn.execute("SELECT to_regclass('public.vehicles')").fetchone() == (None,)
    assert not (data_dir / "reference").exists()


def test_bad_input_is_one_line(services: TollLabServices, tmp_path: Path) -> None:
    bad = riverlog(
        "labs", "toll", "up", "--bootstrap-server", "127.0.0.1:1", "--data-dir", str(tmp_path)
    )
    assert bad.returncode != 0
    assert bad.stderr.strip().count("\n") == 0 and "riverlog: error: no broker at" in bad.stderr
    neg = riverlog(
        "labs", "toll", "generate", "--bootstrap-server", services.bootstrap, "--passages", "-1"
    )
    assert neg.returncode != 0 and "--passages must be" in neg.stderr
