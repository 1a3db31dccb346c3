"""AlterConfigs (key 33): replace all of a resource's dynamic configs with the ones given.

A topic resource's overrides become exactly the configs in the request (others are deleted); unknown
names and invalid values are INVALID_CONFIG, a null value too (Kafka's "Null value not supported").
A broker resource ("" or this broker's id) replaces the dynamic broker configs; only configs Kafka can
change at run time are accepted, anything else is INVALID_REQUEST (Kafka's answer to a config that
cannot be updated dynamically). `validate_only` checks and commits nothing. Changes reach partition logs
through the replica manager, which follows every metadata commit.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.group_configs import alter_group_configs
from riverlog.broker.admin.topics import AdminError
from riverlog.broker.handlers._config_resources import alter_each
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.metadata.image import GROUP_RESOURCE, TOPIC_RESOURCE
from riverlog.protocol.messages.alter_configs import (
    AlterConfigsRequest,
    AlterConfigsResource,
    AlterConfigsResourceResponse,
    AlterConfigsResponse,
)

API_KEY = 33
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = AlterConfigsRequest


async def handle(ctx: RequestContext, request: AlterConfigsRequest) -> AlterConfigsResponse:
    topics = ctx.services.topics
    validate_only = request.validate_only

    def alter(resource: AlterConfigsResource) -> AdminError | None:
        changes = {c.name: c.value for c in resource.configs}
        if resource.resource_type == TOPIC_RESOURCE:
            return topics.alter_topic_configs(resource.resource_name, changes, True, validate_only)
        if resource.resource_type == GROUP_RESOURCE:
            return alter_group_configs(topics, resource.resource_name, changes, True, validate_only)
        return topics.alter_broker_configs(resource.resource_name, changes, True, validate_only)

    responses = alter_each(ctx, request.resources, alter, _answer)
    return AlterConfigsResponse(throttle_time=ZERO_THROTTLE, responses=responses)


def _answer(
    resource: AlterConfigsResource, error: AdminError | None
) -> AlterConfigsResourceResponse:
    return AlterConfigsResourceResponse(
        error_code=ErrorCode.none if error is None else error.code,
        error_message=None if error is None else error.message,
        resource_type=resource.resource_type,
        resource_name=resource.resource_name,
    )
