"""A count app with `application.server`, run as its own process by the IQ test (so it can be
SIGKILLed).

    python iq_app.py BOOTSTRAP APP_ID STATE_DIR INPUT PORT

Prints RUNNING once the client runs; stops cleanly on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from datetime import timedelta

from riverlog.streams import Consumed, Grouped, KafkaStreams, Materialized, Serdes, StreamsBuilder
from riverlog.streams.runtime.kafka_streams import State


def main() -> None:
    bootstrap, app_id, state_dir, source, port = sys.argv[1:6]
    s = Serdes.String()
    b = StreamsBuilder()
    b.stream(source, Consumed.with_(s, s)).group_by_key(Grouped.with_(s, s)).count(
        Materialized.as_("counts")
    )
    app = KafkaStreams(
        b.build(),
        {
            "application.id": app_id,
            "bootstrap.servers": bootstrap,
            "state.dir": state_dir,
            "commit.interval.ms": 100,
            "application.server": f"127.0.0.1:{port}",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        },
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app.start()
    if app.wait_for_state(State.RUNNING, 60):
        print("RUNNING", flush=True)
    stop.wait()
    app.close(timedelta(seconds=30))


if __name__ == "__main__":
    main()
