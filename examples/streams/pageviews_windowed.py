"""Page views per page per minute, one final result per window (suppress until the window closes).

Start a broker (`make run`), then:

    python examples/streams/pageviews_windowed.py            # Ctrl-C stops it
    python examples/streams/pageviews_windowed.py --seconds 20

It creates `pageviews` and `pageviews-per-minute`, writes simulated page views (keyed by page, value
the user) with event times one second apart starting ten minutes ago, and runs an app that counts views
per page in one-minute tumbling windows with 10 s grace. `suppress(until_window_closes(unbounded()))`
holds each window's count until stream time passes its end plus grace, so every (page, window) is
printed once, with its final count.
"""

from __future__ import annotations

import argparse
import random
import signal
import struct
import threading
import time
from datetime import UTC, datetime, timedelta

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.streams import (
    Consumed,
    Grouped,
    KafkaStreams,
    KeyValue,
    Materialized,
    Produced,
    Serdes,
    StreamsBuilder,
    Suppressed,
    TimeWindows,
    Windowed,
)

PAGES = ["/home", "/search", "/cart", "/checkout", "/help"]


def build_topology(source: str, sink: str):  # type: ignore[no-untyped-def]
    def label(key: Windowed[str], count: int) -> KeyValue[str, int]:
        start = datetime.fromtimestamp(key.window.start / 1000, UTC).strftime("%H:%M")
        return KeyValue(f"{key.key} {start}", count)

    builder = StreamsBuilder()
    (
        builder.stream(source, Consumed.with_(Serdes.String(), Serdes.String()))
        .group_by_key(Grouped.with_(Serdes.String(), Serdes.String()))
        .windowed_by(TimeWindows.of_size_and_grace(timedelta(minutes=1), timedelta(seconds=10)))
        # the store keeps an hour of windows (Kafka's default keeps only size + grace)
        .count(Materialized.as_("pageviews-per-minute-store").with_retention(timedelta(hours=1)))
        .suppress(Suppressed.until_window_closes(Suppressed.BufferConfig.unbounded()))
        .to_stream()
        .map(label)
        .to(sink, Produced.with_(Serdes.String(), Serdes.Long()))
    )
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


def produce_views(bootstrap: str, topic: str, count: int) -> None:
    rng = random.Random(7)
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    start = int(time.time() * 1000) - 10 * 60 * 1000
    for i in range(count):
        user, page = f"user{rng.randint(1, 20)}", rng.choice(PAGES)
        producer.produce(topic, key=page.encode(), value=user.encode(), timestamp=start + i * 1000)
    producer.flush(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument(
        "--seconds", type=float, default=0, help="stop after this long (0: on Ctrl-C)"
    )
    parser.add_argument(
        "--state-dir", default=None, help="default: Kafka Streams' <tmp>/kafka-streams"
    )
    args = parser.parse_args()
    source, sink = "pageviews", "pageviews-per-minute"
    ensure_topics(args.bootstrap_servers, source, sink)
    app = KafkaStreams(
        build_topology(source, sink),
        {
            "application.id": "pageviews-windowed",
            "bootstrap.servers": args.bootstrap_servers,
            "processing.guarantee": "exactly_once_v2",
            **({"state.dir": args.state_dir} if args.state_dir else {}),
        },
    )
    app.start()
    produce_views(args.bootstrap_servers, source, 600)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": f"pageviews-printer-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([sink])
    deadline = time.monotonic() + args.seconds if args.seconds else None
    print("final page views per page and minute (one line per closed window); Ctrl-C stops it")
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        for message in consumer.consume(100, 0.5):
            if message.error() is None:
                (count,) = struct.unpack(">q", message.value())
                print(f"{message.key().decode():<18} {count:>4}")
        if app.state.has_completed_shutdown():
            print(f"the app stopped: {app.state.value}")
            break
    consumer.close()
    app.close(timedelta(seconds=30))


if __name__ == "__main__":
    main()
