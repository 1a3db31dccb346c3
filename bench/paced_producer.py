"""A producer that sends at a fixed rate and stamps each record with its send time, for latency runs.

Each 1 ms tick sends rate/1000 records of exactly `--size` bytes, each value starting with
`LATENCY:<wall-clock microseconds> ` taken just before its `produce()` call: the format that
`rdkafka_performance -C -l -A FILE` parses, so that C consumer writes one end-to-end latency per record
(receive time minus stamp; same host, same clock). Why not `rdkafka_performance -P -l -r RATE`: its rate
limiter sleeps a full interval *after* each produce call and busy-polls meanwhile, so at -r 100000 it
reached only 60-80k records/s here and kept a whole core spinning on this 2-core machine.
When the client's queue is full (the broker falls behind) the producer waits and retries; the achieved
rate and the number of such waits are printed, and the waits count in the latency; sending stops after
three times `--seconds` if the broker falls that far behind.

    python -m bench.paced_producer --bootstrap HOST:PORT --topic T --rate 100000 --seconds 10
"""

from __future__ import annotations

import argparse
import sys
import time

from confluent_kafka import KafkaError, Message, Producer

TICK_S = 0.001
OVERRUN = 3  # sending stops after 3x --seconds, however many ticks are left


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--rate", type=int, default=100_000, help="records per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=100, help="value size in bytes")
    parser.add_argument("--partition", type=int, default=0)
    parser.add_argument("--linger-ms", type=float, default=0.0)
    parser.add_argument("--acks", default="1")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    failed = 0
    queue_full = 0

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        nonlocal failed
        if err is not None:
            failed += 1

    producer = Producer(
        {"bootstrap.servers": args.bootstrap, "linger.ms": args.linger_ms, "acks": args.acks}
    )
    per_tick = max(1, args.rate // 1000)
    ticks = int(args.seconds / TICK_S)
    start = time.perf_counter()
    deadline = start + OVERRUN * args.seconds
    sent = 0
    for tick in range(ticks):
        if time.perf_counter() > deadline:
            break  # the broker fell far behind: stop, and report the rate reached
        delay = start + tick * TICK_S - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        for _ in range(per_tick):
            value = b"LATENCY:%d " % (time.time_ns() // 1000)
            while True:
                try:
                    producer.produce(
                        args.topic,
                        value.ljust(args.size, b"x"),
                        partition=args.partition,
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    # The client's queue is full: the broker is not keeping up. Wait, as a real
                    # application would; the stamp stays, so the wait counts in the latency.
                    queue_full += 1
                    producer.poll(0.001)
        sent += per_tick
        producer.poll(0)
    sending = time.perf_counter() - start
    left = producer.flush(30)
    print(
        f"sent={sent} seconds={sending:.3f} rate={sent / sending:.0f} failed={failed} "
        f"unflushed={left} queue_full={queue_full}"
    )
    if failed:  # the broker refused records; records still queued (`unflushed`) are only reported
        sys.exit(1)


if __name__ == "__main__":
    main()
