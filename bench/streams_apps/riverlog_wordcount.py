"""Word count on riverlog.streams: the issue's own example, run until SIGTERM.

`statestore.cache.max.bytes=0` makes it emit every update, as the Quix Streams and Faust apps do (one
output record per input word); everything else is Kafka Streams' defaults for the chosen guarantee
(commit.interval.ms 30000 under at-least-once, 100 under exactly_once_v2).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import FirstRead, parse_args

from riverlog.streams import (
    Consumed,
    Grouped,
    KafkaStreams,
    Materialized,
    Produced,
    Serdes,
    StreamsBuilder,
)

GUARANTEES = {"alos": "at_least_once", "eos": "exactly_once_v2"}


def main() -> None:
    args = parse_args()
    first = FirstRead()

    def tokenize(line: str) -> list[str]:
        if not first.seen:
            first.mark()
        return line.lower().split()

    builder = StreamsBuilder()
    lines = builder.stream(args.input, Consumed.with_(Serdes.String(), Serdes.String()))
    counts = (
        lines.flat_map_values(tokenize)
        .group_by(lambda _key, word: word, Grouped.with_(Serdes.String(), Serdes.String()))
        .count(Materialized.as_("counts-store"))
    )
    counts.to_stream().to(args.output, Produced.with_(Serdes.String(), Serdes.Long()))
    config = {
        "application.id": args.app_id,
        "bootstrap.servers": args.bootstrap,
        "processing.guarantee": GUARANTEES[args.guarantee],
        "state.dir": args.state_dir,
        "statestore.cache.max.bytes": 0,
    }
    app = KafkaStreams(builder.build(), config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    app.start()
    while not stop.wait(0.5):
        state = getattr(app.state, "name", str(app.state))
        if state in ("ERROR", "NOT_RUNNING", "PENDING_ERROR"):
            app.close()
            raise SystemExit(f"KafkaStreams went to {state}")
    app.close()


if __name__ == "__main__":
    main()
