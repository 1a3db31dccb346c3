"""Console chart series: lag history per group and throughput rates from counter samples."""

from __future__ import annotations

import pytest

from riverlog.console.history import MAX_POINTS, LagHistory, ThroughputSampler
from riverlog.console.kafka import BadInput
from riverlog.console.pages_topics import _timestamp
from riverlog.console.rest import _json_line


def test_lag_history_lays_out_series_per_partition() -> None:
    history = LagHistory()
    history.add("g", {"t-0": 5}, now=100.0)
    history.add("g", {"t-0": 3, "t-1": 7}, now=102.0)
    history.add("g", {"t-0": 1, "t-1": 6}, now=102.5)  # within a second: replaces the last point
    chart = history.chart("g")
    assert chart == {"labels": ["t-0", "t-1"], "data": [[100.0, 102.0], [5, 1], [None, 6]]}
    assert history.chart("other") == {"labels": [], "data": [[]]}


def test_lag_history_is_bounded() -> None:
    history = LagHistory()
    for i in range(MAX_POINTS + 50):
        history.add("g", {"t-0": i}, now=float(i * 2))
    data = history.chart("g")["data"]
    assert isinstance(data, list) and len(data[0]) == MAX_POINTS


def test_throughput_rates_from_counter_deltas() -> None:
    sampler = ThroughputSampler([])
    sampler._samples.extend(
        [
            (10.0, {"messages_in": 0.0, "bytes_in": 0.0, "bytes_out": 0.0}),
            (12.0, {"messages_in": 200.0, "bytes_in": 4000.0, "bytes_out": 0.0}),
            (14.0, {"messages_in": 50.0, "bytes_in": 1000.0, "bytes_out": 10.0}),  # a restart
        ]
    )
    chart = sampler.chart()
    assert chart["labels"] == ["messages_in", "bytes_in", "bytes_out"]
    assert chart["data"] == [[12.0, 14.0], [100.0, 25.0], [2000.0, 500.0], [0.0, 5.0]]


def test_timestamps_in_epoch_ms_or_iso() -> None:
    assert _timestamp({"timestamp": "1700000000000"}) == 1700000000000
    assert _timestamp({"timestamp": "2023-11-14T22:13:20"}) == 1700000000000
    assert _timestamp({"timestamp": "2023-11-14T23:13:20+01:00"}) == 1700000000000
    with pytest.raises(BadInput, match="ISO 8601"):
        _timestamp({"timestamp": "yesterday"})


def test_ksql_delimited_lines() -> None:
    assert _json_line('{"queryId":"q1","columnNames":["A"]}') == {
        "queryId": "q1",
        "columnNames": ["A"],
    }
    assert _json_line('[1,"x"]') == [1, "x"]
    assert _json_line("") is None and _json_line("not json") is None


def test_decoder_leaves_unframed_values_alone() -> None:
    from riverlog.console.decode import SchemaDecoder
    from riverlog.console.rest import RegistryApi

    unconfigured = SchemaDecoder(RegistryApi("Schema registry", None))
    assert unconfigured.decode(b"\x00\x00\x00\x00\x01payload") is None  # no registry to ask
    configured = SchemaDecoder(RegistryApi("Schema registry", "http://127.0.0.1:9"))
    assert configured.decode(b'{"a": 1}') is None  # not the wire format
    assert configured.decode(b"\x00\x00") is None  # too short for a schema id
    assert configured.decode(None) is None


def test_wanted_samples_reads_only_the_needed_lines() -> None:
    from riverlog.console.history import wanted_samples

    text = "\n".join(
        [
            "# HELP kafka_log_log_size Log bytes",
            "# TYPE kafka_log_log_size gauge",
            'kafka_log_log_size{topic="orders",partition="0"} 1024.0',
            'kafka_log_log_logendoffset{topic="orders",partition="0"} 7.0',
            'kafka_server_brokertopicmetrics_messagesin_total{topic="orders"} 7.0',
            'kafka_server_brokertopicmetrics_messagesin_created{topic="orders"} 1.7e9',
            "process_cpu_seconds_total 3.5",
        ]
    )
    assert wanted_samples(text) == [
        ("kafka_log_log_size", {"topic": "orders", "partition": "0"}, 1024.0),
        ("kafka_server_brokertopicmetrics_messagesin_total", {"topic": "orders"}, 7.0),
    ]


def test_throughput_chart_of_one_kind() -> None:
    sampler = ThroughputSampler([])
    sampler._samples.extend(
        [
            (0.0, {"messages_in": 0.0, "bytes_in": 0.0, "bytes_out": 0.0}),
            (1.0, {"messages_in": 10.0, "bytes_in": 100.0, "bytes_out": 50.0}),
        ]
    )
    assert sampler.chart("messages")["labels"] == ["messages_in"]
    bytes_chart = sampler.chart("bytes")
    assert bytes_chart["labels"] == ["bytes_in", "bytes_out"]
    assert bytes_chart["data"] == [[1.0], [100.0], [50.0]]
