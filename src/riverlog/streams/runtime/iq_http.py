"""The built-in interactive-query HTTP endpoint on `application.server` (riverlog's addition):
`GET /stores/<store>/keys/<key>` and `GET /stores/<store>/range?from=&to=`, JSON.

A key query answers from the local store when this instance owns the key's partition, else forwards
once to the owner (a forwarded request that is not local answers 503, never loops); a range query
merges the local answer with every other instance's (`?local=true` asks one instance for its own
part only). While stores are unavailable (rebalancing, restoring) the answer is 503 with the
reason: retry. Keys in the path are text: an integer-keyed store gets `int(key)`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from riverlog.streams.errors import InvalidStateStoreException
from riverlog.streams.interactive import QueryableStoreTypes, StoreQueryParameters
from riverlog.streams.serdes import Serde

if TYPE_CHECKING:
    from riverlog.streams.runtime.kafka_streams import KafkaStreams

FORWARDED = "x-riverlog-forwarded"


def _json(v: Any) -> Any:
    try:
        json.dumps(v)
        return v
    except TypeError:
        return str(v)


def _get(url: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={FORWARDED: "1"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
    except OSError as e:
        return 503, {"error": f"owner {url} unreachable: {e}"}


def build_app(streams: KafkaStreams) -> Starlette:
    def key_serde(store: str) -> Serde[Any]:
        spec = streams.topology.stores.get(store)
        serde = None if spec is None else spec.key_serde
        if serde is None:
            from riverlog.streams.serdes import resolve_serde

            serde = resolve_serde(streams.config.values.get("default.key.serde"))
        if serde is None:
            raise InvalidStateStoreException(f"store {store}: no key serde")
        return serde

    def typed_key(store: str, text: str) -> Any:
        name = type(key_serde(store)).__name__.lower()
        return int(text) if any(n in name for n in ("long", "integer", "short")) else text

    def params(store: str) -> StoreQueryParameters:
        return StoreQueryParameters.from_name_and_type(store, QueryableStoreTypes.key_value_store())

    def one(request: Request) -> JSONResponse:
        store, text = request.path_params["store"], request.path_params["key"]
        try:
            key = typed_key(store, text)
            meta = streams.query_metadata_for_key(store, key, key_serde(store))
            if meta.active_host != streams.host_info:
                if request.headers.get(FORWARDED):
                    raise InvalidStateStoreException(
                        f"{streams.host_info} does not own {store}/{text} (metadata moving)"
                    )
                url = (
                    f"http://{meta.active_host}/stores/{urllib.parse.quote(store)}/keys/"
                    f"{urllib.parse.quote(text)}"
                )
                status, body = _get(url)
                return JSONResponse(body, status_code=status)
            value = streams.store(params(store)).get(key)
        except InvalidStateStoreException as e:
            return JSONResponse({"error": str(e)}, status_code=503)
        if value is None:
            return JSONResponse({"error": f"no value for key {text!r}"}, status_code=404)
        return JSONResponse({"key": _json(key), "value": _json(value)})

    def range_(request: Request) -> JSONResponse:
        store = request.path_params["store"]
        q = request.query_params
        try:
            lo = None if q.get("from") is None else typed_key(store, q["from"])
            hi = None if q.get("to") is None else typed_key(store, q["to"])
            rows = [
                {"key": _json(kv.key), "value": _json(kv.value)}
                for kv in streams.store(params(store)).range(lo, hi)
            ]
            if q.get("local") != "true":
                for meta in streams.metadata_for_all_streams_clients():
                    if meta.host_info == streams.host_info or not meta.topic_partitions:
                        continue  # a host owning nothing (e.g. a crashed one, superseded)
                    query = dict(q) | {"local": "true"}
                    url = (
                        f"http://{meta.host_info}/stores/{urllib.parse.quote(store)}/range?"
                        + urllib.parse.urlencode(query)
                    )
                    status, body = _get(url)
                    if status != 200:
                        return JSONResponse(body, status_code=status)
                    rows.extend(body)
        except InvalidStateStoreException as e:
            return JSONResponse({"error": str(e)}, status_code=503)
        rows.sort(key=lambda r: str(r["key"]))
        return JSONResponse(rows)

    return Starlette(
        routes=[
            Route("/stores/{store}/keys/{key}", one),
            Route("/stores/{store}/range", range_),
        ]
    )
