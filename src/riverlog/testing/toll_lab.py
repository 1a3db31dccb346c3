"""The toll lab's platform for tests, in-process: PostgreSQL (throwaway cluster), a standalone Connect
worker, a SQL server and the console on free ports, around a broker the caller owns.

    with RunningBroker(tmp / "broker") as broker, TollLabServices(broker.bootstrap_servers, tmp) as lab:
        up(lab.settings(seed=7), start_apps=False)

Everything stops (and the PostgreSQL directory is removed) on exit, in reverse start order.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from riverlog.common.service import HttpService
from riverlog.connect.standalone import ConnectStandalone
from riverlog.console.app import ConsoleSettings, build_app
from riverlog.labs.toll.platform.lab import LabSettings
from riverlog.sql.server.server import SqlServer
from riverlog.testing import waiting
from riverlog.testing.postgres import RunningPostgres


class TollLabServices:
    def __init__(self, bootstrap: str, workdir: Path) -> None:
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.pg = RunningPostgres()
        self.connect: ConnectStandalone | None = None
        self.sql: SqlServer | None = None
        self.console: HttpService | None = None

    def start(self) -> TollLabServices:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pg.start()
        self.connect = ConnectStandalone(
            {
                "bootstrap.servers": self.bootstrap,
                "key.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "offset.storage.file.filename": str(self.workdir / "connect.offsets"),
                "offset.flush.interval.ms": "500",
                "listeners": "http://127.0.0.1:0",
            }
        ).start()
        self.sql = SqlServer(
            {
                "listeners": "http://127.0.0.1:0",
                "bootstrap.servers": self.bootstrap,
                "ksql.service.id": f"toll_{uuid.uuid4().hex[:6]}_",
                "ksql.streams.state.dir": str(self.workdir / "sql"),
                "ksql.streams.auto.offset.reset": "earliest",
                "ksql.streams.commit.interval.ms": "200",
                "ksql.streams.cache.max.bytes.buffering": "0",
            }
        )
        self.sql.start()
        self.console = HttpService(
            build_app(ConsoleSettings(self.bootstrap, connect_url=self.connect.url)),
            "127.0.0.1",
            0,
            name="console",
        )
        self.console.start()
        return self

    def stop(self) -> None:
        for stop in (
            self.console.stop if self.console else None,
            self.sql.stop if self.sql else None,
            self.connect.stop if self.connect else None,
            self.pg.stop,
        ):
            if stop is not None:
                try:
                    stop()
                except Exception:
                    pass

    def __enter__(self) -> TollLabServices:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def settings(self, seed: int = 1, data_dir: Path | None = None) -> LabSettings:
        assert self.connect is not None and self.sql is not None and self.console is not None
        return LabSettings(
            self.bootstrap,
            self.connect.url,
            self.pg.dsn,
            data_dir or self.workdir / "lab",
            sql_url=self.sql.url,
            alerts_url=f"{self.console.url}/labs/toll/alerts",
            seed=seed,
        )


def wait_until(check: Callable[[], Any], timeout_s: float = 60.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy (riverlog.testing.waiting, every 0.2 s)."""
    return waiting.wait_until(check, timeout_s, what, interval_s=0.2)


def read_latest(bootstrap: str, topic: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """Every partition of `topic` up to its current end: the latest JSON value per UTF-8 key."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"toll-check-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    out: dict[str, Any] = {}
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        ends = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.5):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        ends.pop(msg.partition(), None)
                    continue
                key = (msg.key() or b"").decode()
                raw = msg.value()
                out[key] = None if raw is None else json.loads(raw)
                if (msg.offset() or 0) + 1 >= ends.get(msg.partition() or 0, 0):
                    ends.pop(msg.partition(), None)
    finally:
        consumer.close()
    return out
