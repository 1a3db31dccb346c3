"""The toll generator: deterministic for a seed, plausible traffic, and every injected anomaly recorded."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

from riverlog.labs.toll.generator import generate
from riverlog.labs.toll.model import CLONED_PLATE_KMH, LOW_CONFIDENCE, Tariff, charge_cents


def test_same_seed_same_world_other_seed_other_world() -> None:
    a, b, c = generate(3, 3000), generate(3, 3000), generate(4, 3000)
    assert a.passages == b.passages and a.manifest == b.manifest
    assert a.passages != c.passages


def test_only_injected_pairs_are_faster_than_the_cloned_plate_speed() -> None:
    world = generate(11, 12000)
    gantries = {g.gantry_id: g for g in world.gantries}
    by_plate = defaultdict(list)
    for passage in {p.passage_id: p for p in world.passages}.values():
        by_plate[passage.plate].append(passage)
    too_fast = set()
    for passages in by_plate.values():
        passages.sort(key=lambda p: p.captured_at)
        for before, after in itertools.pairwise(passages):
            km = gantries[before.gantry_id].distance_km(gantries[after.gantry_id])
            hours = (after.captured_at - before.captured_at) / 3_600_000
            if km > 0 and (hours == 0 or km / hours > CLONED_PLATE_KMH):
                too_fast.add((before.passage_id, after.passage_id))
    assert world.manifest.cloned_pairs
    assert too_fast == set(world.manifest.cloned_pairs)


def test_anomalies_are_recorded() -> None:
    world = generate(5, 10000)
    m = world.manifest
    counts = Counter(p.passage_id for p in world.passages)
    assert {pid for pid, n in counts.items() if n > 1} == m.duplicate
    registered = {v.plate for v in world.vehicles}
    assert {p.passage_id for p in world.passages if p.plate not in registered} == m.unknown_plate
    assert {
        p.passage_id for p in world.passages if p.plate_confidence < LOW_CONFIDENCE
    } == m.low_confidence
    exempt = {v.plate for v in world.vehicles if v.exempt}
    assert m.exempt and all(p.plate in exempt for p in world.passages if p.passage_id in m.exempt)
    assert m.out_of_order and m.tag_mismatch and m.class_mismatch
    assert m.failed_gantry is not None
    gantry, silent_from, silent_until = m.failed_gantry
    assert not [
        p
        for p in world.passages
        if p.gantry_id == gantry and silent_from <= p.captured_at < silent_until
    ]
    assert [p for p in world.passages if p.gantry_id == gantry]  # it works outside its failure


def test_out_of_order_reads_arrive_after_later_captures() -> None:
    world = generate(8, 5000)
    late = world.manifest.out_of_order
    position = {}
    for index, passage in enumerate(world.passages):
        position.setdefault(passage.passage_id, index)
    for pid in list(late)[:50]:
        index = position[pid]
        captured = world.passages[index].captured_at
        assert any(p.captured_at > captured for p in world.passages[:index])


def test_charge_rules() -> None:
    tariff = Tariff("G", 200, 1.5, ((7, 9),))
    off_peak = 12 * 3_600_000
    peak = 8 * 3_600_000
    assert charge_cents(tariff, 1, off_peak) == 200
    assert charge_cents(tariff, 3, off_peak) == 500
    assert charge_cents(tariff, 1, peak) == 300
    assert charge_cents(tariff, 4, peak) == 150
