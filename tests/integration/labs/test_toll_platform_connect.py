"""The toll lab's platform on real parts — a riverlog broker, a throwaway PostgreSQL, a standalone
Connect worker, the SQL server and the console, in-process: `up` puts everything on; reference rows
flow PostgreSQL → topics (and files → topics) in the contract's shapes; charges and invoices flow
topics → PostgreSQL as upserts; alerts reach the console over the HTTP sink; the SQL monitoring
answers are right for a small fixed input; a changed row in PostgreSQL reaches its topic."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from confluent_kafka import Producer

from riverlog.labs.toll.generator import START_MS, generate
from riverlog.labs.toll.model import TOPICS, to_json
from riverlog.labs.toll.platform import monitoring
from riverlog.labs.toll.platform.lab import ConnectClient, LabSettings, up
from riverlog.testing.broker import RunningBroker
from riverlog.testing.toll_lab import TollLabServices, read_latest, wait_until

pytestmark = pytest.mark.integration
SEED = 7


@pytest.fixture(scope="module")
def lab(
    broker: RunningBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TollLabServices, LabSettings]]:
    with TollLabServices(broker.bootstrap_servers, tmp_path_factory.mktemp("toll")) as services:
        settings = services.settings(seed=SEED)
        assert up(settings, start_apps=False, echo=lambda _line: None) is None
        yield services, settings


def produce(bootstrap: str, topic: str, records: list[tuple[str, dict[str, object]]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in records:
        producer.produce(topic, key=key.encode(), value=json.dumps(value).encode())
    assert producer.flush(10) == 0


def test_up_runs_every_connector(lab: tuple[TollLabServices, LabSettings]) -> None:
    _, settings = lab
    connect = ConnectClient(settings.connect_url)
    assert sorted(connect.names()) == [
        "toll-file-gantries",
        "toll-file-tariffs",
        "toll-http-alerts",
        "toll-pg-accounts",
        "toll-pg-charges",
        "toll-pg-invoices",
        "toll-pg-tags",
        "toll-pg-vehicles",
    ]
    for name in connect.names():
        status = connect.status(name)
        assert status is not None and status["connector"]["state"] == "RUNNING", status


@pytest.mark.parametrize(
    ("name", "key_field"),
    [
        ("accounts", "account_id"),
        ("vehicles", "plate"),
        ("tags", "tag_id"),
        ("gantries", "gantry_id"),
        ("tariffs", "gantry_id"),
    ],
)
def test_reference_rows_reach_their_topics_in_the_contract_shape(
    lab: tuple[TollLabServices, LabSettings], name: str, key_field: str
) -> None:
    _, settings = lab
    world = generate(SEED, 0)
    expected = {
        str(to_json(r)[key_field]): json.loads(json.dumps(to_json(r))) for r in getattr(world, name)
    }
    got = wait_until(
        lambda: (
            (found := read_latest(settings.bootstrap, TOPICS[name]))
            and len(found) >= len(expected)
            and found
        ),
        what=f"{len(expected)} keys on {TOPICS[name]}",
    )
    assert got == expected  # same keys, same field names, booleans/ints/nulls/lists as in the model


def test_a_changed_vehicle_row_reaches_the_topic(lab: tuple[TollLabServices, LabSettings]) -> None:
    services, settings = lab
    vehicle = generate(SEED, 0).vehicles[3]
    with psycopg.connect(services.pg.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE vehicles SET vehicle_class = 3, exempt = true, "
            "updated_at = now() AT TIME ZONE 'UTC' WHERE plate = %s",
            (vehicle.plate,),
        )
    wait_until(
        lambda: (
            read_latest(settings.bootstrap, TOPICS["vehicles"]).get(vehicle.plate)
            == {**to_json(vehicle), "vehicle_class": 3, "exempt": True}
        ),
        what="the updated vehicle on toll.vehicles",
    )


def charge(
    passage_id: str, gantry: str, amount: int, captured_at: int, account: str | None
) -> dict[str, object]:
    return {
        "passage_id": passage_id,
        "plate": "AB-123-C",
        "account_id": account,
        "gantry_id": gantry,
        "vehicle_class": 1,
        "amount_cents": amount,
        "billing": "ACCOUNT" if account else "MAIL",
        "captured_at": captured_at,
        "charged_at": captured_at + 40,
    }


def test_charges_and_invoices_are_upserted_into_postgres(
    lab: tuple[TollLabServices, LabSettings],
) -> None:
    services, settings = lab
    produce(
        settings.bootstrap,
        TOPICS["charges"],
        [
            ("PX-1", charge("PX-1", "SINK-G1", 150, START_MS, "ACC-00001")),
            ("PX-2", charge("PX-2", "SINK-G1", 0, START_MS + 1000, None)),
            ("PX-1", charge("PX-1", "SINK-G1", 225, START_MS, "ACC-00001")),  # a correction
        ],
    )
    invoice = {
        "invoice_id": "INV-AB-123-C-20260101",
        "plate": "AB-123-C",
        "amount_cents": 450,
        "passage_ids": ["PX-2", "PX-3"],
        "period_start": START_MS,
        "period_end": START_MS + 86_400_000,
    }
    produce(settings.bootstrap, TOPICS["invoices"], [("AB-123-C", invoice)])

    def rows(sql: str) -> list[tuple[object, ...]]:
        with psycopg.connect(services.pg.dsn) as conn:
            return list(conn.execute(sql).fetchall())

    charges = wait_until(
        lambda: (
            (
                r := rows(
                    "SELECT passage_id, account_id, amount_cents, billing FROM charges "
                    "WHERE gantry_id = 'SINK-G1' ORDER BY passage_id"
                )
            )
            and r[0][2] == 225
            and len(r) == 2
            and r
        ),
        what="the two charges in PostgreSQL",
    )
    assert charges == [("PX-1", "ACC-00001", 225, "ACCOUNT"), ("PX-2", None, 0, "MAIL")]
    invoices = wait_until(
        lambda: rows("SELECT invoice_id, amount_cents, passage_ids FROM invoices")
    )
    assert invoices == [("INV-AB-123-C-20260101", 450, '["PX-2","PX-3"]')]


def test_alerts_reach_the_console_over_the_http_sink(
    lab: tuple[TollLabServices, LabSettings],
) -> None:
    services, settings = lab
    alerts = [
        {
            "alert_type": "CLONED_PLATE",
            "plate": "ZZ-900-X",
            "account_id": None,
            "passage_ids": ["P7-1-C1", "P7-1-C2"],
            "detail": "412 km/h between A1-G1 and A4-G4",
            "at": START_MS,
        },
        {
            "alert_type": "LOW_BALANCE",
            "plate": None,
            "account_id": "ACC-00002",
            "passage_ids": ["P7-9"],
            "detail": "balance 850 below 1000",
            "at": START_MS + 5,
        },
    ]
    produce(
        settings.bootstrap, TOPICS["alerts"], [("ZZ-900-X", alerts[0]), ("ACC-00002", alerts[1])]
    )
    assert services.console is not None
    received = wait_until(
        lambda: (
            (a := httpx.get(f"{services.console.url}/api/labs/toll/alerts").json())["received"] >= 2
            and a
        ),
        what="two alerts at the console",
    )
    assert received["alerts"] == alerts[::-1]  # newest first


def test_sql_monitoring_on_a_small_fixed_input(lab: tuple[TollLabServices, LabSettings]) -> None:
    _, settings = lab
    assert settings.sql_url is not None
    client = monitoring.SqlClient(settings.sql_url)
    known = generate(SEED, 0).vehicles[10].plate
    t0 = START_MS + 7_200_000  # a later hour than the other tests' charges
    passages = []
    for i in range(8):  # M-G1: 8 reads, 2 unknown; M-G2: 2 reads, then silent for 10 minutes
        plate = f"UN-{i}00-Q" if i in (2, 5) else known
        passages.append(("M-G1", plate, t0 + i * 5_000))
    passages += [("M-G2", known, t0 - 600_000), ("M-G2", known, t0 - 590_000)]
    produce(
        settings.bootstrap,
        TOPICS["passages"],
        [
            (
                plate,
                {
                    "passage_id": f"M-{n}",
                    "gantry_id": gantry,
                    "plate": plate,
                    "plate_confidence": 0.99,
                    "tag_id": None,
                    "detected_class": 1,
                    "captured_at": at,
                    "lane": 1,
                },
            )
            for n, (gantry, plate, at) in enumerate(passages)
        ],
    )
    produce(
        settings.bootstrap,
        TOPICS["charges"],
        [
            ("M-C1", charge("M-C1", "M-G1", 100, t0, "ACC-00003")),
            ("M-C2", charge("M-C2", "M-G1", 250, t0 + 30_000, "ACC-00003")),
            ("M-C3", charge("M-C3", "M-G1", 300, t0 + 65_000, None)),
            ("M-C4", charge("M-C4", "M-G2", 500, t0 + 1_000, None)),
            ("M-C5", charge("M-C5", "M-G3", 50, t0 + 2_000, None)),
        ],
    )
    produce(
        settings.bootstrap,
        "toll.balances",
        [
            ("ACC-00003", {"account_id": "ACC-00003", "balance_cents": 2000, "updated_at": t0}),
            (
                "ACC-00003",
                {"account_id": "ACC-00003", "balance_cents": 1650, "updated_at": t0 + 30_000},
            ),
        ],
    )

    def minute_rows() -> list[tuple[str, int, int, int]]:
        return sorted(
            (r["GANTRY_ID"], r["WINDOW_START"], r["CHARGES"], r["REVENUE_CENTS"])
            for r in client.pull("SELECT * FROM toll_gantry_minute;")
            if str(r["GANTRY_ID"]).startswith("M-")
        )

    expected_minutes = [
        ("M-G1", t0, 2, 350),
        ("M-G1", t0 + 60_000, 1, 300),
        ("M-G2", t0, 1, 500),
        ("M-G3", t0, 1, 50),
    ]
    assert wait_until(lambda: minute_rows() == expected_minutes and minute_rows(), what="minutes")

    def ratio_of_window(start: int) -> tuple[int, int, float] | None:
        for r in client.pull("SELECT * FROM toll_unknown_ratio;"):
            if r["GANTRY_ID"] == "M-G1" and r["WINDOW_START"] == start:
                return r["READS"], r["UNKNOWN"], r["UNKNOWN_RATIO"]
        return None

    # the 5-minute window starting at t0 (a 5-minute boundary) holds all 8 reads of M-G1
    wait_until(lambda: ratio_of_window(t0) == (8, 2, 0.25), what="M-G1's unknown ratio")
    assert ratio_of_window(t0) == (8, 2, 0.25)
    # so does the one starting a minute earlier (the reads span 35 s)
    assert ratio_of_window(t0 - 60_000) == (8, 2, 0.25)
    wait_until(
        lambda: monitoring.top_gantries(client, 2) == [("M-G1", 650), ("M-G2", 500)],
        what="top-2 gantries",
    )
    wait_until(
        lambda: (
            [g for g, _ in monitoring.silent_gantries(client) if g.startswith("M-")] == ["M-G2"]
        ),
        what="M-G2 silent",
    )
    wait_until(
        lambda: (monitoring.balance(client, "ACC-00003") or {}).get("BALANCE_CENTS") == 1650,
        what="ACC-00003's balance",
    )
