"""Word count, the first Kafka Streams program, with riverlog.streams.

Start a broker (`make run`), then:

    python examples/streams/wordcount.py            # exactly_once_v2; Ctrl-C stops it
    python examples/streams/wordcount.py --at-least-once --seconds 20

It creates `text-input` and `word-counts`, writes a few lines of text into `text-input`, runs the word
count app and prints every count update it reads back from `word-counts` (read_committed). Type more
lines with any Kafka producer, e.g. `kcat -P -b localhost:9092 -t text-input`, and watch the counts.
"""

from __future__ import annotations

import argparse
import signal
import struct
import threading
import time
from datetime import timedelta

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.streams import (
    Consumed,
    Grouped,
    KafkaStreams,
    Materialized,
    Produced,
    Serdes,
    StreamsBuilder,
)

SAMPLE = [
    "all streams lead to kafka",
    "hello kafka streams",
    "join kafka summit",
]


def build_topology(source: str, sink: str):  # type: ignore[no-untyped-def]
    builder = StreamsBuilder()
    lines = builder.stream(source, Consumed.with_(Serdes.String(), Serdes.String()))
    counts = (
        lines.flat_map_values(lambda line: line.lower().split())
        .group_by(lambda key, word: word, Grouped.with_(Serdes.String(), Serdes.String()))
        .count(Materialized.as_("counts-store"))
    )
    counts.to_stream().to(sink, Produced.with_(Serdes.String(), Serdes.Long()))
    return builder.build()


def ensure_topics(bootstrap: str, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=2, replication_factor=1) for name in names]
    )
    for future in futures.values():
        try:
            future.result(timeout=15)
        except KafkaException as exc:
            if "already exists" not in str(exc).lower() and "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument("--at-least-once", action="store_true", help="instead of exactly_once_v2")
    parser.add_argument(
        "--seconds", type=float, default=0, help="stop after this long (0: on Ctrl-C)"
    )
    parser.add_argument(
        "--state-dir", default=None, help="default: Kafka Streams' <tmp>/kafka-streams"
    )
    args = parser.parse_args()
    source, sink = "text-input", "word-counts"
    ensure_topics(args.bootstrap_servers, source, sink)

    app = KafkaStreams(
        build_topology(source, sink),
        {
            "application.id": "wordcount",
            "bootstrap.servers": args.bootstrap_servers,
            "processing.guarantee": "at_least_once" if args.at_least_once else "exactly_once_v2",
            **({"state.dir": args.state_dir} if args.state_dir else {}),
        },
    )
    app.start()

    producer = Producer({"bootstrap.servers": args.bootstrap_servers})
    for line in SAMPLE:
        producer.produce(source, value=line.encode())
    producer.flush(10)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": f"wordcount-printer-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([sink])
    deadline = time.monotonic() + args.seconds if args.seconds else None
    print(f"word count running ({app.config['processing.guarantee']}); Ctrl-C stops it")
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        for message in consumer.consume(100, 0.5):
            if message.error() is None:
                (count,) = struct.unpack(">q", message.value())
                print(f"{message.key().decode():>12} {count}")
        if app.state.has_completed_shutdown():
            print(f"the app stopped: {app.state.value}")
            break
    consumer.close()
    app.close(timedelta(seconds=30))


if __name__ == "__main__":
    main()
