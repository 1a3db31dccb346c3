"""Running compiled queries on the cluster with riverlog.streams' `KafkaStreams`.

Persistent queries: one `KafkaStreams` per query, application id
`_confluent-ksql-<service id>query_<query id>`, resuming from its committed offsets and state.
Transient (push) queries: their own application id `…transient_<id>`, rows handed to a queue, the
state removed when the query closes. Pull queries read a persistent query's stores.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from riverlog.sql.analyzer import Analysis
from riverlog.sql.build import Sink, TopologyPlanner
from riverlog.sql.engine import PersistentQuery
from riverlog.sql.formats import ProcessingLog
from riverlog.sql.internal import InternalSerde
from riverlog.streams import KafkaStreams, StreamsBuilder
from riverlog.streams.records import Windowed
from riverlog.streams.runtime.kafka_streams import StreamThreadExceptionResponse

log = logging.getLogger("riverlog.sql.runtime")


def offset_reset(properties: dict[str, Any]) -> dict[str, Any]:
    """A request's `auto.offset.reset` (or `ksql.streams.auto.offset.reset`) as a runtime override;
    ksqlDB applies it to the push and the persistent queries the request starts."""
    reset = properties.get("ksql.streams.auto.offset.reset") or properties.get("auto.offset.reset")
    return {"auto.offset.reset": reset} if reset else {}


class StreamsRuntime:
    def __init__(self, bootstrap: str, streams_props: dict[str, Any]) -> None:
        self.bootstrap = bootstrap
        self.props = dict(streams_props)
        self.deferred: list[PersistentQuery] | None = None  # during replay

    def _config(self, application_id: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        internal = InternalSerde()
        props = {k: v for k, v in self.props.items() if k != "auto.offset.reset"}
        reset = (extra or {}).get(
            "auto.offset.reset", self.props.get("auto.offset.reset", "latest")
        )
        return {
            **props,
            "application.id": application_id,
            "bootstrap.servers": self.bootstrap,
            "default.key.serde": internal,
            "default.value.serde": internal,
            "default.deserialization.exception.handler": "log-and-continue",
            "main.consumer.auto.offset.reset": reset,
            **{k: v for k, v in (extra or {}).items() if k != "auto.offset.reset"},
        }

    def start(self, query: PersistentQuery) -> None:
        if self.deferred is not None:
            self.deferred.append(query)
            return
        ks = KafkaStreams(
            query.topology, self._config(query.application_id, offset_reset(query.properties))
        )

        def on_error(exc: BaseException) -> StreamThreadExceptionResponse:
            query.state = "ERROR"
            query.error = f"{type(exc).__name__}: {exc}"
            query.error_time = int(time.time() * 1000)
            log.error("query %s failed: %s", query.id, query.error)
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT

        ks.set_uncaught_exception_handler(on_error)
        ks.start()
        query.handle = ks

    def stop(self, query: PersistentQuery, cleanup: bool) -> None:
        if self.deferred is not None and query in self.deferred:
            self.deferred.remove(query)
            return
        ks = query.handle
        if ks is None:
            return
        ks.close(30)
        if cleanup:
            try:
                ks.clean_up()
            except Exception as e:
                log.warning("could not clean up %s: %s", query.id, e)
        query.handle = None

    def pause(self, query: PersistentQuery) -> None:
        self.stop(query, cleanup=False)

    def resume(self, query: PersistentQuery) -> None:
        self.start(query)

    def finish_replay(self, live: dict[str, PersistentQuery]) -> None:
        """Start the queries replay left running (ones terminated later in the log never start)."""
        pending, self.deferred = self.deferred or [], None
        for q in pending:
            if live.get(q.id) is q:
                self.start(q)


class TransientQuery:
    """A push query: its topology runs until LIMIT rows, `close()` or an error."""

    def __init__(
        self,
        runtime: StreamsRuntime,
        service_id: str,
        analysis: Analysis,
        limit: int | None,
        properties: dict[str, Any],
    ) -> None:
        self.id = f"transient_{analysis.source.name}_{uuid.uuid4().int % 10**19}"
        self.analysis = analysis
        self.limit = limit
        self.rows: queue.Queue[Any] = queue.Queue()
        self.count = 0
        self.done = threading.Event()
        builder = StreamsBuilder()
        self.plog = ProcessingLog()
        TopologyPlanner(builder, self.plog).build(analysis, Sink(None, callback=self._on_row))
        app_id = f"_confluent-ksql-{service_id}{self.id}"
        extra: dict[str, Any] = {
            "statestore.cache.max.bytes": 0,
            "commit.interval.ms": 100,
            **offset_reset(properties),
        }
        self.streams = KafkaStreams(builder.build(), runtime._config(app_id, extra))
        self.streams.set_uncaught_exception_handler(self._on_error)

    def columns(self) -> list[tuple[str, str]]:
        return [(p.name, str(p.compiled.type)) for p in self.analysis.projection]

    def _on_error(self, exc: BaseException) -> StreamThreadExceptionResponse:
        self.rows.put(("error", f"{type(exc).__name__}: {exc}"))
        self.done.set()
        return StreamThreadExceptionResponse.SHUTDOWN_CLIENT

    def _on_row(self, key: Any, value: Any, timestamp: int) -> None:
        if self.done.is_set():
            return
        a = self.analysis
        row: list[Any] = [None] * len(a.projection)
        inner = key.key if isinstance(key, Windowed) else key
        if inner is not None and a.key_index:
            for i, idx in enumerate(a.key_index):
                row[idx] = inner[i]
        tombstone = value is None
        if value is not None:
            for j, idx in enumerate(a.value_index):
                row[idx] = value[j]
        self.rows.put(("row", row, tombstone))
        self.count += 1
        if self.limit is not None and self.count >= self.limit:
            self.rows.put(("limit", None))
            self.done.set()

    def start(self) -> None:
        self.streams.start()

    def close(self) -> None:
        self.done.set()
        self.rows.put(("closed", None))
        threading.Thread(target=self._shutdown, daemon=True).start()

    def _shutdown(self) -> None:
        try:
            self.streams.close(30)
            self.streams.clean_up()
        except Exception as e:
            log.warning("closing %s: %s", self.id, e)


RowCallback = Callable[[Any, Any, int], None]
