"""Exercise 3, Hourly Tips: per event-time hour, the driver with the most tips.

flink-training sums each driver's tips in one-hour tumbling event-time windows (a Java `float` sum),
then takes `windowAll(1 hour).maxBy(2)` and prints `(windowEnd,driverId,totalTips)`. Here:

1. fares are grouped by driver (a repartition) into one-hour windows with no grace (fares come in
   order, as flink-training's monotonous watermarks assume), summed as a 32-bit float, and
   suppressed until each window closes — one final total per driver and hour;
2. those totals are re-keyed to one key (flink-training's `windowAll` is also a single task),
   windowed again by hour, reduced to the maximum, and suppressed until the hour closes.

Stage 2 only sees time pass when stage 1 emits, which is why a bounded input ends with two marks
(see `riverlog.labs.taxi.records`). Ties: Flink's `maxBy` keeps whichever equal total reached the
`windowAll` first, which depends on timer order inside Flink; here a tie goes to the lowest driver id.

The SQL version is the same two stages; ksqlDB has no "argmax", so stage 2 takes the MAX of one
BIGINT that orders by total tips and then by lower driver id: `tips*100 * 10^10 + (9999999999 - driver)`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from riverlog.labs.taxi.exercises.base import (
    Exercise,
    Topics,
    decode_json,
    fares_ddl,
)
from riverlog.labs.taxi.javarandom import java_float_str, to_float32
from riverlog.labs.taxi.records import HOUR_MS, MARK_RIDE_ID, TaxiFareSerde
from riverlog.streams import (
    Consumed,
    Grouped,
    KeyValue,
    Materialized,
    Produced,
    Serdes,
    StreamsBuilder,
    Suppressed,
    TimeWindows,
    Topology,
    Windowed,
)

HOUR = timedelta(hours=1)
ALL = 0  # the single key of stage 2
_SCORE_BASE = 10_000_000_000


def better(a: list[Any], b: list[Any]) -> list[Any]:
    """The larger of two `[windowEnd, driverId, totalTips]`: more tips, then the lower driver id."""
    return b if (b[2], -b[1]) > (a[2], -a[1]) else a


def format_result(window_end: int, driver_id: int, total_tips: float) -> str:
    """`Tuple3<Long, Long, Float>.toString()`."""
    return f"({window_end},{driver_id},{java_float_str(to_float32(total_tips))})"


def topology(topics: Topics) -> Topology:
    b = StreamsBuilder()
    fares = b.stream(topics.fares, Consumed.with_(Serdes.Long(), TaxiFareSerde()))
    hourly = (
        fares.group_by(
            lambda _id, fare: fare.driver_id,
            Grouped.with_(Serdes.Long(), TaxiFareSerde()).with_name("driver-fares"),
        )
        .windowed_by(TimeWindows.of_size_with_no_grace(HOUR))
        .aggregate(
            lambda: 0.0,
            lambda _driver, fare, total: to_float32(total + fare.tip),  # Java's float sum
            Materialized.as_("driver-hourly-tips").with_(Serdes.Long(), Serdes.Float()),
        )
        .suppress(Suppressed.until_window_closes(Suppressed.BufferConfig.unbounded()))
        .to_stream()
    )

    def to_candidate(window: Windowed[int], total: float) -> KeyValue[int, list[Any]]:
        return KeyValue(ALL, [window.window.end, window.key, total])

    (
        hourly.map(to_candidate)
        .group_by_key(Grouped.with_(Serdes.Long(), Serdes.Json()).with_name("hourly-tips"))
        .windowed_by(TimeWindows.of_size_with_no_grace(HOUR))
        .reduce(better, Materialized.as_("hourly-max").with_(Serdes.Long(), Serdes.Json()))
        .suppress(Suppressed.until_window_closes(Suppressed.BufferConfig.unbounded()))
        .to_stream()
        .filter(lambda _w, best: best is not None and best[1] != MARK_RIDE_ID)
        .map(lambda _w, best: KeyValue(best[0], best))
        .to(topics.output, Produced.with_(Serdes.Long(), Serdes.Json()))
    )
    return b.build()


def render(_key: bytes | None, value: bytes | None) -> str | None:
    best = decode_json(value)
    return None if best is None else format_result(int(best[0]), int(best[1]), float(best[2]))


def sql(topics: Topics) -> list[str]:
    stage1 = f"{topics.output}-driver-hourly"
    return [
        fares_ddl(topics.fares),
        f"CREATE TABLE DRIVER_HOURLY_TIPS WITH (KAFKA_TOPIC='{stage1}', VALUE_FORMAT='JSON') AS "
        "SELECT driverId, SUM(tip) AS totalTips FROM TAXI_FARES "
        "WINDOW TUMBLING (SIZE 1 HOUR, GRACE PERIOD 0 SECONDS) GROUP BY driverId EMIT FINAL;",
        "CREATE STREAM DRIVER_HOURLY (driverId BIGINT KEY, totalTips DOUBLE) "
        f"WITH (KAFKA_TOPIC='{stage1}', VALUE_FORMAT='JSON', WINDOW_TYPE='TUMBLING', "
        "WINDOW_SIZE='1 HOUR');",
        f"CREATE TABLE HOURLY_MAX WITH (KAFKA_TOPIC='{topics.output}', VALUE_FORMAT='JSON') AS "
        "SELECT 'all' AS allHours, "
        f"MAX(CAST(totalTips * 100 AS BIGINT) * {_SCORE_BASE} + ({_SCORE_BASE - 1} - driverId)) "
        "AS best FROM DRIVER_HOURLY "
        "WINDOW TUMBLING (SIZE 1 HOUR, GRACE PERIOD 0 SECONDS) GROUP BY 'all' EMIT FINAL;",
    ]


def decode_best(best: int) -> tuple[int, float]:
    """(driverId, totalTips) from stage 2's score."""
    return _SCORE_BASE - 1 - best % _SCORE_BASE, (best // _SCORE_BASE) / 100.0


def render_sql(key: bytes | None, value: bytes | None) -> str | None:
    if key is None or value is None or len(key) < 8:
        return None
    window_start = int.from_bytes(key[-8:], "big", signed=True)
    row = {k.upper(): v for k, v in json.loads(value).items()}
    driver, tips = decode_best(int(row["BEST"]))
    return format_result(window_start + HOUR_MS, driver, tips)


EXERCISE = Exercise(
    name="hourly-tips",
    title="Hourly Tips",
    inputs=("fares",),
    topology=topology,
    render=render,
    sql=sql,
    render_sql=render_sql,
    ordered=True,
)
