"""Word count on Quix Streams (run by the quixstreams virtualenv's interpreter), until SIGTERM.

The equivalent of the riverlog.streams app: split each line into lower-cased words, re-key by word
(`group_by`: a repartition topic when the input has more than one partition), count per key in Quix's
state (RocksDB, with its changelog topic) and produce every new count. Strings on the repartition
topic, as riverlog's String serdes; counts as 8-byte big-endian longs.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import FirstRead, parse_args
from quixstreams import Application, State
from quixstreams.models.serializers import Serializer

LONG = struct.Struct(">q")
GUARANTEES = {"alos": "at-least-once", "eos": "exactly-once"}


class LongSerializer(Serializer):
    """Kafka's LongSerializer: 8 bytes, big-endian."""

    def __call__(self, value: int, ctx: Any) -> bytes:
        return LONG.pack(value)


def main() -> None:
    args = parse_args()
    first = FirstRead()

    def tokenize(line: str) -> list[str]:
        if not first.seen:
            first.mark()
        return line.lower().split()

    def count(_word: str, state: State) -> int:
        total: int = state.get("count", 0) + 1
        state.set("count", total)
        return total

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.app_id,
        auto_offset_reset="earliest",
        processing_guarantee=GUARANTEES[args.guarantee],
        state_dir=args.state_dir,
        loglevel="WARNING",
    )
    source = app.topic(args.input, key_deserializer="bytes", value_deserializer="str")
    sink = app.topic(args.output, key_serializer="str", value_serializer=LongSerializer())
    sdf = app.dataframe(source)
    sdf = sdf.apply(tokenize, expand=True)
    sdf = sdf.group_by(
        lambda word: word,
        name="word",
        key_serializer="str",
        key_deserializer="str",
        value_serializer="str",
        value_deserializer="str",
    )
    sdf = sdf.apply(count, stateful=True)
    sdf.to_topic(sink)
    app.run()


if __name__ == "__main__":
    main()
