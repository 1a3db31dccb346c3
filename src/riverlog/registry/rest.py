"""The registry's REST API: Confluent Schema Registry's routes, payloads and error codes, as a Starlette
app. Handlers call `SchemaRegistry` and nothing else; writes run on a worker thread (they block on
Kafka) and, on a follower, are forwarded verbatim to the leader.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riverlog.common.metrics import FunctionCollector, ServiceMetrics, gauge
from riverlog.registry import errors
from riverlog.registry.core import SchemaRegistry
from riverlog.schema.types import SchemaType

if TYPE_CHECKING:
    import httpx

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
ACCEPTED_BODIES = (
    "application/vnd.schemaregistry.v1+json",
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",
)
FORWARD_TIMEOUT_S = 30.0
FORWARDED_HEADER = "X-Riverlog-Forwarded"


class Leadership(Protocol):
    """Who leads: the elector as the REST layer sees it."""

    def is_leader(self) -> bool: ...

    def leader_url(self) -> str | None: ...

    def cluster_id(self) -> str: ...


class JsonResponse(Response):
    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()


def error_response(exc: errors.RegistryError) -> Response:
    return JsonResponse({"error_code": exc.code, "message": exc.message}, status_code=exc.status)


def flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def int_param(request: Request, name: str, default: int) -> int:
    """An integer query parameter; a malformed one is a 404, as JAX-RS answers in Confluent's."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.RegistryError(404, 404, "HTTP 404 Not Found") from None


async def read_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in ACCEPTED_BODIES:
        raise errors.RegistryError(415, 415, f"Unsupported content type {content_type}")
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise errors.RegistryError(400, 400, f"Unrecognized request body: {exc}") from None
    if not isinstance(body, dict):
        raise errors.RegistryError(422, 422, "The request body must be a JSON object")
    return body


