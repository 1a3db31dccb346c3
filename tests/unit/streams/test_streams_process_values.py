"""`KStream.process_values` (Kafka's `processValues`, KIP-820): a processor that keeps the key, so a
join or aggregation after it needs no repartition topic, where `process` would add one."""

from __future__ import annotations

from riverlog.streams import Consumed, Processor, Produced, Record, Serdes, StreamsBuilder
from riverlog.streams.testing import TopologyTestDriver

S = Serdes.String()


class Upper(Processor):
    def process(self, record: Record) -> None:
        self.context.forward(record.with_value(record.value.upper()))


def _build(values_only: bool) -> StreamsBuilder:
    b = StreamsBuilder()
    table = b.table("names", Consumed.with_(S, S))
    stream = b.stream("in", Consumed.with_(S, S))
    processed = stream.process_values(Upper) if values_only else stream.process(Upper)
    processed.join(table, lambda v, name: f"{v}:{name}").to("out", Produced.with_(S, S))
    return b


def test_process_values_joins_without_a_repartition_topic() -> None:
    topology = _build(values_only=True).build()
    assert "repartition" not in str(topology.describe())
    assert "repartition" in str(_build(values_only=False).build().describe())
    with TopologyTestDriver(topology) as driver:
        driver.create_input_topic("names", S, S).pipe_input("k1", "ann", 0)
        driver.create_input_topic("in", S, S).pipe_input("k1", "hello", 1)
        out = driver.create_output_topic("out", S, S).read_key_values_to_list()
    assert [(kv.key, kv.value) for kv in out] == [("k1", "HELLO:ann")]
