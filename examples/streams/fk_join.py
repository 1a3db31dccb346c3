"""A foreign-key table join: each order (keyed by order id) names its customer in its value; the
join follows the foreign key to the customers table — no re-keying by hand — and keeps the result
right when a customer changes, an order moves to another customer, or either row is deleted.

Start a broker (`make run`), then:

    python examples/streams/fk_join.py --seconds 15

It creates `fk-orders` (2 partitions) and `fk-customers` (3 partitions: foreign-key joins do not
need co-partitioning), writes rows, changes them, and prints the `orders-with-customer` table.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riverlog.streams import Consumed, KafkaStreams, Produced, Serdes, StreamsBuilder

S = Serdes.String()


def build_topology():  # type: ignore[no-untyped-def]
    b = StreamsBuilder()
    orders = b.table("fk-orders", Consumed.with_(S, S))  # value: "<customer id>:<item>"
    customers = b.table("fk-customers", Consumed.with_(S, S))
    orders.left_join(
        customers,
        lambda order: order.split(":")[0],  # the foreign key
        lambda order, customer: f"{order.split(':')[1]} for {customer or 'unknown customer'}",
    ).to_stream().to("orders-with-customer", Produced.with_(S, S))
    return b.build()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    bs = args.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bs})  # kept alive: its futures need it
    wanted = [("fk-orders", 2), ("fk-customers", 3), ("orders-with-customer", 1)]
    for f in admin.create_topics([NewTopic(n, num_partitions=p) for n, p in wanted]).values():
        try:
            f.result(timeout=15)
        except KafkaException as exc:
            if "already exists" not in str(exc).lower():
                raise
    app = KafkaStreams(
        build_topology(),
        {"application.id": "fk-join-example", "bootstrap.servers": bs, "commit.interval.ms": 200},
    )
    app.start()
    p = Producer({"bootstrap.servers": bs, "partitioner": "murmur2_random"})
    steps = [
        ("fk-customers", "c1", "Ada"),
        ("fk-customers", "c2", "Grace"),
        ("fk-orders", "o1", "c1:book"),
        ("fk-orders", "o2", "c1:pen"),
        ("fk-orders", "o3", "c3:ink"),  # no such customer yet
        ("fk-customers", "c1", "Ada Lovelace"),  # both of c1's orders update
        ("fk-orders", "o2", "c2:pen"),  # the order moves to another customer
        ("fk-customers", "c2", None),  # customer deleted
    ]
    c = Consumer(
        {
            "bootstrap.servers": bs,
            "group.id": f"fk-{time.time_ns()}",
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe(["orders-with-customer"])
    deadline = time.monotonic() + args.seconds
    for topic, key, value in steps:
        p.produce(topic, key=key, value=value)
        p.flush(10)
        print(f"-> {topic} {key}={value}")
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            for m in c.consume(100, 0.2):
                if m.error() is None:
                    v = m.value()
                    print(f"   {m.key().decode()}: {None if v is None else v.decode()}")
    while time.monotonic() < deadline:
        for m in c.consume(100, 0.5):
            if m.error() is None:
                v = m.value()
                print(f"   {m.key().decode()}: {None if v is None else v.decode()}")
    c.close()
    app.close(timedelta(seconds=30))


if __name__ == "__main__":
    main()
