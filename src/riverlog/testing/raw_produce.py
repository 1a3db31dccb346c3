"""One record, one Produce request (v9), straight to one broker: for acks and error-code checks.

    python -m riverlog.testing.raw_produce HOST PORT TOPIC PARTITION ACKS VALUE [TIMEOUT_S]

prints the partition's error code name (e.g. `none`, `not_enough_replicas`), or `unreachable: ...`
when the broker does not answer. Runs anywhere riverlog is installed, e.g. inside a network namespace.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Sequence

from kio.schema.produce.v9 import request as produce_v9
from kio.schema.produce.v9 import response as produce_response
from kio.schema.types import TopicName
from kio.static.primitive import Records, i16, i32, i32Timedelta

from riverlog.protocol.records import build_batch
from riverlog.testing import wire


def produce_one(
    host: str,
    port: int,
    topic: str,
    partition: int,
    acks: int,
    value: bytes,
    timeout_s: float = 5.0,
) -> produce_response.PartitionProduceResponse:
    """Send one record with `acks` (-1 all, 1 leader, 0 none is not supported here)."""
    batch = build_batch([(None, value, (), 0)])
    return produce_batch(port, topic, batch, partition, acks, timeout_s, host)


def produce_batch(
    port: int,
    topic: str,
    batch: bytes,
    partition: int = 0,
    acks: int = -1,
    timeout_s: float = 5.0,
    host: str = "127.0.0.1",
) -> produce_response.PartitionProduceResponse:
    """Send `batch` (record batch bytes, as given: e.g. a crafted one) in one Produce v9."""
    request = produce_v9.ProduceRequest(
        transactional_id=None,
        acks=i16(acks),
        timeout=i32Timedelta.parse(datetime.timedelta(seconds=timeout_s)),
        topic_data=(
            produce_v9.TopicProduceData(
                name=TopicName(topic),
                partition_data=(
                    produce_v9.PartitionProduceData(index=i32(partition), records=Records(batch)),
                ),
            ),
        ),
    )
    response = wire.call(port, request, host=host, timeout=timeout_s + 5)
    answer: produce_response.PartitionProduceResponse = response.responses[0].partition_responses[0]
    return answer


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    host, port, topic, partition, acks, value = args[:6]
    timeout_s = float(args[6]) if len(args) > 6 else 5.0
    try:
        answer = produce_one(
            host, int(port), topic, int(partition), int(acks), value.encode(), timeout_s
        )
    except OSError as exc:
        print(f"unreachable: {exc!r}")
        return
    print(answer.error_code.name)


if __name__ == "__main__":
    main()
