"""IncrementalAlterConfigs (key 44): SET, DELETE, APPEND or SUBTRACT single configs of a resource.

Operations (Kafka's AlterConfigOp): SET (0) sets an override, DELETE (1) removes it, APPEND (2) and
SUBTRACT (3) add or remove items of a LIST config (such as `cleanup.policy`; any other config answers
INVALID_CONFIG), starting from the current override or else the config's default. A key named twice, or
a null value for anything but DELETE, is INVALID_REQUEST. Topic and broker resources follow the same
rules as AlterConfigs, group resources (KIP-848) those of `riverlog.broker.admin.group_configs`;
`validate_only` checks and commits nothing.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.configs import ConfigOp
from riverlog.broker.admin.group_configs import incremental_alter_group_configs
from riverlog.broker.admin.topics import AdminError
from riverlog.broker.handlers._config_resources import alter_each
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.metadata.image import GROUP_RESOURCE, TOPIC_RESOURCE
from riverlog.protocol.messages.incremental_alter_configs import (
    AlterConfigsResource,
    AlterConfigsResourceResponse,
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
)

API_KEY = 44
MIN_VERSION = 0
MAX_VERSION = 1
REQUEST = IncrementalAlterConfigsRequest


async def handle(
    ctx: RequestContext, request: IncrementalAlterConfigsRequest
) -> IncrementalAlterConfigsResponse:
    topics = ctx.services.topics
    validate_only = request.validate_only

    def alter(resource: AlterConfigsResource) -> AdminError | None:
        ops: list[ConfigOp] = [(c.name, c.config_operation, c.value) for c in resource.configs]
        name = resource.resource_name
        if resource.resource_type == TOPIC_RESOURCE:
            return topics.incremental_alter_topic_configs(name, ops, validate_only)
        if resource.resource_type == GROUP_RESOURCE:
            return incremental_alter_group_configs(topics, name, ops, validate_only)
        return topics.incremental_alter_broker_configs(name, ops, validate_only)

    responses = alter_each(ctx, request.resources, alter, _answer)
    return IncrementalAlterConfigsResponse(throttle_time=ZERO_THROTTLE, responses=responses)


def _answer(
    resource: AlterConfigsResource, error: AdminError | None
) -> AlterConfigsResourceResponse:
    return AlterConfigsResourceResponse(
        error_code=ErrorCode.none if error is None else error.code,
        error_message=None if error is None else error.message,
        resource_type=resource.resource_type,
        resource_name=resource.resource_name,
    )
