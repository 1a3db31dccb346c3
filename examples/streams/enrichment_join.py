"""Enrich a stream of orders with a table of customers (a KStream-KTable join), and pair each order
with its payment within 10 minutes (a windowed KStream-KStream left join).

Start a broker (`make run`), then:

    python examples/streams/enrichment_join.py --seconds 20

It creates `customers`, `orders`, `payments` (2 partitions each: joined topics must be
co-partitioned) and the two outputs, writes sample rows and prints what comes out:
`orders-enriched` at once, `orders-paid` as payments match — and `order:None` for an unpaid order only
once its 10-minute window has closed (Kafka 3.1+ semantics, no early left-join results).
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.streams import (
    Consumed,
    JoinWindows,
    KafkaStreams,
    Produced,
    Serdes,
    StreamJoined,
    StreamsBuilder,
)

S = Serdes.String()


def build_topology():  # type: ignore[no-untyped-def]
    b = StreamsBuilder()
    customers = b.table("customers", Consumed.with_(S, S))
    orders = b.stream("orders", Consumed.with_(S, S))
    orders.join(customers, lambda order, customer: f"{order} for {customer}").to(
        "orders-enriched", Produced.with_(S, S)
    )
    orders.left_join(
        b.stream("payments", Consumed.with_(S, S)),
        lambda order, payment: f"{order}:{payment}",
        JoinWindows.of_time_difference_and_grace(timedelta(minutes=10), timedelta(seconds=30)),
        StreamJoined.with_(S, S, S),
    ).to("orders-paid", Produced.with_(S, S))
    return b.build()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    bs = args.bootstrap_servers
    names = ["customers", "orders", "payments", "orders-enriched", "orders-paid"]
    admin = AdminClient({"bootstrap.servers": bs})  # kept alive: its futures need it
    for f in admin.create_topics([NewTopic(n, num_partitions=2) for n in names]).values():
        try:
            f.result(timeout=15)
        except KafkaException as exc:
            if "already exists" not in str(exc).lower():
                raise
    app = KafkaStreams(
        build_topology(),
        {"application.id": "enrichment-join", "bootstrap.servers": bs, "commit.interval.ms": 500},
    )
    app.start()
    p = Producer({"bootstrap.servers": bs, "partitioner": "murmur2_random"})
    now = int(time.time() * 1000)
    for cid, name in [("c1", "Ada"), ("c2", "Grace"), ("c3", "Edsger")]:
        p.produce("customers", key=cid, value=name, timestamp=now)
    p.flush(10)
    time.sleep(1)
    for i, cid in enumerate(["c1", "c2", "c3"]):
        p.produce("orders", key=cid, value=f"order-{i}", timestamp=now + 1000)
    p.produce("payments", key="c1", value="paid-by-card", timestamp=now + 60_000)
    # a record 11 minutes later closes the windows of the unpaid orders
    for cid in ["c1", "c2", "c3"]:
        p.produce("payments", key=cid, value="later", timestamp=now + 12 * 60_000)
    p.flush(10)
    c = Consumer(
        {"bootstrap.servers": bs, "group.id": f"printer-{now}", "auto.offset.reset": "earliest"}
    )
    c.subscribe(["orders-enriched", "orders-paid"])
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        for m in c.consume(100, 0.5):
            if m.error() is None:
                print(f"{m.topic():>16} {m.key().decode()}: {m.value().decode()}")
    c.close()
    app.close(timedelta(seconds=30))


if __name__ == "__main__":
    main()