def build_app(
    registry: SchemaRegistry, leadership: Leadership, group_id: str = "schema-registry"
) -> Starlette:
    """The ASGI app serving `registry`."""
    # Made on the first forward: an httpx client builds a TLS context (reading the CA bundle) when
    # created, which was a quarter of the registry's start before it could listen (bench note in
    # docs/registry.md); a leader never needs it.
    forwarders: list[httpx.AsyncClient] = []

    def forwarder() -> httpx.AsyncClient:
        import httpx

        if not forwarders:
            forwarders.append(httpx.AsyncClient(timeout=FORWARD_TIMEOUT_S))
        return forwarders[0]

    def read(
        handler: Callable[[Request], Awaitable[Any]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return JsonResponse(await handler(request))
            except errors.RegistryError as exc:
                return error_response(exc)

        return endpoint

    def write(
        handler: Callable[[Request, dict[str, Any]], Any],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                body = await read_body(request) if request.method in ("POST", "PUT") else {}
                if not leadership.is_leader():
                    return await forward(request)
                return JsonResponse(await run_in_threadpool(handler, request, body))
            except errors.RegistryError as exc:
                return error_response(exc)

        return endpoint

    async def forward(request: Request) -> Response:
        import httpx  # only followers forward: not imported at start (~60 ms)

        if request.headers.get(FORWARDED_HEADER):
            # Forwarded here by an instance that took us for the leader: never forward twice.
            raise errors.unknown_leader("Request forwarded to an instance that is not the leader")
        leader = await run_in_threadpool(leadership.leader_url)
        if leader is None:
            raise errors.unknown_leader("Request forwarding failed: no leader is known")
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        url = leader.rstrip("/") + raw_path.decode("latin-1")
        if request.url.query:
            url += "?" + request.url.query
        headers = {
            k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")
        }
        headers[FORWARDED_HEADER] = "true"
        try:
            answer = await forwarder().request(
                request.method, url, content=await request.body(), headers=headers
            )
        except httpx.HTTPError as exc:
            message = f"Error while forwarding the request to the leader: {exc}"
            raise errors.forward_error(message) from None
        return Response(
            answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type", MEDIA_TYPE),
        )

    # -- handlers -----------------------------------------------------------------------------------

    async def root(request: Request) -> Any:
        return {}

    async def metadata_id(request: Request) -> Any:
        return {
            "scope": {
                "path": [],
                "clusters": {
                    "kafka-cluster": leadership.cluster_id(),
                    "schema-registry-cluster": group_id,
                },
            }
        }

    async def schema_types(request: Request) -> Any:
        return registry.schema_types()

    def schema_id(request: Request) -> int:
        try:
            return int(request.path_params["id"])
        except ValueError:
            raise errors.schema_not_found() from None

    async def schema_by_id(request: Request) -> Any:
        q = request.query_params
        return registry.schema_by_id(schema_id(request), q.get("format"), q.get("subject"))

    async def schemas(request: Request) -> Any:
        q = request.query_params
        return registry.schemas(
            q.get("subjectPrefix", ""),
            flag(request, "deleted"),
            flag(request, "latestOnly"),
            int_param(request, "offset", 0),
            int_param(request, "limit", -1),
        )

    async def schema_text_by_id(request: Request) -> Response:
        body = registry.schema_by_id(schema_id(request), request.query_params.get("format"))
        return Response(str(body["schema"]), media_type=MEDIA_TYPE)

    async def subjects_of_id(request: Request) -> Any:
        return registry.subjects_of_id(schema_id(request), flag(request, "deleted"))

    async def versions_of_id(request: Request) -> Any:
        return registry.versions_of_id(schema_id(request), flag(request, "deleted"))

    async def subjects(request: Request) -> Any:
        prefix = request.query_params.get("subjectPrefix", "")
        return registry.subjects(flag(request, "deleted"), prefix, flag(request, "deletedOnly"))

    async def versions(request: Request) -> Any:
        return registry.versions(
            request.path_params["subject"], flag(request, "deleted"), flag(request, "deletedOnly")
        )

    async def version(request: Request) -> Any:
        p = request.path_params
        fmt = request.query_params.get("format")
        return registry.version_body(p["subject"], p["version"], flag(request, "deleted"), fmt)

    async def version_schema(request: Request) -> Response:
        p = request.path_params
        try:
            value = registry.version(p["subject"], p["version"], flag(request, "deleted"))
        except errors.RegistryError as exc:
            return error_response(exc)
        return Response(value.schema, media_type=MEDIA_TYPE)

    async def referenced_by(request: Request) -> Any:
        return registry.referenced_by(
            request.path_params["subject"], request.path_params["version"]
        )

    async def lookup(request: Request) -> Any:
        body = await read_body(request)
        subject = request.path_params["subject"]
        return await run_in_threadpool(
            registry.lookup, subject, body, flag(request, "deleted"), flag(request, "normalize")
        )

    async def compatibility(request: Request) -> Any:
        body = await read_body(request)
        subject = request.path_params["subject"]
        version = request.path_params.get("version")
        problems = await run_in_threadpool(registry.test_compatibility, subject, version, body)
        answer: dict[str, Any] = {"is_compatible": not problems}
        if flag(request, "verbose"):
            answer["messages"] = problems
        return answer

    async def get_config(request: Request) -> Any:
        subject = request.path_params.get("subject")
        return registry.get_config(subject, flag(request, "defaultToGlobal"))

    async def get_mode(request: Request) -> Any:
        subject = request.path_params.get("subject")
        return registry.get_mode(subject, flag(request, "defaultToGlobal"))

    async def contexts(request: Request) -> Any:
        return ["."]

    # -- write handlers (run on a worker thread, on the leader) -------------------------------------

    def register(request: Request, body: dict[str, Any]) -> Any:
        return registry.register(request.path_params["subject"], body, flag(request, "normalize"))

    def delete_subject(request: Request, body: dict[str, Any]) -> Any:
        return registry.delete_subject(request.path_params["subject"], flag(request, "permanent"))

    def delete_version(request: Request, body: dict[str, Any]) -> Any:
        p = request.path_params
        return registry.delete_version(p["subject"], p["version"], flag(request, "permanent"))

    def put_config(request: Request, body: dict[str, Any]) -> Any:
        return registry.set_config(request.path_params.get("subject"), body)

    def delete_config(request: Request, body: dict[str, Any]) -> Any:
        return registry.delete_config(request.path_params.get("subject"))

    def put_mode(request: Request, body: dict[str, Any]) -> Any:
        return registry.set_mode(request.path_params.get("subject"), body, flag(request, "force"))

    def delete_mode(request: Request, body: dict[str, Any]) -> Any:
        return registry.delete_mode(request.path_params["subject"])

    subject = "/subjects/{subject:path}"
    routes = [
        Route("/", read(root), methods=["GET"]),
        Route("/v1/metadata/id", read(metadata_id), methods=["GET"]),
        Route("/schemas/types", read(schema_types), methods=["GET"]),
        Route("/schemas", read(schemas), methods=["GET"]),
        Route("/schemas/ids/{id}", read(schema_by_id), methods=["GET"]),
        Route("/schemas/ids/{id}/schema", _raw(schema_text_by_id), methods=["GET"]),
        Route("/schemas/ids/{id}/subjects", read(subjects_of_id), methods=["GET"]),
        Route("/schemas/ids/{id}/versions", read(versions_of_id), methods=["GET"]),
        Route("/subjects", read(subjects), methods=["GET"]),
        Route(subject + "/versions/{version}/schema", version_schema, methods=["GET"]),
        Route(subject + "/versions/{version}/referencedby", read(referenced_by), methods=["GET"]),
        Route(subject + "/versions/{version}", read(version), methods=["GET"]),
        Route(subject + "/versions/{version}", write(delete_version), methods=["DELETE"]),
        Route(subject + "/versions", read(versions), methods=["GET"]),
        Route(subject + "/versions", write(register), methods=["POST"]),
        Route(subject, read(lookup), methods=["POST"]),
        Route(subject, write(delete_subject), methods=["DELETE"]),
        Route(
            "/compatibility" + subject + "/versions/{version}",
            read(compatibility),
            methods=["POST"],
        ),
        Route("/compatibility" + subject + "/versions", read(compatibility), methods=["POST"]),
        Route("/config", read(get_config), methods=["GET"]),
        Route("/config", write(put_config), methods=["PUT"]),
        Route("/config", write(delete_config), methods=["DELETE"]),
        Route("/config/{subject:path}", read(get_config), methods=["GET"]),
        Route("/config/{subject:path}", write(put_config), methods=["PUT"]),
        Route("/config/{subject:path}", write(delete_config), methods=["DELETE"]),
        Route("/mode", read(get_mode), methods=["GET"]),
        Route("/mode", write(put_mode), methods=["PUT"]),
        Route("/mode/{subject:path}", read(get_mode), methods=["GET"]),
        Route("/mode/{subject:path}", write(put_mode), methods=["PUT"]),
        Route("/mode/{subject:path}", write(delete_mode), methods=["DELETE"]),
        Route("/contexts", read(contexts), methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return JsonResponse({"error_code": status, "message": "HTTP 404 Not Found"}, status)

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.forwarder = forwarder  # the client, made on first use

    def metrics() -> Iterator[Metric]:
        """Confluent's JMX metrics in Prometheus form (registered-count, master-slave-role…)."""
        state = registry.state
        with state.lock:
            live = [v for vs in state.versions.values() for v in vs.values() if not v.deleted]
            subjects = sum(
                1 for vs in state.versions.values() if any(not v.deleted for v in vs.values())
            )
        prefix = "kafka_schema_registry_"
        yield gauge(prefix + "registered_count", "Live schema versions registered", len(live))
        yield gauge(prefix + "subject_count", "Subjects with a live version", subjects)
        by_type = GaugeMetricFamily(
            prefix + "schemas_created",
            "Live schema versions by schema type",
            labels=["schema_type"],
        )
        for schema_type in SchemaType:
            n = sum(1 for v in live if v.schema_type is schema_type)
            by_type.add_metric([schema_type.value.lower()], n)
        yield by_type
        role = 1 if leadership.is_leader() else 0
        yield gauge(prefix + "master_slave_role", "1 when this instance is the leader", role)

    service_metrics = ServiceMetrics(
        "kafka_schema_registry_jersey_metrics_request", FunctionCollector(metrics)
    )
    return service_metrics.install(app)


def _raw(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except errors.RegistryError as exc:
            return error_response(exc)

    return endpoint
