"""A streams app run as its own process by the integration tests (so a test can SIGKILL it).

    python streams_app.py BOOTSTRAP APP_ID KIND GUARANTEE STATE_DIR INPUT OUTPUT

KIND is `wordcount` (the issue's word count) or `windowed` (counts per key in 10 s tumbling windows,
5 min grace — longer than the test's whole event-time span, so no window closes — keyed
`<key>@<window start>` on output). Prints RUNNING once the client runs and
`PROCESSED <n>` as its records-processed counter moves; stops cleanly on SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import timedelta

from riverlog.streams import (
    Consumed,
    Grouped,
    KafkaStreams,
    KeyValue,
    Materialized,
    Produced,
    Serdes,
    StreamsBuilder,
    TimeWindows,
    Windowed,
)


def wordcount(builder: StreamsBuilder, source: str, sink: str) -> None:
    lines = builder.stream(source, Consumed.with_(Serdes.String(), Serdes.String()))
    counts = (
        lines.flat_map_values(lambda line: line.lower().split())
        .group_by(lambda key, word: word, Grouped.with_(Serdes.String(), Serdes.String()))
        .count(Materialized.as_("counts-store"))
    )
    counts.to_stream().to(sink, Produced.with_(Serdes.String(), Serdes.Long()))


def windowed(builder: StreamsBuilder, source: str, sink: str) -> None:
    def flatten(key: Windowed[str], count: int) -> KeyValue[str, int]:
        return KeyValue(f"{key.key}@{key.window.start}", count)

    (
        builder.stream(source, Consumed.with_(Serdes.String(), Serdes.String()))
        .group_by_key(Grouped.with_(Serdes.String(), Serdes.String()))
        .windowed_by(TimeWindows.of_size_and_grace(timedelta(seconds=10), timedelta(minutes=5)))
        .count(Materialized.as_("windowed-counts"))
        .to_stream()
        .map(flatten)
        .to(sink, Produced.with_(Serdes.String(), Serdes.Long()))
    )


def main() -> None:
    bootstrap, app_id, kind, guarantee, state_dir, source, sink = sys.argv[1:8]
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(threadName)s %(name)s %(message)s"
    )
    builder = StreamsBuilder()
    {"wordcount": wordcount, "windowed": windowed}[kind](builder, source, sink)
    app = KafkaStreams(
        builder.build(),
        {
            "application.id": app_id,
            "bootstrap.servers": bootstrap,
            "processing.guarantee": guarantee,
            "state.dir": state_dir,
            "commit.interval.ms": 200,
            "num.stream.threads": 1,
            # A SIGKILLed instance leaves the group in 6 s rather than librdkafka's 45 s default.
            "main.consumer.session.timeout.ms": 6000,
            "main.consumer.heartbeat.interval.ms": 1000,
        },
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app.start()
    if app.wait_for_state(KafkaStreams.State.RUNNING, 60):
        print("RUNNING", flush=True)
    processed = -1.0
    while not stop.wait(0.1):
        done = app.metrics().get("process-total", 0.0)
        if done != processed:
            processed = done
            print(f"PROCESSED {int(done)}", flush=True)  # the test kills mid-stream by this
        if app.state.has_completed_shutdown():
            print(f"STOPPED {app.state.value}", flush=True)
            sys.exit(1)
    app.close(timedelta(seconds=30))


if __name__ == "__main__":
    main()
