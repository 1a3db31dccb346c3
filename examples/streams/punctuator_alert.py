"""A Processor API app with both punctuator types: it tracks when each sensor last reported (in a
key-value store) and, every 2 seconds of wall-clock time, raises an alert for every sensor that has
been silent for more than 5 seconds; every minute of stream time it emits a summary.

Start a broker (`make run`), then:

    python examples/streams/punctuator_alert.py --seconds 20

It creates `sensor-readings` and `sensor-alerts`, sends readings for three sensors (one of which
stops after a few seconds) and prints the alerts.
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import timedelta
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.streams import (
    Consumed,
    KafkaStreams,
    Processor,
    Produced,
    PunctuationType,
    Record,
    Serdes,
    Stores,
    StreamsBuilder,
)

S, L = Serdes.String(), Serdes.Long()
SILENCE_MS = 5_000


class SilenceDetector(Processor):
    def init(self, context: Any) -> None:
        super().init(context)
        self.last_seen = context.get_state_store("last-seen")
        context.schedule(timedelta(seconds=2), PunctuationType.WALL_CLOCK_TIME, self.check)
        context.schedule(timedelta(minutes=1), PunctuationType.STREAM_TIME, self.summary)

    def process(self, record: Record) -> None:
        self.last_seen.put(record.key, int(time.time() * 1000))

    def check(self, now: int) -> None:
        for kv in self.last_seen.all():
            if now - kv.value > SILENCE_MS:
                silent_s = (now - kv.value) // 1000
                self.context.forward(Record(kv.key, f"ALERT silent for {silent_s} s", now))

    def summary(self, stream_time: int) -> None:
        n = sum(1 for _ in self.last_seen.all())
        self.context.forward(Record("summary", f"{n} sensors known", stream_time))


def build_topology():  # type: ignore[no-untyped-def]
    b = StreamsBuilder()
    b.add_state_store(
        Stores.key_value_store_builder(Stores.persistent_key_value_store("last-seen"), S, L)
    )
    b.stream("sensor-readings", Consumed.with_(S, S)).process(SilenceDetector, "last-seen").to(
        "sensor-alerts", Produced.with_(S, S)
    )
    return b.build()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    bs = args.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bs})  # kept alive: its futures need it
    for f in admin.create_topics(
        [NewTopic(n, num_partitions=1) for n in ("sensor-readings", "sensor-alerts")]
    ).values():
        try:
            f.result(timeout=15)
        except KafkaException as exc:
            if "already exists" not in str(exc).lower():
                raise
    app = KafkaStreams(
        build_topology(), {"application.id": "silence-alerts", "bootstrap.servers": bs}
    )
    app.start()
    stop = threading.Event()

    def sensors() -> None:
        p = Producer({"bootstrap.servers": bs})
        start = time.monotonic()
        while not stop.is_set():
            for sensor in ("s1", "s2", "s3"):
                if sensor == "s3" and time.monotonic() - start > 4:
                    continue  # s3 goes quiet
                p.produce("sensor-readings", key=sensor, value="21.5")
            p.flush(5)
            stop.wait(1)

    threading.Thread(target=sensors, daemon=True).start()
    c = Consumer(
        {
            "bootstrap.servers": bs,
            "group.id": f"alerts-{time.time_ns()}",
            "auto.offset.reset": "latest",
        }
    )
    c.subscribe(["sensor-alerts"])
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        for m in c.consume(100, 0.5):
            if m.error() is None:
                print(f"{m.key().decode()}: {m.value().decode()}")
    stop.set()
    c.close()
    app.close(timedelta(seconds=30))


if __name__ == "__main__":
    main()
