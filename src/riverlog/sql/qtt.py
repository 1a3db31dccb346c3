"""Query-validation tests (QTT), modelled on ksqlDB's: a JSON file per feature, each test a list
of statements, input records and the expected output records (or the expected error).

```json
{"tests": [{
  "name": "project and filter",
  "statements": ["CREATE STREAM TEST (ID BIGINT KEY, NAME STRING) WITH (kafka_topic='t', value_format='JSON');",
                 "CREATE STREAM S AS SELECT ID, NAME FROM TEST WHERE ID > 1;"],
  "inputs":  [{"topic": "t", "key": 2, "value": {"NAME": "a"}, "timestamp": 0}],
  "outputs": [{"topic": "S", "key": 2, "value": {"NAME": "a"}, "timestamp": 0}],
  "expectedException": {"message": "…substring…"}
}]}
```

Keys and values are written in the JSON form of the topic's format (a JSON document for JSON,
the text for DELIMITED, the number or string for KAFKA); windowed outputs add
`"window": {"start": ms, "end": ms, "type": "TIME"|"SESSION"}`. Every persistent query runs in its
own `TopologyTestDriver`; records written to a topic another query reads are piped on to it, so
chains of queries work as on a cluster.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from riverlog.sql.engine import Engine, EngineConfig, PersistentQuery
from riverlog.sql.errors import SqlError
from riverlog.sql.formats import BAD_RECORD, RowSerde
from riverlog.sql.internal import InternalSerde
from riverlog.sql.jsonio import dumps
from riverlog.sql.metastore import DataSource
from riverlog.streams.testing import TopologyTestDriver


@dataclass
class Record:
    topic: str
    key: bytes | None
    value: bytes | None
    timestamp: int


class MemoryKafka:
    """Topics in memory. Any topic a test names exists (as ksqlDB's QTT creates them)."""

    def __init__(self, auto_create: bool = True) -> None:
        self.topics: dict[str, int] = {}
        self.records: dict[str, list[Record]] = {}
        self.auto_create = auto_create
        self.on_produce: Any = None

    def topic_partitions(self, name: str) -> int | None:
        if name not in self.topics and self.auto_create:
            self.topics[name] = 1
        return self.topics.get(name)

    def create_topic(
        self, name: str, partitions: int, replicas: int, config: dict[str, str]
    ) -> None:
        self.topics[name] = partitions

    def delete_topic(self, name: str) -> None:
        self.topics.pop(name, None)

    def list_topics(self) -> dict[str, int]:
        return dict(self.topics)

    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, timestamp: int | None
    ) -> None:
        rec = Record(topic, key, value, 0 if timestamp is None else timestamp)
        if self.on_produce is not None:
            self.on_produce(rec)
        else:
            self.records.setdefault(topic, []).append(rec)


class DriverRuntime:
    """Runs each persistent query in a TopologyTestDriver and routes records between them."""

    def __init__(self, kafka: MemoryKafka) -> None:
        self.kafka = kafka
        self.drivers: dict[str, tuple[TopologyTestDriver, set[str], PersistentQuery]] = {}
        kafka.on_produce = self.deliver

    def start(self, query: PersistentQuery) -> None:
        internal = InternalSerde()
        driver = TopologyTestDriver(
            query.topology,
            {
                "application.id": query.application_id,
                "statestore.cache.max.bytes": 0,
                "default.key.serde": internal,
                "default.value.serde": internal,
            },
        )
        sources: set[str] = set()
        for info in query.topology.subtopologies().values():
            sources |= {t for t in info.source_topics if not query.topology.is_internal(t)}
        self.drivers[query.id] = (driver, sources, query)

    def stop(self, query: PersistentQuery, cleanup: bool) -> None:
        entry = self.drivers.pop(query.id, None)
        if entry is not None:
            entry[0].close()

    def deliver(self, rec: Record) -> None:
        """Write `rec` to its topic and to every query reading it, then their outputs, in order."""
        pending: deque[Record] = deque([rec])
        while pending:
            r = pending.popleft()
            self.kafka.records.setdefault(r.topic, []).append(r)
            for driver, sources, query in list(self.drivers.values()):
                if r.topic not in sources:
                    continue
                driver.pipe_raw(r.topic, r.key, r.value, r.timestamp)
                prefix = query.application_id + "-"
                for topic, q in driver.outputs.items():
                    if topic.startswith(prefix):
                        q.clear()
                        continue
                    while q:
                        out = q.popleft()
                        pending.append(Record(topic, out.key, out.value, out.timestamp))


@dataclass
class Failure:
    test: str
    message: str


@dataclass
class QttResult:
    passed: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)


# ---- encoding test records -----------------------------------------------------------------


def _source_for_topic(engine: Engine, topic: str) -> DataSource | None:
    found = [s for s in engine.metastore.sources.values() if s.topic == topic]
    return found[0] if found else None


def encode(source: DataSource | None, v: Any, is_key: bool) -> bytes | None:
    if v is None:
        return None
    fmt = "JSON" if source is None else (source.key_format if is_key else source.value_format)
    cols = [] if source is None else (source.key_columns if is_key else source.value_columns)
    if fmt == "KAFKA" and cols:
        t = cols[0].type.base
        if t == "INTEGER":
            return struct.pack(">i", int(v))
        if t == "BIGINT":
            return struct.pack(">q", int(v))
        if t == "DOUBLE":
            return struct.pack(">d", float(v))
        return str(v).encode()
    if fmt == "PROTOBUF_NOSR" and cols and source is not None:
        from riverlog.sql import types as T
        from riverlog.sql.protobuf_format import ProtobufRowCodec, nullable_representation

        fields = {str(k).upper(): x for k, x in v.items()} if isinstance(v, dict) else {}
        if not isinstance(v, dict):  # a single column written unwrapped
            fields = {cols[0].name: v}
        row = tuple(T.coerce(fields.get(c.name.upper()), c.type) for c in cols)
        rep = nullable_representation(source.props, is_key)
        return ProtobufRowCodec(fmt, cols, is_key, rep).write(source.topic, row)
    if fmt == "DELIMITED" or (isinstance(v, str) and fmt != "JSON"):
        return str(v).encode()
    return dumps(v).encode()


