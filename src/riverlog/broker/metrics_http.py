"""The broker's `GET /metrics` endpoint (prometheus-client's text format) on its own event loop.

The collector turns `BrokerMetrics` counters and the broker's state (replicas, logs, groups, the
controller) into metric families at scrape time; the server answers one request per connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector

from riverlog.broker.metrics import (
    BYTES_IN,
    BYTES_OUT,
    FETCH_REQS,
    LATENCY_BUCKETS,
    MSG_IN,
    PRODUCE_REQS,
)

if TYPE_CHECKING:
    from riverlog.broker.services import BrokerServices

log = logging.getLogger(__name__)
MAX_REQUEST_LINE = 8192


class BrokerCollector:
    """prometheus-client's Collector protocol over a broker's services and counters."""

    def __init__(self, services: BrokerServices, api_names: dict[int, str]) -> None:
        self.services = services
        self.counters = services.metrics
        self.api_names = api_names

    def collect(self) -> Iterator[Metric]:
        yield from self._topic_metrics()
        yield from self._request_metrics()
        yield from self._replica_metrics()
        yield from self._group_metrics()

    def _topic_metrics(self) -> Iterator[Metric]:
        prefix = "kafka_server_brokertopicmetrics_"
        names = (
            ("messagesin", "Records appended (MessagesInPerSec)", MSG_IN),
            ("bytesin", "Record batch bytes appended (BytesInPerSec)", BYTES_IN),
            ("bytesout", "Record bytes sent to fetchers (BytesOutPerSec)", BYTES_OUT),
            (
                "totalproducerequests",
                "Partition produce requests (TotalProduceRequestsPerSec)",
                PRODUCE_REQS,
            ),
            (
                "totalfetchrequests",
                "Partition fetch requests (TotalFetchRequestsPerSec)",
                FETCH_REQS,
            ),
        )
        for name, doc, index in names:
            family = CounterMetricFamily(prefix + name, doc, labels=["topic"])
            for topic, counters in sorted(self.counters.topics.items()):
                family.add_metric([topic], counters[index])
            yield family

    def _request_metrics(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "kafka_network_requestmetrics_requests",
            "Requests answered per API (RequestsPerSec)",
            labels=["request"],
        )
        latency = HistogramMetricFamily(
            "kafka_network_requestmetrics_totaltime_seconds",
            "Time from a request's arrival to its answer, per API (TotalTimeMs)",
            labels=["request"],
        )
        for key, stats in sorted(self.counters.apis.items()):
            name = self.api_names.get(key, str(key))
            requests.add_metric([name], stats.count)
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), stats.buckets, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            latency.add_metric([name], buckets, stats.sum_s)
        yield requests
        yield latency

    def _replica_metrics(self) -> Iterator[Metric]:
        services = self.services
        me = services.broker_id
        parts = list(services.replicas.partitions.values())
        led = [p for p in parts if p.leader == me]
        under = sum(1 for p in led if len(p.isr or (me,)) < len(p.replicas))
        prefix = "kafka_server_replicamanager_"
        yield GaugeMetricFamily(prefix + "partitioncount", "Partitions hosted", value=len(parts))
        yield GaugeMetricFamily(prefix + "leadercount", "Partitions led", value=len(led))
        yield GaugeMetricFamily(
            prefix + "underreplicatedpartitions", "Led partitions with ISR < replicas", value=under
        )
        yield CounterMetricFamily(
            prefix + "isrshrinks", "ISR shrinks", value=services.replicas.isr_shrinks
        )
        yield CounterMetricFamily(
            prefix + "isrexpands", "ISR expansions", value=services.replicas.isr_expands
        )
        image = services.image
        active = 1 if image.controller_id == me else 0
        yield GaugeMetricFamily(
            "kafka_controller_kafkacontroller_activecontrollercount",
            "1 on the active controller",
            value=active,
        )
        size = GaugeMetricFamily("kafka_log_log_size", "Log bytes", labels=["topic", "partition"])
        end = GaugeMetricFamily(
            "kafka_log_log_logendoffset", "Log end offset", labels=["topic", "partition"]
        )
        start = GaugeMetricFamily(
            "kafka_log_log_logstartoffset", "Log start offset", labels=["topic", "partition"]
        )
        for p in sorted(parts, key=lambda p: (p.topic, p.index)):
            labels = [p.topic, str(p.index)]
            size.add_metric(labels, p.log.size_in_bytes)
            end.add_metric(labels, p.log.log_end_offset)
            start.add_metric(labels, p.log.log_start_offset)
        yield size
        yield end
        yield start

    def _group_metrics(self) -> Iterator[Metric]:
        """Committed offset and lag per group partition, for the partitions this broker leads (what
        kafka_exporter reports as kafka_consumergroup_*)."""
        services = self.services
        if not services.coordinators_started:
            return
        current = GaugeMetricFamily(
            "kafka_consumergroup_current_offset",
            "Committed offset",
            labels=["consumergroup", "topic", "partition"],
        )
        lag = GaugeMetricFamily(
            "kafka_consumergroup_lag",
            "High watermark minus committed offset",
            labels=["consumergroup", "topic", "partition"],
        )
        replicas = services.replicas
        for shard in list(services.groups.shards.values()):
            for group, offsets in sorted(shard.offsets.offsets.items()):
                for (topic, index), value in sorted(offsets.items()):
                    labels = [group, topic, str(index)]
                    current.add_metric(labels, value.offset)
                    part = replicas.get(topic, index)
                    if part is not None and part.leader == services.broker_id:
                        lag.add_metric(labels, max(0, part.log.high_watermark - value.offset))
        yield current
        yield lag


class MetricsServer:
    """A minimal HTTP/1.1 endpoint on the broker's loop: `GET /metrics` (and `/`) in Prometheus' text
    format; anything else is 404. One request per connection (Connection: close)."""

    def __init__(self, services: BrokerServices, api_names: dict[int, str]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(BrokerCollector(services, api_names))  # type: ignore[arg-type]
        ProcessCollector(registry=self.registry)
        self._server: asyncio.Server | None = None
        self.port = -1

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host or None, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, _, rest = head[:MAX_REQUEST_LINE].partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            if method not in (b"GET", b"HEAD"):
                status, body, ctype = "405 Method Not Allowed", b"", "text/plain"
            elif path in (b"/metrics", b"/"):
                body = generate_latest(self.registry)
                status, ctype = "200 OK", "text/plain; version=0.0.4; charset=utf-8"
            else:
                status, body, ctype = "404 Not Found", b"not found\n", "text/plain"
            header = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(header.encode() + (b"" if method == b"HEAD" else body))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass
        finally:
            writer.close()
