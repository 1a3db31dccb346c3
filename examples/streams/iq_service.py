"""Interactive queries: a word count whose counts are read straight from its state store
(`app.store(StoreQueryParameters...)`), served over HTTP by `riverlog.common.service.HttpService`.

Start a broker (`make run`), then:

    python examples/streams/iq_service.py --port 8090
    curl localhost:8090/counts/kafka          # {"key": "kafka", "value": 3}
    curl localhost:8090/counts                # every count this instance holds

This serves the stores of this one instance; the built-in forwarding endpoint across instances
(`application.server`) is not part of riverlog yet (see docs/streams.md). While the app is
rebalancing or restoring, a query answers 503 (Kafka's InvalidStateStoreException: retry).
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import timedelta

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from riverlog.common.service import HttpService
from riverlog.streams import (
    Consumed,
    Grouped,
    KafkaStreams,
    Materialized,
    QueryableStoreTypes,
    Serdes,
    StoreQueryParameters,
    StreamsBuilder,
)
from riverlog.streams.errors import InvalidStateStoreException

S = Serdes.String()
COUNTS = StoreQueryParameters.from_name_and_type("counts", QueryableStoreTypes.key_value_store())


def build_topology():  # type: ignore[no-untyped-def]
    b = StreamsBuilder()
    b.stream("iq-text", Consumed.with_(S, S)).flat_map_values(lambda v: v.lower().split()).group_by(
        lambda k, w: w, Grouped.with_(S, S)
    ).count(Materialized.as_("counts"))
    return b.build()


def web(app: KafkaStreams) -> Starlette:
    async def one(request: Request) -> JSONResponse:
        key = request.path_params["key"]
        try:
            value = app.store(COUNTS).get(key)
        except InvalidStateStoreException as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        if value is None:
            return JSONResponse({"error": f"no count for {key}"}, status_code=404)
        return JSONResponse({"key": key, "value": value})

    async def every(request: Request) -> JSONResponse:
        try:
            return JSONResponse({kv.key: kv.value for kv in app.store(COUNTS).all()})
        except InvalidStateStoreException as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)

    return Starlette(routes=[Route("/counts/{key}", one), Route("/counts", every)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: never)")
    args = parser.parse_args()
    bs = args.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bs})  # kept alive: its futures need it
    for f in admin.create_topics([NewTopic("iq-text", 2)]).values():
        try:
            f.result(timeout=15)
        except KafkaException as exc:
            if "already exists" not in str(exc).lower():
                raise
    app = KafkaStreams(build_topology(), {"application.id": "iq-service", "bootstrap.servers": bs})
    app.start()
    p = Producer({"bootstrap.servers": bs})
    for line in ["hello kafka", "kafka streams in python", "kafka tables"]:
        p.produce("iq-text", value=line)
    p.flush(10)
    service = HttpService(web(app), "127.0.0.1", args.port, name="iq-service")
    service.start()
    print(f"serving counts on {service.url}/counts/<word>")
    done = threading.Event()
    try:
        done.wait(args.seconds or None)
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
        app.close(timedelta(seconds=30))
    time.sleep(0)


if __name__ == "__main__":
    main()
