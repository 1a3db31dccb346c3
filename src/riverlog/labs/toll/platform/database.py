"""The toll lab's PostgreSQL: schema, seeding from the generator's world, and a server for `labs toll up`.

Tables: `accounts`, `vehicles`, `tags` are the systems of record (the JDBC source reads them with
`timestamp+incrementing` on `updated_at`/`id`, which the SMTs drop again); `charges` and `invoices` are
the JDBC sink's targets (upserts on `passage_id` / `invoice_id`). Column names are the contract's field
names, so the records on the topics and the rows read the same.

`LabPostgres` owns a cluster directory under the lab's data directory (`initdb` on first start, kept
across restarts; trust authentication on 127.0.0.1 only). PostgreSQL refuses to run as root, so when
the caller is root the directory belongs to `nobody`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import psycopg

from riverlog.labs.toll.model import Account, Tag, Vehicle

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id BIGSERIAL UNIQUE NOT NULL,
    account_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    low_balance_cents INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
CREATE TABLE IF NOT EXISTS vehicles (
    id BIGSERIAL UNIQUE NOT NULL,
    plate TEXT PRIMARY KEY,
    vehicle_class INTEGER NOT NULL,
    account_id TEXT,
    exempt BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
CREATE TABLE IF NOT EXISTS tags (
    id BIGSERIAL UNIQUE NOT NULL,
    tag_id TEXT PRIMARY KEY,
    plate TEXT NOT NULL,
    account_id TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
CREATE TABLE IF NOT EXISTS charges (
    passage_id TEXT PRIMARY KEY,
    plate TEXT NOT NULL,
    account_id TEXT,
    gantry_id TEXT NOT NULL,
    vehicle_class INTEGER NOT NULL,
    amount_cents BIGINT NOT NULL,
    billing TEXT NOT NULL,
    captured_at BIGINT NOT NULL,
    charged_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS invoices (
    invoice_id TEXT PRIMARY KEY,
    plate TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    passage_ids TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL
);
"""
TABLES = ("accounts", "vehicles", "tags", "charges", "invoices")


def create_schema(dsn: str) -> None:
    """Create the lab's tables (idempotent)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)


def drop_schema(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS " + ", ".join(TABLES))


def seed(
    dsn: str, accounts: Iterable[Account], vehicles: Iterable[Vehicle], tags: Iterable[Tag]
) -> int:
    """Upsert the reference rows (a changed row gets a new `updated_at`, so the source re-reads it);
    returns the number of rows written."""
    written = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        rows_a = [(a.account_id, a.name, a.email, a.low_balance_cents) for a in accounts]
        cur.executemany(
            "INSERT INTO accounts (account_id, name, email, low_balance_cents) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (account_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, "
            "low_balance_cents = EXCLUDED.low_balance_cents, updated_at = now() AT TIME ZONE 'UTC' "
            "WHERE (accounts.name, accounts.email, accounts.low_balance_cents) IS DISTINCT FROM "
            "(EXCLUDED.name, EXCLUDED.email, EXCLUDED.low_balance_cents)",
            rows_a,
        )
        rows_v = [(v.plate, v.vehicle_class, v.account_id, v.exempt) for v in vehicles]
        cur.executemany(
            "INSERT INTO vehicles (plate, vehicle_class, account_id, exempt) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (plate) DO UPDATE SET vehicle_class = EXCLUDED.vehicle_class, "
            "account_id = EXCLUDED.account_id, exempt = EXCLUDED.exempt, "
            "updated_at = now() AT TIME ZONE 'UTC' "
            "WHERE (vehicles.vehicle_class, vehicles.account_id, vehicles.exempt) IS DISTINCT FROM "
            "(EXCLUDED.vehicle_class, EXCLUDED.account_id, EXCLUDED.exempt)",
            rows_v,
        )
        rows_t = [(t.tag_id, t.plate, t.account_id) for t in tags]
        cur.executemany(
            "INSERT INTO tags (tag_id, plate, account_id) VALUES (%s, %s, %s) "
            "ON CONFLICT (tag_id) DO UPDATE SET plate = EXCLUDED.plate, "
            "account_id = EXCLUDED.account_id, updated_at = now() AT TIME ZONE 'UTC' "
            "WHERE (tags.plate, tags.account_id) IS DISTINCT FROM (EXCLUDED.plate, EXCLUDED.account_id)",
            rows_t,
        )
        written = len(rows_a) + len(rows_v) + len(rows_t)
        conn.commit()
    return written


class PostgresError(RuntimeError):
    """PostgreSQL could not be found, initialised or started; the message says what to do."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not found:
        raise PostgresError(
            "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin "
            "(apt-get install postgresql, or pass --postgres-url to use a running server)"
        )
    return Path(found[-1])


class LabPostgres:
    """A PostgreSQL cluster kept under `directory` (created on first start), listening on 127.0.0.1."""

    def __init__(self, directory: Path, port: int = 5433) -> None:
        self.dir = directory.absolute()
        self.data = self.dir / "data"
        self.port = port
        self._as_nobody = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = ["runuser", "-u", "nobody", "--", *args] if self._as_nobody else list(args)
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise PostgresError(
                f"{Path(args[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}"
            )

    def accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self) -> LabPostgres:
        """Initialise the cluster if new, then start it unless something already listens on the port."""
        if self.accepts():
            return self
        bin_dir = _bin_dir()
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        if self._as_nobody:
            shutil.chown(self.dir, "nobody", "nogroup")
        if not (self.data / "PG_VERSION").exists():
            self._run(
                str(bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"
            )
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "postgres.log"),
            "-o",
            opts,
            "-w",
            "start",
        )
        deadline = time.monotonic() + 30
        while not self.accepts():
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL did not listen on {self.port}: see {self.dir}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(_bin_dir() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
