"""DescribeConfigs (key 32): the configs of topics (resource type 2), brokers (4) and groups (32).

Kafka's rules (its broker's ConfigHelper): a topic resource lists every topic config with its effective
value; an illegal name is INVALID_TOPIC_EXCEPTION, an unknown topic UNKNOWN_TOPIC_OR_PARTITION. A broker
resource named with this broker's id lists every broker config; "" lists the dynamic cluster defaults;
another id, or a name that is not an integer, is INVALID_REQUEST; so is any other resource type. A group
resource (KIP-848) lists every group config (`riverlog.broker.admin.group_configs`), existing group or not.
`configuration_keys` (when not null or empty) keeps only the named configs. Synonyms are sent only when
asked for (`include_synonyms`), documentation only when asked for (v3+); v3+ also carries the type.
Values, sources and synonyms are computed in `_config_entries`.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.group_configs import group_resource_error
from riverlog.broker.admin.topics import AdminError, topic_name_error
from riverlog.broker.handlers._authz import configs_denied
from riverlog.broker.handlers._config_entries import (
    ConfigEntry,
    broker_entries,
    group_entries,
    topic_entries,
)
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.metadata.image import BROKER_RESOURCE, GROUP_RESOURCE, TOPIC_RESOURCE
from riverlog.protocol.messages.describe_configs import (
    DescribeConfigsRequest,
    DescribeConfigsResource,
    DescribeConfigsResourceResult,
    DescribeConfigsResponse,
    DescribeConfigsResult,
    DescribeConfigsSynonym,
)
from riverlog.security.acl import AclOperation

API_KEY = 32
MIN_VERSION = 1
MAX_VERSION = 4
REQUEST = DescribeConfigsRequest


async def handle(ctx: RequestContext, request: DescribeConfigsRequest) -> DescribeConfigsResponse:
    include_docs = request.include_documentation
    results = tuple(
        _describe(ctx, resource, request.include_synonyms, include_docs)
        for resource in request.resources
    )
    return DescribeConfigsResponse(throttle_time=ZERO_THROTTLE, results=results)


def _describe(
    ctx: RequestContext, resource: DescribeConfigsResource, synonyms: bool, docs: bool
) -> DescribeConfigsResult:
    denied = configs_denied(
        ctx, AclOperation.DESCRIBE_CONFIGS, resource.resource_type, resource.resource_name
    )
    if denied is not None:
        return _result(ctx, resource, denied, ())
    found = _entries(ctx, resource.resource_type, resource.resource_name)
    if isinstance(found, AdminError):
        return _result(ctx, resource, found, ())
    keys = resource.configuration_keys
    if keys:
        found = [entry for entry in found if entry.name in keys]
    configs = tuple(_config(ctx, entry, synonyms, docs) for entry in found)
    return _result(ctx, resource, None, configs)


def _entries(ctx: RequestContext, resource_type: int, name: str) -> list[ConfigEntry] | AdminError:
    services = ctx.services
    if resource_type == TOPIC_RESOURCE:
        error = topic_name_error(name)
        if error is not None:
            return error
        topic = services.image.topic(name)
        if topic is None:
            return AdminError(
                ErrorCode.unknown_topic_or_partition, f"topic {name!r} does not exist"
            )
        return topic_entries(services.config, topic.configs)
    if resource_type == BROKER_RESOURCE:
        error = services.topics.broker_resource_error(name)
        if error is not None:
            return error
        return broker_entries(services.config, per_broker=name != "")
    if resource_type == GROUP_RESOURCE:
        error = group_resource_error(services.topics, name)
        if error is not None:
            return error
        return group_entries(services.config, services.image.group_configs.get(name, {}))
    return AdminError(ErrorCode.invalid_request, f"Unsupported resource type: {resource_type}")


def _config(
    ctx: RequestContext, entry: ConfigEntry, synonyms: bool, docs: bool
) -> DescribeConfigsResourceResult:
    return DescribeConfigsResourceResult(
        name=entry.name,
        value=entry.value,
        read_only=entry.read_only,
        config_source=int(entry.source),
        is_sensitive=entry.is_sensitive,
        synonyms=tuple(
            DescribeConfigsSynonym(name=s.name, value=s.value, source=int(s.source))
            for s in (entry.synonyms if synonyms else ())
        ),
        config_type=int(entry.config_type),
        documentation=entry.documentation if docs else None,
    )


def _result(
    ctx: RequestContext,
    resource: DescribeConfigsResource,
    error: AdminError | None,
    configs: tuple[DescribeConfigsResourceResult, ...],
) -> DescribeConfigsResult:
    return DescribeConfigsResult(
        error_code=ErrorCode.none if error is None else error.code,
        error_message=None if error is None else error.message,
        resource_type=resource.resource_type,
        resource_name=resource.resource_name,
        configs=configs,
    )
