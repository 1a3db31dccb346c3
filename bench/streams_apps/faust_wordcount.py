"""Word count on Faust (faust-streaming, run by its virtualenv's interpreter), until SIGTERM.

Faust's own word-count shape: one agent splits lines and sends each word, keyed by itself, to a
repartition topic; a second agent counts per word in a Table (in memory, with its changelog topic: the
RocksDB store needs a separate native package) and produces every new count as an 8-byte big-endian
long. Only at-least-once: faust-streaming's exactly_once is not used here.
"""

from __future__ import annotations

import logging
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import faust
from common import FirstRead, parse_args

LONG = struct.Struct(">q")


def quiet_loggers() -> None:
    """Faust's worker leaves some library loggers enabled for DEBUG: a log record is built for every
    send and then dropped by the handler (10% of the app's time). Set once the worker has configured
    logging, so only the waste goes."""
    for name in ("faust", "aiokafka", "mode"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main() -> None:
    args = parse_args()
    if args.guarantee != "alos":
        raise SystemExit("the Faust app runs at-least-once only")
    first = FirstRead()
    app = faust.App(
        args.app_id,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        datadir=args.state_dir,
        topic_partitions=args.partitions,
        topic_replication_factor=1,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        producer_linger=0.005,  # librdkafka's default linger, which the other two apps get
    )
    lines = app.topic(args.input, key_serializer="raw", value_serializer="raw")
    words = app.topic(
        f"{args.app_id}-words",
        partitions=args.partitions,
        internal=True,  # created by Faust with that many partitions (not broker auto-creation)
        key_serializer="raw",
        value_serializer="raw",
    )
    sink = app.topic(args.output, key_serializer="raw", value_serializer="raw")
    counts = app.Table("word-counts", default=int, partitions=args.partitions)

    @app.agent(lines)
    async def split(stream):  # type: ignore[no-untyped-def]
        async for line in stream:
            if not first.seen:
                first.mark()
                quiet_loggers()
            for word in line.decode().lower().split():
                data = word.encode()
                await words.send(key=data, value=data)

    @app.agent(words)
    async def count(stream):  # type: ignore[no-untyped-def]
        async for data in stream:
            word = data.decode()
            total = counts[word] + 1
            counts[word] = total
            await sink.send(key=data, value=LONG.pack(total))

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    main()
