"""Broker Prometheus metrics on a real broker: a scrape during a produce/consume run moves by exactly the
records and bytes produced and consumed (confluent-kafka clients), per-API request counters and latency
histograms, log gauges, group lag, process metrics; `metrics.port` 0 serves nothing."""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningBroker, str]]:
    port = free_port()
    with RunningBroker(tmp_path_factory.mktemp("metrics"), metrics_port=str(port)) as running:
        yield running, f"http://127.0.0.1:{port}/metrics"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_produce_and_consume_move_the_counters(metered: tuple[RunningBroker, str]) -> None:
    broker, url = metered
    topic = f"m-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(10)
    before = scrape(url)
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 5})
    for i in range(500):
        producer.produce(topic, key=str(i).encode(), value=b"x" * 100, partition=i % 2)
    assert producer.flush(10) == 0
    middle = scrape(url)
    produced = value(middle, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic)
    assert (
        produced - value(before, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic)
        == 500
    )
    bytes_in = value(middle, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic)
    sizes = [value(middle, "kafka_log_log_size", topic=topic, partition=str(p)) for p in (0, 1)]
    assert bytes_in == sum(sizes) > 500 * 100  # every appended batch byte is in the log
    ends = [
        value(middle, "kafka_log_log_logendoffset", topic=topic, partition=str(p)) for p in (0, 1)
    ]
    assert ends == [250, 250]
    assert value(middle, "kafka_network_requestmetrics_requests_total", request="Produce") >= 2
    assert (
        value(middle, "kafka_network_requestmetrics_totaltime_seconds_count", request="Produce")
        >= 2
    )

    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    got = 0
    while got < 500:
        message = consumer.poll(10)
        assert message is not None and message.error() is None
        got += 1
    consumer.commit(
        offsets=[TopicPartition(topic, 0, 200), TopicPartition(topic, 1, 250)], asynchronous=False
    )
    consumer.close()
    after = scrape(url)
    bytes_out = value(after, "kafka_server_brokertopicmetrics_bytesout_total", topic=topic)
    assert bytes_out >= bytes_in  # every batch was read at least once
    assert (
        value(after, "kafka_consumergroup_lag", consumergroup=group, topic=topic, partition="0")
        == 50
    )
    assert (
        value(after, "kafka_consumergroup_lag", consumergroup=group, topic=topic, partition="1")
        == 0
    )
    assert (
        value(
            after,
            "kafka_consumergroup_current_offset",
            consumergroup=group,
            topic=topic,
            partition="0",
        )
        == 200
    )


def test_gauges_and_process_metrics(metered: tuple[RunningBroker, str]) -> None:
    _, url = metered
    samples = scrape(url)
    assert value(samples, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert value(samples, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert value(samples, "kafka_server_replicamanager_isrshrinks_total") == 0
    assert value(samples, "process_resident_memory_bytes") > 0
    assert httpx.get(url.replace("/metrics", "/nope"), timeout=5).status_code == 404


def test_metrics_port_zero_serves_nothing(tmp_path: Path) -> None:
    port = free_port()
    with RunningBroker(tmp_path, metrics_port="0") as running:
        assert running.node is not None and running.node.metrics_server is None
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_grafana_dashboard_queries_only_exported_metrics(
    metered: tuple[RunningBroker, str],
) -> None:
    _, url = metered
    dashboard = json.loads(
        (Path(__file__).parents[3] / "docs" / "grafana-riverlog.json").read_text()
    )
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(?:kafka|process)_[a-z_]+", target["expr"])
    }
    exported = set(scrape(url).keys())
    names = {name for name, _ in exported}
    missing = sorted(q for q in queried if q not in names)
    assert queried and not missing, missing
