"""`riverlog labs taxi ...`: flink-training's NYC taxi lab on riverlog.

- `generate` writes the generators' events to `taxi-rides` / `taxi-fares` (keys: the ride id as an
  8-byte long; values: JSON with flink-training's field names; timestamps: event time). Bounded
  (`--rides N` / `--hours H`) input ends with the two end-of-input marks; without either it runs
  until interrupted, at flink-training's pace unless `--speedup` says otherwise.
- `run EXERCISE` generates the bounded input into fresh topics, runs the exercise's streams app (or,
  with `--sql`, its statements on an in-process SQL server), prints the output the way
  flink-training's solution prints it, one line per record, and deletes the run's topics.

`--hours H` means the rides that start in the first H hours: flink-training's
`TaxiFareGenerator.runFor(Duration.ofHours(H))` stops at the first fare whose start time is not
before 12:00 + H, and ride n starts at 12:00 + 20·n s, so that is rides 1..180·H-1.
"""

from __future__ import annotations

from typing import Annotated

import typer

from riverlog.cli.client import DEFAULT_BOOTSTRAP, BootstrapOption
from riverlog.cli.errors import CliError
from riverlog.cli.topics import connect

app = typer.Typer(help="flink-training's NYC taxi rides & fares lab.", no_args_is_help=True)

RidesOption = Annotated[
    int | None, typer.Option("--rides", metavar="N", help="rides 1..N (each START, END and fare)")
]
HoursOption = Annotated[
    int | None,
    typer.Option("--hours", metavar="H", help="the rides that start in the first H hours"),
]


def _ride_count(rides: int | None, hours: int | None, default: int | None) -> int | None:
    from riverlog.labs.taxi.generators import rides_for_hours

    if rides is not None and hours is not None:
        raise CliError("give --rides or --hours, not both")
    if rides is not None:
        if rides < 1:
            raise CliError("--rides must be at least 1")
        return rides
    if hours is not None:
        if hours < 1:
            raise CliError("--hours must be at least 1")
        return rides_for_hours(hours)
    return default


@app.command("generate")
def generate(
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    rides: RidesOption = None,
    hours: HoursOption = None,
    speedup: Annotated[
        float | None,
        typer.Option(
            "--speedup",
            metavar="X",
            help="event time runs X times faster than the clock (default: as fast as possible "
            "when bounded, 2000 — flink-training's pace — when not)",
        ),
    ] = None,
    rides_topic: Annotated[str, typer.Option("--rides-topic")] = "taxi-rides",
    fares_topic: Annotated[str, typer.Option("--fares-topic")] = "taxi-fares",
) -> None:
    """Write the taxi rides and fares to Kafka."""
    from riverlog.labs.taxi.exercises import EXERCISES, Topics
    from riverlog.labs.taxi.local import input_records
    from riverlog.labs.taxi.runner import (
        FLINK_SPEEDUP,
        LabError,
        bounded_input,
        create_topics,
        live_records,
        paced,
        produce,
    )

    if speedup is not None and speedup <= 0:
        raise CliError("--speedup must be positive")
    count = _ride_count(rides, hours, None)
    topics = Topics(rides_topic, fares_topic)
    connect(bootstrap, None)  # a one-line error now if nobody answers there
    try:
        create_topics(bootstrap, [rides_topic, fares_topic])
        if count is None:
            pace = speedup or FLINK_SPEEDUP
            typer.echo(f"writing {rides_topic} and {fares_topic} at {pace:g}x; Ctrl-C stops")
            try:
                produce(bootstrap, paced(live_records(topics, pace), pace))
            except KeyboardInterrupt:
                return
            return
        ride_events, fares = bounded_input(count)
        # both topics, merged by event time (the exercise below only names the inputs)
        records = input_records(EXERCISES["rides-and-fares"], topics, ride_events, fares)
        written = produce(bootstrap, paced(records, speedup))
    except LabError as e:
        raise CliError(str(e)) from None
    typer.echo(f"wrote {written} records (rides 1..{count} and their fares, plus end marks)")


@app.command("run")
def run(
    exercise: Annotated[
        str,
        typer.Argument(
            help="ride-cleansing | rides-and-fares | hourly-tips | long-ride-alerts",
            show_default=False,
        ),
    ],
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    rides: RidesOption = None,
    hours: HoursOption = None,
    sql: Annotated[bool, typer.Option("--sql", help="run the SQL version")] = False,
    timeout: Annotated[float, typer.Option("--timeout", metavar="S")] = 600.0,
) -> None:
    """Run an exercise over a bounded input and print its output."""
    from riverlog.labs.taxi.exercises import EXERCISES
    from riverlog.labs.taxi.runner import LabError, bounded_input, run_on_cluster

    chosen = EXERCISES.get(exercise)
    if chosen is None:
        raise CliError(f"unknown exercise {exercise!r}; choose one of {', '.join(EXERCISES)}")
    count = _ride_count(rides, hours, 1079)  # default: the first 6 hours
    assert count is not None
    connect(bootstrap, None)  # a one-line error now if nobody answers there
    ride_events, fares = bounded_input(count)
    try:
        result = run_on_cluster(
            chosen, bootstrap, ride_events, fares, use_sql=sql, timeout_s=timeout
        )
    except LabError as e:
        raise CliError(str(e)) from None
    for line in result.lines:
        typer.echo(line)


@app.command("sql")
def show_sql(
    exercise: Annotated[
        str,
        typer.Argument(
            help="ride-cleansing | rides-and-fares | hourly-tips | long-ride-alerts",
            show_default=False,
        ),
    ],
    rides_topic: Annotated[str, typer.Option("--rides-topic")] = "taxi-rides",
    fares_topic: Annotated[str, typer.Option("--fares-topic")] = "taxi-fares",
    output_topic: Annotated[str, typer.Option("--output-topic")] = "taxi-output",
) -> None:
    """Print an exercise's SQL statements (for `riverlog sql -f`), reading the topics from the start."""
    from riverlog.labs.taxi.exercises import EXERCISES, Topics

    chosen = EXERCISES.get(exercise)
    if chosen is None:
        raise CliError(f"unknown exercise {exercise!r}; choose one of {', '.join(EXERCISES)}")
    typer.echo("SET 'auto.offset.reset' = 'earliest';")
    for statement in chosen.sql(Topics(rides_topic, fares_topic, output_topic)):
        typer.echo(statement)
