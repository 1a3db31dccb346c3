"""A deterministic toll world and passage stream for a seed, with the anomalies the processing rules
must catch injected on purpose and recorded in a manifest, so tests can check each rule.

Ordinary traffic is physically plausible: vehicles drive trips along a road at 80-120 km/h and rest an
hour between trips, so only injected pairs can look like cloned plates. Randomness comes
only from `random.Random(seed).random()`, whose sequence Python keeps stable across versions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from riverlog.labs.toll.model import (
    CLASS_MULTIPLIER,
    CLONED_PLATE_KMH,
    LOW_CONFIDENCE,
    Account,
    Gantry,
    Passage,
    Payment,
    Tag,
    Tariff,
    Vehicle,
)

START_MS = 1_767_254_400_000  # 2026-01-01T08:00:00Z (a morning peak)
ROADS = (("A1", 52.00, 4.90, 0.0), ("A2", 52.10, 5.10, 90.0), ("A4", 51.80, 4.60, 210.0))

# share of passages with each injected anomaly
RATES = {
    "unknown_plate": 0.03,
    "low_confidence": 0.02,
    "duplicate": 0.02,
    "out_of_order": 0.03,
    "tag_mismatch": 0.01,
    "class_mismatch": 0.01,
}
CLONE_EVERY = 400  # one cloned-plate pair per this many passages
TRIP_EVERY_MS = 1_500  # simulated time between trip starts


@dataclass
class Manifest:
    """What the generator injected, by passage id."""

    unknown_plate: set[str] = field(default_factory=set)
    low_confidence: set[str] = field(default_factory=set)
    duplicate: set[str] = field(default_factory=set)
    out_of_order: set[str] = field(default_factory=set)
    tag_mismatch: set[str] = field(default_factory=set)
    class_mismatch: set[str] = field(default_factory=set)
    exempt: set[str] = field(default_factory=set)
    cloned_pairs: list[tuple[str, str]] = field(default_factory=list)
    failed_gantry: tuple[str, int, int] | None = None  # gantry id, silent from, until (ms)


@dataclass
class TollWorld:
    gantries: list[Gantry]
    tariffs: list[Tariff]
    accounts: list[Account]
    vehicles: list[Vehicle]
    tags: list[Tag]
    payments: list[Payment]  # opening top-ups
    passages: list[Passage]  # in emission order (duplicates repeated, out-of-order ones late)
    manifest: Manifest


class _Draw:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def unit(self) -> float:
        return self._rng.random()

    def below(self, n: int) -> int:
        return min(int(self._rng.random() * n), n - 1)

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self._rng.random()

    def chance(self, p: float) -> bool:
        return self._rng.random() < p


def _plate(draw: _Draw, prefix: str | None = None) -> str:
    letters = "BDFGHJKLNPRSTVXZ"
    head = prefix or "".join(letters[draw.below(len(letters))] for _ in range(2))
    return f"{head}-{draw.below(900) + 100}-{letters[draw.below(len(letters))]}"


def build_reference(
    draw: _Draw, vehicles: int
) -> tuple[list[Gantry], list[Tariff], list[Account], list[Vehicle], list[Tag]]:
    gantries = []
    for road, lat, lon, _offset in ROADS:
        km = 0.0
        for index in range(4):
            km += draw.between(8.0, 15.0)
            gantries.append(
                Gantry(
                    f"{road}-G{index + 1}", road, round(km, 1), round(lat + km / 111.0, 5), lon, 3
                )
            )
    tariffs = [
        Tariff(g.gantry_id, 150 + 10 * draw.below(20), 1.5, ((7, 9), (16, 19))) for g in gantries
    ]
    accounts = [
        Account(f"ACC-{n:05d}", f"Customer {n}", f"customer{n}@example.com", 1000)
        for n in range(1, max(2, int(vehicles * 0.8)) + 1)
    ]
    fleet, taken = [], set()
    for n in range(vehicles):
        exempt = n % 50 == 0  # 2 %: an emergency / bus fleet on one account
        plate = _plate(draw, "EX" if exempt else None)
        while plate in taken:
            plate = _plate(draw, "EX" if exempt else None)
        taken.add(plate)
        account = (
            None
            if draw.chance(0.1) and not exempt
            else accounts[draw.below(len(accounts))].account_id
        )
        vehicle_class = 1 if draw.chance(0.7) else 2 + draw.below(3)
        fleet.append(Vehicle(plate, vehicle_class, account, exempt))
    tags = [
        Tag(f"TAG-{i:06d}", v.plate, v.account_id)
        for i, v in enumerate(fleet)
        if v.account_id is not None and draw.chance(0.7)
    ]
    return gantries, tariffs, accounts, fleet, tags


def generate(seed: int, passages: int, *, vehicles: int = 2000) -> TollWorld:
    """The world for `seed` with about `passages` ordinary passages (plus injected duplicates and clones).

    Traffic is made of trips: a vehicle enters a road at some gantry and passes the following ones at
    80-120 km/h; its next trip starts at least an hour after the last one ends. Event times are
    simulated (a trip starts every 1.5 s); how fast they are sent is the caller's business.
    """
    draw = _Draw(seed)
    gantries, tariffs, accounts, fleet, tags = build_reference(draw, vehicles)
    tag_of = {t.plate: t.tag_id for t in tags}
    manifest = Manifest()
    victims = [v for v in fleet if not v.exempt][-max(1, len(fleet) // 100) :]  # only ever cloned
    drivers = [v for v in fleet if v not in victims]
    payments = [
        Payment(f"PAY-{n:06d}", a.account_id, 2000 + 100 * draw.below(80), START_MS - 60_000)
        for n, a in enumerate(accounts)
    ]
    roads: dict[str, list[Gantry]] = {}
    for gantry in gantries:
        roads.setdefault(gantry.road, []).append(gantry)
    span_ms = int(passages / 2.5 * TRIP_EVERY_MS)
    failed = gantries[draw.below(len(gantries))]
    silent = (START_MS + int(span_ms * 0.4), START_MS + int(span_ms * 0.6))
    manifest.failed_gantry = (failed.gantry_id, *silent)
    free_at: dict[str, int] = {}
    timeline: list[Passage] = []
    trip_start, n = START_MS, 0
    while n < passages:
        trip_start += TRIP_EVERY_MS
        vehicle = drivers[draw.below(len(drivers))]
        if free_at.get(vehicle.plate, 0) > trip_start:
            continue
        road = roads[ROADS[draw.below(len(ROADS))][0]]
        first = draw.below(len(road))
        speed_kmh = draw.between(80.0, 120.0)
        at = trip_start
        for index in range(first, len(road)):
            gantry = road[index]
            if index > first:
                at += int((gantry.km - road[index - 1].km) / speed_kmh * 3_600_000)
            if gantry is failed and silent[0] <= at < silent[1]:
                continue
            timeline.append(
                _passage(draw, f"P{seed}-{n:07d}", vehicle, gantry, at, tag_of, tags, manifest)
            )
            n += 1
        free_at[vehicle.plate] = at + 3_600_000
        if n // CLONE_EVERY > len(manifest.cloned_pairs) and len(manifest.cloned_pairs) < len(
            victims
        ):
            victim = victims[len(manifest.cloned_pairs)]
            timeline.extend(
                _clone_pair(f"P{seed}-{n:07d}", victim, gantries, tag_of, trip_start, manifest)
            )
    timeline.sort(key=lambda p: p.captured_at)
    return TollWorld(
        gantries,
        tariffs,
        accounts,
        fleet,
        tags,
        payments,
        _emission_order(draw, timeline, manifest),
        manifest,
    )


def _passage(
    draw: _Draw,
    pid: str,
    vehicle: Vehicle,
    gantry: Gantry,
    at: int,
    tag_of: dict[str, str],
    tags: list[Tag],
    manifest: Manifest,
) -> Passage:
    """One read of a vehicle at a gantry, maybe with an injected anomaly (recorded in the manifest)."""
    plate, detected, confidence = (
        vehicle.plate,
        vehicle.vehicle_class,
        round(draw.between(0.92, 1.0), 3),
    )
    tag = tag_of.get(vehicle.plate)
    if draw.chance(RATES["unknown_plate"]):
        plate, tag = _plate(draw, "UN"), None  # "UN" plates are never registered
        manifest.unknown_plate.add(pid)
    elif draw.chance(RATES["low_confidence"]):
        confidence = round(draw.between(0.5, LOW_CONFIDENCE - 0.01), 3)
        manifest.low_confidence.add(pid)
    else:
        if tag is not None and draw.chance(RATES["tag_mismatch"] / 0.7):
            other = tags[draw.below(len(tags))]
            if other.plate != vehicle.plate:
                tag = other.tag_id
                manifest.tag_mismatch.add(pid)
        if draw.chance(RATES["class_mismatch"]):
            detected = 1 + (vehicle.vehicle_class % len(CLASS_MULTIPLIER))
            manifest.class_mismatch.add(pid)
        if vehicle.exempt:
            manifest.exempt.add(pid)
    return Passage(
        pid, gantry.gantry_id, plate, confidence, tag, detected, at, 1 + draw.below(gantry.lanes)
    )


def _clone_pair(
    pid: str,
    vehicle: Vehicle,
    gantries: list[Gantry],
    tag_of: dict[str, str],
    at: int,
    manifest: Manifest,
) -> tuple[Passage, Passage]:
    """One plate at the two farthest-apart gantries, at twice the cloned-plate speed apart."""
    first, second = gantries[0], gantries[-1]
    gap_ms = int(first.distance_km(second) / (CLONED_PLATE_KMH * 2) * 3_600_000)
    tag = tag_of.get(vehicle.plate)
    a = Passage(
        f"{pid}-C1", first.gantry_id, vehicle.plate, 0.99, tag, vehicle.vehicle_class, at, 1
    )
    b = Passage(
        f"{pid}-C2",
        second.gantry_id,
        vehicle.plate,
        0.99,
        None,
        vehicle.vehicle_class,
        at + gap_ms,
        2,
    )
    manifest.cloned_pairs.append((a.passage_id, b.passage_id))
    return a, b


def _emission_order(draw: _Draw, timeline: list[Passage], manifest: Manifest) -> list[Passage]:
    """Capture order, except: some reads arrive late (out of order), some twice (duplicates)."""
    out: list[Passage] = []
    delayed: list[tuple[int, list[Passage]]] = []
    for index, passage in enumerate(timeline):
        while delayed and delayed[0][0] <= index:
            out.extend(delayed.pop(0)[1])
        if passage.passage_id.endswith(("-C1", "-C2")):
            out.append(passage)
            continue
        reads = [passage]
        if draw.chance(RATES["duplicate"]):
            reads.append(passage)  # the device read it twice
            manifest.duplicate.add(passage.passage_id)
        if draw.chance(RATES["out_of_order"]):
            delayed.append((index + 5 + draw.below(50), reads))
            delayed.sort(key=lambda item: item[0])
            manifest.out_of_order.add(passage.passage_id)
        else:
            out.extend(reads)
    for _, reads in delayed:
        out.extend(reads)
    return out
