"""The charging app: passages in; charges, dead letters and passage alerts out.

    toll.passages (key plate, event time = captured_at)
      -> check (Processor API, key kept): malformed -> dlq MALFORMED; a passage id already seen within
         DEDUP_WINDOW_MS -> dropped (window store `toll-passage-dedup`); confidence below
         LOW_CONFIDENCE -> dlq MANUAL_REVIEW
      -> left join gantries (GlobalKTable, by gantry_id), tariffs (GlobalKTable, by gantry_id),
         tags (GlobalKTable, by tag_id), vehicles (KTable `toll-vehicles`, co-partitioned by plate)
      -> rate: unknown gantry or no tariff -> dlq UNKNOWN_GANTRY; otherwise one charge
         (exempt -> 0 EXEMPT, unknown vehicle or vehicle without account -> MAIL, else ACCOUNT),
         TAG_MISMATCH / CLASS_MISMATCH alerts
      -> charges to toll.charges (key passage id), alerts to toll.alerts (key plate)
      -> sightings self-joined on plate within CLONED_WINDOW_MS: two passages at different gantries
         implying more than CLONED_PLATE_KMH -> CLONED_PLATE (one alert per pair)

Invariants: every distinct passage id leaves exactly one record, in toll.charges or toll.dlq (a
repeated read of an id inside the de-duplication window is dropped before anything is emitted); the
key is the plate from the source to the sinks of alerts, so the vehicle join and the self join need
no repartition topic; all state lives in changelogged stores (the dedup window store and the join's
two window stores), so under exactly_once_v2 a restart replays to the same outputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from riverlog.labs.toll.apps.inputs import (
    LenientJsonSerde,
    Malformed,
    ReferenceJsonSerde,
    check_passage,
    normalise_plate,
    passage_time,
    reference_time,
)
from riverlog.labs.toll.model import (
    BILLING_ACCOUNT,
    BILLING_EXEMPT,
    BILLING_MAIL,
    CLASS_MULTIPLIER,
    CLONED_PLATE_KMH,
    LOW_CONFIDENCE,
    TOPICS,
    Gantry,
    Tariff,
    charge_cents,
)
from riverlog.streams import (
    Branched,
    Consumed,
    JoinWindows,
    KeyValue,
    Materialized,
    Processor,
    ProcessorContext,
    Produced,
    Record,
    Serdes,
    Stores,
    StreamJoined,
    StreamsBuilder,
    Topology,
)

DEDUP_STORE = "toll-passage-dedup"
DEDUP_WINDOW_MS = 10 * 60_000  # repeated device reads arrive within seconds; keep ten minutes
CLONED_WINDOW_MS = 30 * 60_000  # covers gantries up to 125 km apart at 250 km/h
CLONED_GRACE_MS = 5 * 60_000  # how late (in event time) a read may arrive and still be paired
VEHICLES_STORE = "toll-vehicles"


@dataclass(frozen=True)
class ToDlq:
    """A passage on its way to toll.dlq, with its record key there (the passage id when known)."""

    dead_letter: dict[str, Any]
    key: str | None


@dataclass
class Rated:
    """A charged passage: its charge, its alerts, and the sighting the cloned-plate join pairs."""

    charge: dict[str, Any]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    sighting: list[Any] = field(default_factory=list)  # [passage id, gantry id, lat, lon, at]


def dead_letter(
    passage_id: str | None, reason: str, detail: str, record: Any, key: str | None = None
) -> ToDlq:
    """A dead letter keyed by its passage id, or by `key` (the input's key) when it has none."""
    value = {"passage_id": passage_id, "reason": reason, "detail": detail, "record": record}
    return ToDlq(value, passage_id if passage_id is not None else key)


def alert(
    alert_type: str,
    plate: str | None,
    account_id: str | None,
    passage_ids: list[str],
    detail: str,
    at: int,
) -> dict[str, Any]:
    return {
        "alert_type": alert_type,
        "plate": plate,
        "account_id": account_id,
        "passage_ids": passage_ids,
        "detail": detail,
        "at": at,
    }


class PassageCheck(Processor):
    """Validate, de-duplicate by passage id, and send low-confidence reads to manual review.

    Keeps the record key (it runs under `process_values`). The window store holds each passage id
    at its capture time; an id found within DEDUP_WINDOW_MS either side is a repeated read.
    """

    def __init__(self, store_name: str = DEDUP_STORE, window_ms: int = DEDUP_WINDOW_MS) -> None:
        self.store_name = store_name
        self.window_ms = window_ms

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.seen = context.get_state_store(self.store_name)

    def process(self, record: Record) -> None:
        value = record.value
        if value is None:  # a tombstone on a fact topic means nothing
            self.context.record_dropped(self.context.current_node_name(), "null passage")
            return
        if isinstance(value, Malformed):
            self._forward(
                record, dead_letter(None, "MALFORMED", value.error, value.text, record.key)
            )
            return
        pid = value.get("passage_id")
        if isinstance(pid, str) and pid:
            if self._seen_before(pid, record.timestamp):
                return
            self.seen.put(pid, record.timestamp, record.timestamp)
        problem = check_passage(value)
        if problem is None and record.key != normalise_plate(value["plate"]):
            problem = f"record key {record.key!r} is not the plate {value['plate']!r}"
        if problem is not None:
            known = pid if isinstance(pid, str) and pid else None
            self._forward(record, dead_letter(known, "MALFORMED", problem, value, record.key))
            return
        if value["plate_confidence"] < LOW_CONFIDENCE:
            detail = f"plate read with confidence {value['plate_confidence']} < {LOW_CONFIDENCE}"
            self._forward(record, dead_letter(pid, "MANUAL_REVIEW", detail, value))
            return
        self._forward(record, {**value, "plate": normalise_plate(value["plate"])})

    def _seen_before(self, pid: str, at: int) -> bool:
        hits = self.seen.fetch(pid, at - self.window_ms, at + self.window_ms)
        try:
            return next(hits, None) is not None
        finally:
            hits.close()

    def _forward(self, record: Record, value: Any) -> None:
        self.context.forward(record.with_value(value))


class PassageCheckSupplier:
    """Supplies `PassageCheck` with its store (Kafka's `ProcessorSupplier.stores()`)."""

    def get(self) -> PassageCheck:
        return PassageCheck()

    def stores(self) -> list[Any]:
        supplier = Stores.in_memory_window_store(
            DEDUP_STORE,
            timedelta(milliseconds=3 * DEDUP_WINDOW_MS),
            timedelta(milliseconds=DEDUP_WINDOW_MS),
            False,
        )
        return [Stores.window_store_builder(supplier, Serdes.String(), Serdes.Long())]


def _tariff(t: dict[str, Any]) -> Tariff:
    return Tariff(
        t["gantry_id"],
        int(t["base_cents"]),
        float(t["peak_multiplier"]),
        tuple((int(a), int(b)) for a, b in t["peak_hours"]),
    )


def rate(enriched: dict[str, Any]) -> ToDlq | Rated:
    """Charge one enriched passage (`{"p", "gantry", "tariff", "tag", "vehicle"}`)."""
    p, gantry, tariff = enriched["p"], enriched["gantry"], enriched["tariff"]
    vehicle, tag = enriched["vehicle"], enriched["tag"]
    pid, plate, at = p["passage_id"], p["plate"], p["captured_at"]
    if gantry is None:
        return dead_letter(
            pid, "UNKNOWN_GANTRY", f"gantry {p['gantry_id']!r} is not in toll.gantries", p
        )
    if tariff is None:
        return dead_letter(
            pid, "UNKNOWN_GANTRY", f"gantry {p['gantry_id']!r} has no tariff in toll.tariffs", p
        )
    try:
        account, billing, vehicle_class = _billing(p, vehicle)
        amount = (
            0 if billing == BILLING_EXEMPT else charge_cents(_tariff(tariff), vehicle_class, at)
        )
        lat, lon = float(gantry["lat"]), float(gantry["lon"])
    except (KeyError, TypeError, ValueError) as e:
        return dead_letter(
            pid, "MALFORMED", f"reference data for this passage is invalid: {e!r}", p
        )
    rated = Rated(
        {
            "passage_id": pid,
            "plate": plate,
            "account_id": account,
            "gantry_id": p["gantry_id"],
            "vehicle_class": vehicle_class,
            "amount_cents": amount,
            "billing": billing,
            "captured_at": at,
            "charged_at": int(time.time() * 1000),
        },
        sighting=[pid, p["gantry_id"], lat, lon, at],
    )
    if p["tag_id"] is not None and tag is not None and normalise_plate(tag["plate"]) != plate:
        detail = f"tag {p['tag_id']} belongs to {tag['plate']}, the camera read {plate}"
        rated.alerts.append(alert("TAG_MISMATCH", plate, tag.get("account_id"), [pid], detail, at))
    if vehicle is not None and p["detected_class"] != vehicle["vehicle_class"]:
        detail = (
            f"detected class {p['detected_class']}, registered class {vehicle['vehicle_class']}"
        )
        rated.alerts.append(alert("CLASS_MISMATCH", plate, account, [pid], detail, at))
    return rated


def _billing(p: dict[str, Any], vehicle: dict[str, Any] | None) -> tuple[str | None, str, int]:
    """(account id, billing, vehicle class): the registered class wins over the detected one."""
    if vehicle is None:
        return None, BILLING_MAIL, p["detected_class"]
    vehicle_class = vehicle["vehicle_class"]
    if vehicle_class not in CLASS_MULTIPLIER:
        raise ValueError(f"vehicle {vehicle.get('plate')!r} has unknown class {vehicle_class!r}")
    if vehicle.get("exempt"):
        return vehicle.get("account_id"), BILLING_EXEMPT, vehicle_class
    if vehicle.get("account_id") is None:
        return None, BILLING_MAIL, vehicle_class
    return vehicle["account_id"], BILLING_ACCOUNT, vehicle_class


def cloned_plate(plate: str, pair: tuple[list[Any], list[Any]]) -> list[dict[str, Any]]:
    """A CLONED_PLATE alert when two sightings of `plate` are too far apart for the time between.

    A sighting is `[passage id, gantry id, lat, lon, captured at]` (compact: the join stores every
    sighting twice). The self join emits each pair more than once (in both orders, and each record
    with itself); only the order with the smaller passage id first counts: one alert per pair.
    """
    a, b = pair
    if a[0] >= b[0] or a[1] == b[1]:
        return []
    first, second = (a, b) if a[4] <= b[4] else (b, a)
    km = Gantry(first[1], "", 0.0, first[2], first[3], 0).distance_km(
        Gantry(second[1], "", 0.0, second[2], second[3], 0)
    )
    hours = (second[4] - first[4]) / 3_600_000
    if km <= 0 or (hours > 0 and km / hours <= CLONED_PLATE_KMH):
        return []
    speed = "at the same instant" if hours == 0 else f"{km / hours:.0f} km/h"
    detail = (
        f"{km:.1f} km between {first[1]} and {second[1]} in "
        f"{(second[4] - first[4]) / 1000:.0f} s ({speed} > {CLONED_PLATE_KMH:.0f} km/h)"
    )
    return [alert("CLONED_PLATE", plate, None, [first[0], second[0]], detail, second[4])]


def _attach(name: str) -> Any:
    def joiner(enriched: dict[str, Any], other: Any) -> dict[str, Any]:
        enriched[name] = other  # the value travels one path only: updating it in place is safe
        return enriched

    return joiner


def charging_topology() -> Topology:
    s, j, ref = Serdes.String(), Serdes.Json(), ReferenceJsonSerde()
    b = StreamsBuilder()
    gantries = b.global_table(
        TOPICS["gantries"], Consumed.with_(s, ref), Materialized.as_("toll-gantries")
    )
    tariffs = b.global_table(
        TOPICS["tariffs"], Consumed.with_(s, ref), Materialized.as_("toll-tariffs")
    )
    tags = b.global_table(TOPICS["tags"], Consumed.with_(s, ref), Materialized.as_("toll-tags"))
    vehicles = b.table(
        TOPICS["vehicles"],
        Consumed.with_(s, ref, reference_time),
        Materialized.as_(VEHICLES_STORE).with_key_serde(s).with_value_serde(ref),
    )
    passages = b.stream(TOPICS["passages"], Consumed.with_(s, LenientJsonSerde(), passage_time))
    checked = passages.process_values(PassageCheckSupplier(), named="toll-check-passage").split(
        "toll-checked-"
    )
    routes = checked.branch(lambda _k, v: isinstance(v, ToDlq), Branched.as_("dlq")).default_branch(
        Branched.as_("ok")
    )
    enriched = (
        routes["toll-checked-ok"]
        .map_values(lambda p: {"p": p, "gantry": None, "tariff": None, "tag": None})
        .left_join(gantries, lambda _k, e: e["p"]["gantry_id"], _attach("gantry"))
        .left_join(tariffs, lambda _k, e: e["p"]["gantry_id"], _attach("tariff"))
        .left_join(tags, lambda _k, e: e["p"]["tag_id"], _attach("tag"))
        .left_join(vehicles, _attach("vehicle"))
    )
    rated = enriched.map_values(rate).split("toll-rated-")
    outcomes = rated.branch(lambda _k, v: isinstance(v, ToDlq), Branched.as_("dlq")).default_branch(
        Branched.as_("charged")
    )
    dlq_out = Produced.with_(s, j)
    for name in ("toll-checked-dlq", "toll-rated-dlq"):
        source = routes if name.startswith("toll-checked") else outcomes
        source[name].map(lambda _k, v: KeyValue(v.key, v.dead_letter)).to(TOPICS["dlq"], dlq_out)
    charged = outcomes["toll-rated-charged"]
    charged.map(lambda _k, r: KeyValue(r.charge["passage_id"], r.charge)).to(
        TOPICS["charges"], Produced.with_(s, j)
    )
    charged.flat_map_values(lambda r: r.alerts).to(TOPICS["alerts"], Produced.with_(s, j))
    sightings = charged.map_values(lambda r: r.sighting)
    sightings.join(
        sightings,
        lambda a, b_: (a, b_),
        JoinWindows.of_time_difference_and_grace(
            timedelta(milliseconds=CLONED_WINDOW_MS), timedelta(milliseconds=CLONED_GRACE_MS)
        ),
        StreamJoined.with_(s, j, j).with_store_name("toll-cloned-plate"),
    ).flat_map_values(cloned_plate).to(TOPICS["alerts"], Produced.with_(s, j))
    return b.build()
