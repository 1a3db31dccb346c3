"""Holds librdkafka's built-in mock cluster (one broker) open for other processes.

Prints the mock broker's `host:port` on stdout, then serves until stdin closes. The mock cluster lives
inside a client instance of the confluent-kafka wheel (`test.mock.num.brokers`); it listens on a real
loopback socket, so `rdkafka_performance` in another process can produce to and consume from it.
It keeps only the newest 5 MB (or 100,000 message sets) of each partition, so it cannot serve a
multi-million-record read back.

    python -m bench.mock_cluster
"""

from __future__ import annotations

import sys

from confluent_kafka import Producer


def main() -> None:
    holder = Producer({"test.mock.num.brokers": 1, "log_level": 0})
    brokers = holder.list_topics(timeout=10).brokers
    broker = next(iter(brokers.values()))
    print(f"{broker.host}:{broker.port}", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
