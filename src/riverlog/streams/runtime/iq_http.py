"""The built-in interactive-query HTTP endpoint on `application.server` (riverlog's addition), JSON:

| store kind | `GET /stores/<store>/keys/<key>` | `GET /stores/<store>/range` |
|---|---|---|
| key-value | `{"key", "value"}` (404 when absent) | `?from=&to=` keys → `[{"key", "value"}]` |
| window | `?from=&to=` window starts → `{"key", "windows": [{"start", "end", "value"}]}` (`fetch(key, from, to)`) | `?from=&to=` window starts → `[{"key", "start", "end", "value"}]` (`fetch_all`) |
| session | `?from=&to=` → `{"key", "sessions": [{"start", "end", "value"}]}`: sessions ending at or after `from` and starting at or before `to` (`find_sessions`) | same bounds → `[{"key", "start", "end", "value"}]` |

Times are epoch milliseconds or ISO-8601 datetimes; a missing bound is unbounded. A key query
answers from the local store when this instance owns the key's partition, else forwards once to the
owner (a forwarded request that is not local answers 503, never loops); a range query merges the
local answer with every other instance's (`?local=true` asks one instance for its own part only). A
global store is answered locally (every instance holds all of it). While stores are unavailable
(rebalancing, restoring) the answer is 503 with the reason: retry. Keys in the path are text: an
integer-keyed store gets `int(key)`. Bad parameters answer 400 naming the parameter.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from riverlog.streams.errors import InvalidStateStoreException
from riverlog.streams.interactive import (
    QueryableStoreType,
    QueryableStoreTypes,
    StoreQueryParameters,
)
from riverlog.streams.serdes import MAX_LONG, Serde

if TYPE_CHECKING:
    from riverlog.streams.runtime.kafka_streams import KafkaStreams

FORWARDED = "x-riverlog-forwarded"
_TYPES: dict[str, QueryableStoreType] = {
    "kv": QueryableStoreTypes.key_value_store(),
    "window": QueryableStoreTypes.window_store(),
    "session": QueryableStoreTypes.session_store(),
}


class BadRequest(ValueError):
    pass


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


def parse_time(request: Request, name: str, default: int) -> int:
    """A time bound: epoch milliseconds or an ISO-8601 datetime (naive = UTC)."""
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"parameter {name}: {text!r} is neither epoch milliseconds nor an ISO-8601 datetime"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _windows(rows: Any) -> list[dict[str, Any]]:
    return [
        {"start": kv.key.window.start, "end": kv.key.window.end, "value": _json(kv.value)}
        for kv in rows
    ]


def _keyed_windows(rows: Any) -> list[dict[str, Any]]:
    return [
        {
            "key": _json(kv.key.key),
            "start": kv.key.window.start,
            "end": kv.key.window.end,
            "value": _json(kv.value),
        }
        for kv in rows
    ]


def build_app(streams: KafkaStreams) -> Starlette:
    topology = streams.topology

    def kind(store: str) -> str:
        spec = topology.stores.get(store)
        return "kv" if spec is None else spec.kind

    def is_global(store: str) -> bool:
        return store in topology.global_store_specs or store in topology.global_state

    def key_serde(store: str) -> Serde[Any]:
        spec = topology.stores.get(store) or topology.global_store_specs.get(store)
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

    def view(store: str) -> Any:
        return streams.store(StoreQueryParameters.from_name_and_type(store, _TYPES[kind(store)]))

    def local_key(request: Request, store: str, key: Any, text: str) -> JSONResponse:
        k = kind(store)
        if k == "kv":
            value = view(store).get(key)
            if value is None:
                return JSONResponse({"error": f"no value for key {text!r}"}, status_code=404)
            return JSONResponse({"key": _json(key), "value": _json(value)})
        lo = parse_time(request, "from", 0)
        hi = parse_time(request, "to", MAX_LONG)
        if k == "window":
            rows = _windows(view(store).fetch(key, key, lo, hi))
            return JSONResponse({"key": _json(key), "windows": rows})
        rows = _windows(view(store).find_sessions(key, lo, hi))
        return JSONResponse({"key": _json(key), "sessions": rows})

    def one(request: Request) -> JSONResponse:
        store, text = request.path_params["store"], request.path_params["key"]
        try:
            key = typed_key(store, text)
            if is_global(store):
                return local_key(request, store, key, text)
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
                if request.url.query:
                    url += f"?{request.url.query}"
                status, body = _get(url)
                return JSONResponse(body, status_code=status)
            return local_key(request, store, key, text)
        except InvalidStateStoreException as e:
            return JSONResponse({"error": str(e)}, status_code=503)
        except (BadRequest, ValueError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)

    def local_range(request: Request, store: str) -> list[dict[str, Any]]:
        q = request.query_params
        k = kind(store)
        if k == "kv":
            lo = None if q.get("from") is None else typed_key(store, q["from"])
            hi = None if q.get("to") is None else typed_key(store, q["to"])
            return [
                {"key": _json(kv.key), "value": _json(kv.value)} for kv in view(store).range(lo, hi)
            ]
        t_lo = parse_time(request, "from", 0)
        t_hi = parse_time(request, "to", MAX_LONG)
        if k == "window":
            return _keyed_windows(view(store).fetch_all(t_lo, t_hi))
        return _keyed_windows(
            kv
            for kv in view(store).all()
            if kv.key.window.end >= t_lo and kv.key.window.start <= t_hi
        )

    def range_(request: Request) -> JSONResponse:
        store = request.path_params["store"]
        q = request.query_params
        try:
            rows = local_range(request, store)
            if q.get("local") != "true" and not is_global(store):
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
        except (BadRequest, ValueError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        rows.sort(key=lambda r: (str(r["key"]), r.get("start", 0)))
        return JSONResponse(rows)

    return Starlette(
        routes=[
            Route("/stores/{store}/keys/{key}", one),
            Route("/stores/{store}/range", range_),
        ]
    )