def decode(source: DataSource | None, b: bytes | None, is_key: bool) -> Any:
    if b is None:
        return None
    if source is None:
        try:
            return json.loads(b)
        except ValueError:
            return b.decode(errors="replace")
    fmt = source.key_format if is_key else source.value_format
    cols = source.key_columns if is_key else source.value_columns
    if is_key and source.window is not None:
        b = b[:-16] if source.window.kind == "SESSION" else b[:-8]
    if fmt == "KAFKA" and cols:
        v = RowSerde("KAFKA", cols, is_key).deserialize(source.topic, b)
        return None if v is BAD_RECORD else v[0]
    if fmt == "DELIMITED":
        return b.decode()
    if fmt == "NONE":
        return None
    if fmt == "PROTOBUF_NOSR":
        from riverlog.sql.protobuf_format import ProtobufRowCodec, nullable_representation

        rep = nullable_representation(source.props, is_key)
        row = ProtobufRowCodec(fmt, cols, is_key, rep).read(source.topic, b)
        return {c.name: x for c, x in zip(cols, row, strict=True)}
    return json.loads(b, parse_float=Decimal)


def window_of(source: DataSource | None, b: bytes | None) -> dict[str, Any] | None:
    if source is None or source.window is None or b is None:
        return None
    if source.window.kind == "SESSION":
        end, start = struct.unpack(">qq", b[-16:])
        return {"start": start, "end": end, "type": "SESSION"}
    (start,) = struct.unpack(">q", b[-8:])
    return {"start": start, "end": start + (source.window.size_ms or 0), "type": "TIME"}


def same(expected: Any, actual: Any) -> bool:
    """Values equal as ksqlDB's QTT compares them (numbers by value, 1 == 1.0)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            same(expected[k], actual[k]) for k in expected
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            same(a, b) for a, b in zip(expected, actual, strict=True)
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float, Decimal)) and isinstance(actual, (int, float, Decimal)):
        return float(expected) == float(actual) or (expected != expected and actual != actual)
    return bool(expected == actual)


# ---- running -------------------------------------------------------------------------------


def run_test(case: dict[str, Any]) -> str | None:
    """Run one test case; None when it passes, else what went wrong."""
    kafka = MemoryKafka()
    for t in case.get("topics", []):
        kafka.topics[t["name"]] = int(t.get("partitions", 1))
    runtime = DriverRuntime(kafka)
    engine = Engine(kafka, runtime, EngineConfig())
    expected_error = case.get("expectedException")
    try:
        for text in case["statements"]:
            engine.execute(text)
    except SqlError as e:
        if expected_error is None:
            return f"statement failed: {e}"
        want = expected_error.get("message", "")
        if want not in str(e):
            return f"expected error containing {want!r}, got {e!s}"
        return None
    finally:
        pass
    try:
        if expected_error is not None and not case.get("inputs"):
            return f"expected error {expected_error.get('message')!r}, but the statements succeeded"
        for rec in case.get("inputs", []):
            src = _source_for_topic(engine, rec["topic"])
            kafka.produce(
                rec["topic"],
                encode(src, rec.get("key"), True),
                encode(src, rec.get("value"), False),
                int(rec.get("timestamp", 0)),
            )
        return _check_outputs(engine, kafka, case.get("outputs", []))
    finally:
        for driver, _, _ in runtime.drivers.values():
            driver.close()


def _check_outputs(engine: Engine, kafka: MemoryKafka, outputs: list[dict[str, Any]]) -> str | None:
    by_topic: dict[str, deque[dict[str, Any]]] = {}
    for o in outputs:
        by_topic.setdefault(o["topic"], deque()).append(o)
    for topic, expected in by_topic.items():
        src = _source_for_topic(engine, topic)
        actual = kafka.records.get(topic, [])
        got = [_render(src, r) for r in actual]
        if len(got) != len(expected):
            return f"topic {topic}: expected {len(expected)} records, got {len(got)}: {got}"
        for i, (want, have) in enumerate(zip(expected, got, strict=True)):
            for k in ("key", "value", "timestamp", "window"):
                if k in want and not same(want[k], have.get(k)):
                    return f"topic {topic} record {i}: {k} expected {want[k]!r}, got {have.get(k)!r} (record {have})"
    return None


def _render(src: DataSource | None, r: Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": decode(src, r.key, True),
        "value": decode(src, r.value, False),
        "timestamp": r.timestamp,
    }
    w = window_of(src, r.key)
    if w is not None:
        out["window"] = w
    return out


def run_file(path: str | Path) -> QttResult:
    data = json.loads(Path(path).read_text())
    result = QttResult()
    for case in data["tests"]:
        name = case["name"]
        try:
            problem = run_test(case)
        except Exception as e:
            problem = f"{type(e).__name__}: {e}"
        if problem is None:
            result.passed.append(name)
        else:
            result.failed.append(Failure(name, problem))
    return result
