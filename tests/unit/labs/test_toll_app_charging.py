"""The charging app's rules, one by one, through TopologyTestDriver (the same task code as the runtime)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from riverlog.labs.toll.apps.charging import charging_topology
from riverlog.labs.toll.generator import START_MS, generate
from riverlog.labs.toll.model import TOPICS, Gantry, Passage, Tag, Tariff, Vehicle, to_json
from riverlog.streams import Serdes
from riverlog.streams.testing import TopologyTestDriver

S, J = Serdes.String(), Serdes.Json()
OFF_PEAK = START_MS + 4 * 3_600_000  # 12:00 UTC
A = Gantry("A-G1", "A", 10.0, 52.0, 4.9, 3)
B = Gantry("A-G2", "A", 20.0, 52.09, 4.9, 3)  # 10 km north of A
FAR = Gantry("B-G9", "B", 90.0, 52.8, 4.9, 3)  # about 89 km north of A
VEHICLES = [
    Vehicle("AB-123-C", 1, "ACC-1", False),
    Vehicle("VN-200-D", 2, None, False),
    Vehicle("EX-300-F", 3, "ACC-9", True),
]
TAGS = [Tag("TAG-1", "AB-123-C", "ACC-1"), Tag("TAG-2", "VN-200-D", "ACC-2")]


class Charging:
    def __init__(self, driver: TopologyTestDriver) -> None:
        self.driver = driver
        self.passages = driver.create_input_topic(TOPICS["passages"], S, S)
        self.charges = driver.create_output_topic(TOPICS["charges"], S, J)
        self.dlq = driver.create_output_topic(TOPICS["dlq"], S, J)
        self.alerts = driver.create_output_topic(TOPICS["alerts"], S, J)

    def load(self, topic: str, key: str, record: Any) -> None:
        self.driver.create_input_topic(TOPICS[topic], S, J).pipe_input(key, to_json(record), 0)

    def send(self, passage: Passage) -> None:
        self.passages.pipe_input(passage.plate, J.serialize("", to_json(passage)).decode())

    def send_raw(self, key: str, text: str) -> None:
        self.passages.pipe_input(key, text, START_MS)


@pytest.fixture
def app() -> Iterator[Charging]:
    with TopologyTestDriver(charging_topology(), initial_wall_clock_time_ms=START_MS) as driver:
        charging = Charging(driver)
        for g in (A, B, FAR):
            charging.load("gantries", g.gantry_id, g)
            charging.load("tariffs", g.gantry_id, Tariff(g.gantry_id, 200, 1.5, ((7, 9),)))
        for v in VEHICLES:
            charging.load("vehicles", v.plate, v)
        for t in TAGS:
            charging.load("tags", t.tag_id, t)
        yield charging


def passage(
    pid: str,
    plate: str,
    at: int = OFF_PEAK,
    gantry: str = "A-G1",
    *,
    confidence: float = 0.99,
    tag: str | None = None,
    detected: int = 1,
) -> Passage:
    return Passage(pid, gantry, plate, confidence, tag, detected, at, 1)


def test_billing_account_mail_exempt_and_unknown_plate(app: Charging) -> None:
    app.send(passage("P1", "AB-123-C", tag="TAG-1"))
    app.send(passage("P2", "VN-200-D", detected=2))
    app.send(passage("P3", "EX-300-F", detected=3))
    app.send(passage("P4", "UN-999-Z", detected=3))
    app.send(passage("P5", "AB-123-C", at=START_MS))  # 08:00 UTC: inside the 7-9 peak band
    charges = app.charges.read_key_values_to_map()
    summary = {
        pid: (c["billing"], c["account_id"], c["vehicle_class"], c["amount_cents"])
        for pid, c in charges.items()
    }
    assert summary == {
        "P1": ("ACCOUNT", "ACC-1", 1, 200),
        "P2": ("MAIL", None, 2, 300),
        "P3": ("EXEMPT", "ACC-9", 3, 0),
        "P4": ("MAIL", None, 3, 500),  # unknown vehicle: billed by mail at the detected class
        "P5": ("ACCOUNT", "ACC-1", 1, 300),
    }
    assert charges["P1"]["plate"] == "AB-123-C" and charges["P1"]["gantry_id"] == "A-G1"
    assert charges["P1"]["captured_at"] == OFF_PEAK and charges["P1"]["charged_at"] > 0
    assert app.dlq.is_empty() and app.alerts.is_empty()


def test_a_repeated_read_is_charged_once(app: Charging) -> None:
    first = passage("P1", "AB-123-C")
    app.send(first)
    app.send(passage("P2", "AB-123-C", at=OFF_PEAK + 60_000, gantry="A-G2"))
    app.send(first)  # the device read it again, a little later in the stream
    assert [kv.key for kv in app.charges.read_key_values_to_list()] == ["P1", "P2"]


def test_low_confidence_goes_to_manual_review_once(app: Charging) -> None:
    unsure = passage("P1", "AB-123-C", confidence=0.55)
    app.send(unsure)
    app.send(unsure)
    dead = app.dlq.read_key_values_to_list()
    assert [(kv.key, kv.value["reason"]) for kv in dead] == [("P1", "MANUAL_REVIEW")]
    assert dead[0].value["record"] == to_json(unsure)
    assert "0.55" in dead[0].value["detail"]
    assert app.charges.is_empty()


def test_malformed_reads_go_to_the_dlq_with_the_reason(app: Charging) -> None:
    app.send_raw("AB-123-C", "{not json")
    app.send_raw("AB-123-C", '["a", "list"]')
    missing = to_json(passage("P7", "AB-123-C"))
    del missing["lane"]
    app.send_raw("AB-123-C", J.serialize("", missing).decode())
    app.send_raw("ZZ-000-Z", J.serialize("", to_json(passage("P8", "AB-123-C"))).decode())
    dead = app.dlq.read_key_values_to_list()
    assert [(kv.key, kv.value["reason"]) for kv in dead] == [
        ("AB-123-C", "MALFORMED"),
        ("AB-123-C", "MALFORMED"),
        ("P7", "MALFORMED"),
        ("P8", "MALFORMED"),
    ]
    assert dead[0].value["record"] == "{not json" and "not JSON" in dead[0].value["detail"]
    assert dead[0].value["passage_id"] is None and dead[2].value["passage_id"] == "P7"
    assert "not a JSON object" in dead[1].value["detail"]
    assert "'lane'" in dead[2].value["detail"]
    assert "is not the plate" in dead[3].value["detail"]
    assert app.charges.is_empty()


def test_unknown_gantry_goes_to_the_dlq(app: Charging) -> None:
    app.send(passage("P1", "AB-123-C", gantry="Q-G1"))
    (dead,) = app.dlq.read_key_values_to_list()
    assert (dead.key, dead.value["reason"]) == ("P1", "UNKNOWN_GANTRY")
    assert "Q-G1" in dead.value["detail"]


def test_tag_and_class_mismatches_raise_alerts_and_still_charge(app: Charging) -> None:
    app.send(passage("P1", "AB-123-C", tag="TAG-2"))  # VN-200-D's tag on AB-123-C
    app.send(passage("P2", "VN-200-D", detected=3, gantry="A-G2"))  # a van seen as a truck
    app.send(passage("P3", "AB-123-C", tag="TAG-1", at=OFF_PEAK + 3_600_000))  # all in order
    alerts = app.alerts.read_key_values_to_list()
    assert [(kv.key, kv.value["alert_type"], kv.value["passage_ids"]) for kv in alerts] == [
        ("AB-123-C", "TAG_MISMATCH", ["P1"]),
        ("VN-200-D", "CLASS_MISMATCH", ["P2"]),
    ]
    assert alerts[0].value["account_id"] == "ACC-2" and alerts[0].value["at"] == OFF_PEAK
    assert "registered class 2" in alerts[1].value["detail"]
    charges = app.charges.read_key_values_to_map()
    assert charges["P2"]["vehicle_class"] == 2  # charged at the registered class
    assert set(charges) == {"P1", "P2", "P3"}


def test_cloned_plate_pairs_raise_one_alert(app: Charging) -> None:
    app.send(passage("P1", "AB-123-C", at=OFF_PEAK))
    app.send(passage("P2", "AB-123-C", at=OFF_PEAK + 6 * 60_000, gantry="A-G2"))  # 100 km/h
    app.send(passage("P3", "AB-123-C", at=OFF_PEAK + 10 * 60_000, gantry="B-G9"))  # 89 km, 10 min
    app.send(passage("P3", "AB-123-C", at=OFF_PEAK + 10 * 60_000, gantry="B-G9"))  # repeated read
    alerts = app.alerts.read_key_values_to_list()
    assert [(kv.key, kv.value["alert_type"], kv.value["passage_ids"]) for kv in alerts] == [
        ("AB-123-C", "CLONED_PLATE", ["P1", "P3"]),
        ("AB-123-C", "CLONED_PLATE", ["P2", "P3"]),  # 79 km in 4 min
    ]
    assert "km/h" in alerts[0].value["detail"]


def test_a_late_read_is_still_paired_within_the_grace(app: Charging) -> None:
    app.send(passage("P2", "AB-123-C", at=OFF_PEAK + 5 * 60_000, gantry="B-G9"))
    app.send(passage("P9", "VN-200-D", at=OFF_PEAK + 7 * 60_000, detected=2))  # time moves on
    app.send(passage("P1", "AB-123-C", at=OFF_PEAK))  # captured first, arrives last
    (cloned,) = app.alerts.read_key_values_to_list()
    assert cloned.value["passage_ids"] == ["P1", "P2"]


def test_a_generated_world_yields_one_outcome_per_passage_and_the_injected_alerts() -> None:
    world = generate(7, 1200, vehicles=300)
    with TopologyTestDriver(charging_topology(), initial_wall_clock_time_ms=START_MS) as driver:
        app = Charging(driver)
        for topic, rows, key in (
            ("gantries", world.gantries, "gantry_id"),
            ("tariffs", world.tariffs, "gantry_id"),
            ("vehicles", world.vehicles, "plate"),
            ("tags", world.tags, "tag_id"),
        ):
            for row in rows:
                app.load(topic, getattr(row, key), row)
        for p in world.passages:
            app.send(p)
        charges = app.charges.read_key_values_to_list()
        dead = app.dlq.read_key_values_to_list()
        alerts = app.alerts.read_values_to_list()
    m = world.manifest
    outcomes = [kv.key for kv in charges] + [kv.key for kv in dead]
    assert sorted(outcomes) == sorted({p.passage_id for p in world.passages})
    assert {kv.key for kv in dead} == m.low_confidence
    by_type: dict[str, set[tuple[str, ...]]] = {}
    for a in alerts:
        by_type.setdefault(a["alert_type"], set()).add(tuple(a["passage_ids"]))
    assert by_type["CLONED_PLATE"] == set(m.cloned_pairs)
    assert by_type["TAG_MISMATCH"] == {(pid,) for pid in m.tag_mismatch}
    assert by_type["CLASS_MISMATCH"] == {(pid,) for pid in m.class_mismatch}
    billing = {kv.key: kv.value["billing"] for kv in charges}
    assert {pid for pid, b in billing.items() if b == "EXEMPT"} == m.exempt
    assert all(billing[pid] == "MAIL" for pid in m.unknown_plate)


def test_a_malformed_reference_row_reads_as_absent(app: Charging) -> None:
    app.driver.pipe_raw(TOPICS["gantries"], b"A-G2", b"{broken", 0)
    app.driver.pipe_raw(TOPICS["vehicles"], b"VN-200-D", b"not json", 1)
    app.send(passage("P1", "AB-123-C", gantry="A-G2"))
    app.send(passage("P2", "VN-200-D", detected=2))
    (dead,) = app.dlq.read_key_values_to_list()
    assert (dead.key, dead.value["reason"]) == ("P1", "UNKNOWN_GANTRY")
    charges = app.charges.read_key_values_to_map()
    assert charges["P2"]["billing"] == "MAIL"  # the vehicle row is unreadable: billed by mail
