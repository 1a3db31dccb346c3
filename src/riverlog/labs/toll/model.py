"""The toll lab's records and topics. Every record is JSON; keys are chosen for co-partitioning:
passages and vehicles are keyed by plate (the stream-table join needs no repartition), accounts and
payments by account id, gantries and tariffs by gantry id (gantries are a GlobalKTable).

Money is in integer cents; times are epoch milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

TOPICS = {
    # reference tables (compacted)
    "gantries": "toll.gantries",
    "tariffs": "toll.tariffs",
    "vehicles": "toll.vehicles",
    "tags": "toll.tags",
    "accounts": "toll.accounts",
    # facts
    "passages": "toll.passages",
    "charges": "toll.charges",
    "payments": "toll.payments",
    "alerts": "toll.alerts",
    "invoices": "toll.invoices",
    "dlq": "toll.dlq",
}
REFERENCE_TOPICS = ("gantries", "tariffs", "vehicles", "tags", "accounts")

# vehicle classes and their tariff multipliers
CLASS_MULTIPLIER = {1: 1.0, 2: 1.5, 3: 2.5, 4: 0.5}  # car, van, truck, motorcycle
CLASS_NAMES = {1: "car", 2: "van", 3: "truck", 4: "motorcycle"}
CLONED_PLATE_KMH = 250.0
LOW_CONFIDENCE = 0.8  # plate reads below this go to manual review


@dataclass(frozen=True)
class Gantry:
    gantry_id: str
    road: str
    km: float
    lat: float
    lon: float
    lanes: int

    def distance_km(self, other: Gantry) -> float:
        """Great-circle distance (haversine, Earth radius 6371 km)."""
        p1, p2 = math.radians(self.lat), math.radians(other.lat)
        dp, dl = p2 - p1, math.radians(other.lon - self.lon)
        a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * 6371.0 * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Tariff:
    gantry_id: str
    base_cents: int
    peak_multiplier: float
    peak_hours: tuple[tuple[int, int], ...]  # [start, end) hours of day, UTC


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    email: str
    low_balance_cents: int


@dataclass(frozen=True)
class Vehicle:
    plate: str
    vehicle_class: int
    account_id: str | None  # None: no account, billed by mail
    exempt: bool  # exempt fleet (emergency services, buses)


@dataclass(frozen=True)
class Tag:
    tag_id: str
    plate: str
    account_id: str


@dataclass(frozen=True)
class Passage:
    passage_id: str  # a repeated device read repeats the id
    gantry_id: str
    plate: str
    plate_confidence: float
    tag_id: str | None
    detected_class: int
    captured_at: int  # event time, ms
    lane: int


@dataclass(frozen=True)
class Payment:
    payment_id: str
    account_id: str
    amount_cents: int
    paid_at: int


def to_json(record: Any) -> dict[str, Any]:
    """A record as the JSON object written to its topic (tuples become lists)."""
    return asdict(record)


def charge_cents(tariff: Tariff, vehicle_class: int, captured_at: int) -> int:
    """The toll for one passage: base times the class multiplier, times the peak multiplier inside a peak band."""
    hour = (captured_at // 3_600_000) % 24
    peak = any(start <= hour < end for start, end in tariff.peak_hours)
    amount = tariff.base_cents * CLASS_MULTIPLIER[vehicle_class]
    if peak:
        amount *= tariff.peak_multiplier
    return round(amount)


# -- outputs (written by the toll apps, riverlog.labs.toll.apps) -----------------------------------
TOPICS.setdefault("balances", "toll.balances")  # the balance table's changelog, as a plain topic

BILLING_ACCOUNT, BILLING_MAIL, BILLING_EXEMPT = "ACCOUNT", "MAIL", "EXEMPT"
DLQ_REASONS = ("MANUAL_REVIEW", "UNKNOWN_GANTRY", "MALFORMED")
ALERT_TYPES = ("CLONED_PLATE", "LOW_BALANCE", "TAG_MISMATCH", "CLASS_MISMATCH", "UNPAID")


@dataclass(frozen=True)
class Charge:
    """`toll.charges`, keyed by passage id: one per distinct passage that was not sent to the dlq."""

    passage_id: str
    plate: str
    account_id: str | None  # None when billed by mail
    gantry_id: str
    vehicle_class: int
    amount_cents: int  # 0 when exempt
    billing: str  # ACCOUNT | MAIL | EXEMPT
    captured_at: int
    charged_at: int  # wall-clock ms when the app charged it


@dataclass(frozen=True)
class DeadLetter:
    """`toll.dlq`, keyed by passage id (the record key when the id could not be read)."""

    passage_id: str | None
    reason: str  # MANUAL_REVIEW | UNKNOWN_GANTRY | MALFORMED
    detail: str
    record: Any  # the input JSON object, or the raw text when it was not a JSON object


@dataclass(frozen=True)
class Alert:
    """`toll.alerts`, keyed by plate (by account id for LOW_BALANCE and UNPAID)."""

    alert_type: str
    plate: str | None
    account_id: str | None
    passage_ids: tuple[str, ...]
    detail: str
    at: int  # event time, ms


@dataclass(frozen=True)
class Balance:
    """`toll.balances`, keyed by account id: top-ups minus ACCOUNT charges, after each change."""

    account_id: str
    balance_cents: int
    updated_at: int


@dataclass(frozen=True)
class Invoice:
    """`toll.invoices`, keyed by plate: the MAIL charges of one plate in one UTC day."""

    invoice_id: str
    plate: str
    amount_cents: int
    passage_ids: tuple[str, ...]
    period_start: int
    period_end: int
