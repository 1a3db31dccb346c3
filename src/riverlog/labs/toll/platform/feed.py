"""Feeding the generator's world in: the reference files the FileStreamSource reads (gantries and
tariffs as JSON lines), the PostgreSQL rows the JDBC source reads (accounts, vehicles, tags), and the
facts produced straight to Kafka (passages keyed by plate, top-ups keyed by account id).

Deterministic per seed: the same seed writes the same files, rows and records in the same order.
Records keep their produce time as Kafka timestamp (so reference rows loaded first are older than the
passages that join them); event time is the `captured_at` / `paid_at` field.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from riverlog.labs.toll.generator import TollWorld
from riverlog.labs.toll.model import TOPICS, to_json


def _line(record: Any) -> str:
    return json.dumps(to_json(record), separators=(",", ":"))


def write_reference_files(world: TollWorld, directory: Path) -> list[Path]:
    """`gantries.jsonl` and `tariffs.jsonl`, replaced atomically (FileStreamSource tails them: a
    rewrite with the same content appends nothing new only when the file already holds it)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, records in (("gantries", world.gantries), ("tariffs", world.tariffs)):
        path = directory / f"{name}.jsonl"
        text = "".join(_line(r) + "\n" for r in records)
        if path.exists() and path.read_text() == text:
            out.append(path)
            continue
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        out.append(path)
    return out


@dataclass
class FeedStats:
    passages: int = 0
    payments: int = 0
    seconds: float = 0.0


def produce_facts(
    world: TollWorld,
    bootstrap: str,
    *,
    rate: float | None = None,
    client_config: dict[str, str] | None = None,
    progress: Callable[[FeedStats], None] | None = None,
) -> FeedStats:
    """Top-ups first, then the passages in emission order; `rate` passages/s when given (else as fast
    as the producer goes). Idempotent producer, acks=all; raises if any record is not delivered."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            # Java's default partitioner, as the streams apps' own producers use: a plate's passages
            # land on the partition its vehicle row and the apps' repartitioned records do
            "partitioner": "murmur2_random",
            **(client_config or {}),
        }
    )
    failures: list[str] = []

    def delivered(error: Any, _msg: Any) -> None:
        if error is not None:
            failures.append(str(error))

    stats = FeedStats()
    started = time.monotonic()
    for payment in world.payments:
        producer.produce(
            TOPICS["payments"],
            key=payment.account_id.encode(),
            value=_line(payment).encode(),
            on_delivery=delivered,
        )
        stats.payments += 1
    for index, passage in enumerate(world.passages):
        if rate:
            ahead = started + index / rate - time.monotonic()
            if ahead > 0:
                producer.poll(ahead)
        while True:
            try:
                producer.produce(
                    TOPICS["passages"],
                    key=passage.plate.encode(),
                    value=_line(passage).encode(),
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        stats.passages += 1
        if progress is not None and stats.passages % 1000 == 0:
            stats.seconds = time.monotonic() - started
            progress(stats)
    remaining = producer.flush(60)
    stats.seconds = time.monotonic() - started
    if remaining or failures:
        raise RuntimeError(
            f"{remaining} records not delivered, {len(failures)} failed"
            + (f": {failures[0]}" if failures else "")
        )
    return stats
