"""Run an exercise without a broker: the streams topology in a `TopologyTestDriver`, or the SQL
statements in ksqlDB-style query-validation drivers (`riverlog.sql.qtt`). Both see the same records a
broker run sees — keys, JSON values, timestamps, the end-of-input marks — fed in timestamp order
across the two topics, as a task with both topics would take them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence

from riverlog.labs.taxi.data import TaxiFare, TaxiRide
from riverlog.labs.taxi.exercises import Exercise, Topics
from riverlog.labs.taxi.records import (
    encode_fare,
    encode_key,
    encode_ride,
    fare_marks,
    ride_marks,
)
from riverlog.sql.engine import Engine, EngineConfig
from riverlog.sql.qtt import DriverRuntime, MemoryKafka
from riverlog.streams import Serdes
from riverlog.streams.testing import TopologyTestDriver

RawRecord = tuple[str, bytes, bytes, int]  # topic, key, value, timestamp


def input_records(
    exercise: Exercise,
    topics: Topics,
    rides: Sequence[TaxiRide],
    fares: Sequence[TaxiFare],
    with_marks: bool = True,
) -> list[RawRecord]:
    """The exercise's input records, each topic in its own order, merged by timestamp."""
    streams: list[list[RawRecord]] = []
    if "rides" in exercise.inputs:
        all_rides = [*rides, *(ride_marks(rides) if with_marks else [])]
        streams.append(
            [(topics.rides, encode_key(r.ride_id), encode_ride(r), r.event_time) for r in all_rides]
        )
    if "fares" in exercise.inputs:
        all_fares = [*fares, *(fare_marks(fares) if with_marks else [])]
        streams.append(
            [(topics.fares, encode_key(f.ride_id), encode_fare(f), f.start_time) for f in all_fares]
        )
    if len(streams) == 1:
        return streams[0]
    return list(_merge_by_head(streams))


def _merge_by_head(streams: list[list[RawRecord]]) -> Iterator[RawRecord]:
    """Take the stream whose next record has the lowest timestamp (the first stream on a tie)."""
    heads = [(s[0][3], i, 0) for i, s in enumerate(streams) if s]
    heapq.heapify(heads)
    while heads:
        _ts, i, pos = heapq.heappop(heads)
        yield streams[i][pos]
        if pos + 1 < len(streams[i]):
            heapq.heappush(heads, (streams[i][pos + 1][3], i, pos + 1))


def run_streams(
    exercise: Exercise,
    rides: Sequence[TaxiRide] = (),
    fares: Sequence[TaxiFare] = (),
    topics: Topics = Topics(),
) -> list[str]:
    """The lines the streams version prints for this bounded input."""
    topology = exercise.topology(topics)
    with TopologyTestDriver(topology, {"application.id": f"taxi-{exercise.name}"}) as driver:
        for topic, key, value, ts in input_records(exercise, topics, rides, fares):
            driver.pipe_raw(topic, key, value, ts)
        output = driver.create_output_topic(topics.output, Serdes.Bytes(), Serdes.Bytes())
        lines = [exercise.render(out.key, out.value) for out in output.read_records_to_list()]
    return [line for line in lines if line is not None]


def run_sql(
    exercise: Exercise,
    rides: Sequence[TaxiRide] = (),
    fares: Sequence[TaxiFare] = (),
    topics: Topics = Topics(),
) -> list[str]:
    """The lines the SQL version prints for this bounded input."""
    kafka = MemoryKafka()
    runtime = DriverRuntime(kafka)
    engine = Engine(kafka, runtime, EngineConfig())
    try:
        for statement in exercise.sql(topics):
            engine.execute(statement)
        for topic, key, value, ts in input_records(exercise, topics, rides, fares):
            kafka.produce(topic, key, value, ts)
        records = kafka.records.get(topics.output, [])
        lines = [exercise.render_sql(r.key, r.value) for r in records]
    finally:
        for driver, _, _ in runtime.drivers.values():
            driver.close()
    return [line for line in lines if line is not None]
