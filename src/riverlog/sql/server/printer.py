"""PRINT 'topic' [FROM BEGINNING] [INTERVAL n] [LIMIT n]: a topic's records as ksqlDB prints them
(`rowtime: 2020/05/04 13:48:55.591 Z, key: 1, value: {"id":1}, partition: 0`), formats guessed
from the bytes as ksqlDB's PRINT does."""

from __future__ import annotations

import json
import struct
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from confluent_kafka import Consumer

from riverlog.sql import ast


def _guess(b: bytes | None) -> tuple[str, str]:
    if b is None:
        return "¯\\_(ツ)_/¯ - no data processed", "<null>"
    try:
        text = b.decode()
        if text.isprintable() or all(ch.isprintable() or ch in "\t\r\n" for ch in text):
            try:
                json.loads(text)
                return "JSON", text
            except ValueError:
                return "KAFKA_STRING", text
    except UnicodeDecodeError:
        pass
    if len(b) == 8:
        return "KAFKA_BIGINT or KAFKA_DOUBLE", str(struct.unpack(">q", b)[0])
    if len(b) == 4:
        return "KAFKA_INT", str(struct.unpack(">i", b)[0])
    if len(b) > 5 and b[0] == 0:
        return "AVRO or PROTOBUF or JSON_SR", b.hex()
    return "HOPPING(KAFKA_STRING)", b.hex()


def print_topic(bootstrap: str, stmt: ast.PrintTopic, stop: threading.Event) -> Iterator[str]:
    """Lines until LIMIT records were printed or `stop` is set."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"_riverlog-sql-print-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest" if stmt.from_beginning else "latest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([stmt.topic])
    printed = seen = 0
    header_done = False
    interval = max(stmt.interval or 1, 1)
    try:
        while not stop.is_set() and (stmt.limit is None or printed < stmt.limit):
            msg = consumer.poll(0.3)
            if msg is None or msg.error() is not None:
                continue
            seen += 1
            if (seen - 1) % interval:
                continue
            kf, key = _guess(msg.key())
            vf, value = _guess(msg.value())
            if not header_done:
                yield f"Key format: {kf}\n"
                yield f"Value format: {vf}\n"
                header_done = True
            ts = msg.timestamp()[1]
            when = (
                datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y/%m/%d %H:%M:%S.")
                + f"{ts % 1000:03d} Z"
            )
            yield f"rowtime: {when}, key: {key}, value: {value}, partition: {msg.partition()}\n"
            printed += 1
    finally:
        consumer.close()
