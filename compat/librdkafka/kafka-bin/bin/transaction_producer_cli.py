"""Stand-in for librdkafka's tests/java/TransactionProducerCli, which 0098_consumer_txn runs through
`java/run-class.sh` to write transactional data with a second client.

    transaction_producer_cli.py BOOTSTRAP topic,T testid,ID CMD...

Commands, one an argument, fields separated by commas (the Java helper's language):
- `producerN, PARTITION, ID_START, COUNT, TXN_TYPE, FLUSH`: with producer `producerN` (created on first
  use: idempotent, `linger.ms=5`, transactional with `transactional.id=test-transactional-id-ID-producerN`
  unless TXN_TYPE is `None`, then `init_transactions`), send COUNT records to PARTITION (-1: Kafka's
  default partitioner, murmur2 of the key) with one-byte keys ID_START.. and the value 10 20 30 40 (hex).
  TXN_TYPE `Begin*` begins a transaction first; `*Commit` / `*Abort` end it after the sends; `*Open`
  leaves it open. FLUSH is `DoFlush` or `DontFlush` (flush after the sends, before ending).
- `sleep, MS`; `exit, CODE` (exits at once: producers are not closed, open transactions stay open, as
  Java's System.exit leaves them).

The Java helper uses Kafka's Java producer; this uses confluent-kafka's (a newer librdkafka than the one
under test), so the test exercises riverlog with two different transactional clients, not Java interop.
"""

from __future__ import annotations

import os
import sys
import time

from confluent_kafka import Producer

PAYLOAD = bytes([0x10, 0x20, 0x30, 0x40])
TRANSACTION_TYPES = (
    "None",
    "BeginAbort",
    "BeginCommit",
    "BeginOpen",
    "ContinueAbort",
    "ContinueCommit",
    "ContinueOpen",
)


def decode(text: str) -> int:
    """Java's Integer.decode: decimal, 0x/0X/# hex, leading-zero octal, optional sign."""
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits[:2].lower() == "0x":
        return sign * int(digits[2:], 16)
    if digits.startswith("#"):
        return sign * int(digits[1:], 16)
    if len(digits) > 1 and digits.startswith("0"):
        return sign * int(digits, 8)
    return sign * int(digits)


def create_producer(testid: str, name: str, bootstrap: str, transactional: bool) -> Producer:
    config: dict[str, str | int | bool] = {
        "bootstrap.servers": bootstrap,
        "client.id": f"transactional-producer-{name}" if transactional else f"producer-{name}",
        "enable.idempotence": True,
        "linger.ms": 5,
        "partitioner": "murmur2_random",  # the Java client's default partitioner for keyed records
    }
    if transactional:
        config["transactional.id"] = f"test-transactional-id-{testid}-{name}"
    producer = Producer(config)
    if transactional:
        producer.init_transactions()
    return producer


def make_test_messages(
    producer: Producer,
    topic: str,
    partition: int,
    id_start: int,
    count: int,
    txn_type: str,
    flush: str,
) -> None:
    if txn_type.startswith("Begin"):
        producer.begin_transaction()
    for i in range(count):
        key = bytes([(i + id_start) & 0xFF])
        if partition == -1:
            producer.produce(topic, value=PAYLOAD, key=key)
        else:
            producer.produce(topic, value=PAYLOAD, key=key, partition=partition)
        producer.poll(0)
    if flush == "DoFlush":
        producer.flush()
    if txn_type.endswith("Abort"):
        producer.abort_transaction()
    elif txn_type.endswith("Commit"):
        producer.commit_transaction()


def main(argv: list[str]) -> int:
    bootstrap = argv[0]
    producers: dict[str, Producer] = {}
    topic = testid = ""
    for arg in argv[1:]:
        cmd = [field.strip() for field in arg.split(",")]
        print(f"TransactionProducerCli (riverlog compat stand-in): command: '{arg}'", flush=True)
        if cmd[0] == "sleep":
            time.sleep(decode(cmd[1]) / 1000)
        elif cmd[0] == "exit":
            sys.stdout.flush()
            os._exit(decode(cmd[1]))
        elif cmd[0] == "topic":
            topic = cmd[1]
        elif cmd[0] == "testid":
            testid = cmd[1]
        elif cmd[0].startswith("producer"):
            if cmd[4] not in TRANSACTION_TYPES or cmd[5] not in ("DoFlush", "DontFlush"):
                raise SystemExit(f"unknown transaction or flush type in {arg!r}")
            if cmd[0] not in producers:
                producers[cmd[0]] = create_producer(testid, cmd[0], bootstrap, cmd[4] != "None")
            make_test_messages(
                producers[cmd[0]],
                topic,
                decode(cmd[1]),
                decode(cmd[2]),
                decode(cmd[3]),
                cmd[4],
                cmd[5],
            )
        else:
            raise SystemExit(f"Unknown command: {arg}")
    for producer in producers.values():  # Java's close(): wait for outstanding sends
        producer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
