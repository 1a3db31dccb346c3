"""DescribeUserScramCredentials (key 50): which SCRAM mechanisms (and iterations) each user has.

Never the salt or keys. `users` null or empty: every user with a credential. A named user without one
answers RESOURCE_NOT_FOUND; a name asked twice answers DUPLICATE_RESOURCE (Kafka's rules).
"""

from __future__ import annotations

from collections import Counter

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.describe_user_scram_credentials import (
    CredentialInfo,
    DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
    DescribeUserScramCredentialsResult,
)
from riverlog.security.acl import AclOperation
from riverlog.security.scram import ScramCredential, ScramMechanism

API_KEY = 50
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = DescribeUserScramCredentialsRequest


async def handle(
    ctx: RequestContext, request: DescribeUserScramCredentialsRequest
) -> DescribeUserScramCredentialsResponse:
    stored = ctx.services.image.scram_credentials
    if not ctx.cluster_authorized(AclOperation.DESCRIBE):
        return DescribeUserScramCredentialsResponse(
            throttle_time=ZERO_THROTTLE,
            error_code=ErrorCode.cluster_authorization_failed,
            error_message="Cluster authorization failed.",
            results=(),
        )
    asked = [u.name for u in request.users] if request.users else sorted(stored)
    counts = Counter(asked)
    results = []
    for user in dict.fromkeys(asked):
        if counts[user] > 1:
            results.append(
                _result(
                    ctx,
                    user,
                    ErrorCode.duplicate_resource,
                    f"Cannot describe SCRAM credentials for the same user twice in a single request: {user}",
                )
            )
            continue
        mechanisms = stored.get(user)
        if not mechanisms:
            results.append(
                _result(
                    ctx,
                    user,
                    ErrorCode.resource_not_found,
                    f"Attempt to describe a user credential that does not exist: {user}",
                )
            )
            continue
        infos = []
        for name, text in sorted(mechanisms.items()):
            mechanism = ScramMechanism.by_name(name)
            if mechanism is not None:
                infos.append(
                    CredentialInfo(
                        mechanism=mechanism.type_code,
                        iterations=ScramCredential.from_text(text).iterations,
                    )
                )
        results.append(_result(ctx, user, ErrorCode.none, None, tuple(infos)))
    return DescribeUserScramCredentialsResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        results=tuple(results),
    )


def _result(
    ctx: RequestContext,
    user: str,
    code: ErrorCode,
    message: str | None,
    infos: tuple[CredentialInfo, ...] = (),
) -> DescribeUserScramCredentialsResult:
    return DescribeUserScramCredentialsResult(
        user=user,
        error_code=code,
        error_message=message,
        credential_infos=infos,
    )
