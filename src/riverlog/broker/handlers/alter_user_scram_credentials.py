"""AlterUserScramCredentials (key 51): add, replace or delete users' SCRAM credentials.

The client sends the salted password (never the password); the broker derives and stores the keys
(`riverlog.security.scram`), in the metadata log or ZooKeeper `/config/users/<user>`. Kafka's checks:
a known mechanism (UNSUPPORTED_SASL_MECHANISM), a non-empty name and 4096..16384 iterations
(UNACCEPTABLE_CREDENTIAL), each user at most once per request (DUPLICATE_RESOURCE), deleting only
what exists (RESOURCE_NOT_FOUND). One result per user; a user with any error changes nothing.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.metadata_store import MetadataUnavailableError
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.metadata.image import UserScramCredentialRecord
from riverlog.protocol.messages.alter_user_scram_credentials import (
    AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsResponse,
    AlterUserScramCredentialsResult,
)
from riverlog.security.acl import AclOperation
from riverlog.security.scram import (
    MAX_ITERATIONS,
    MIN_ITERATIONS,
    ScramMechanism,
    credential_from_salted,
)

API_KEY = 51
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = AlterUserScramCredentialsRequest

Outcome = tuple[ErrorCode, str | None]


async def handle(
    ctx: RequestContext, request: AlterUserScramCredentialsRequest
) -> AlterUserScramCredentialsResponse:
    image = ctx.services.image
    entries = [(d.name, int(d.mechanism), None) for d in request.deletions] + [
        (u.name, int(u.mechanism), u) for u in request.upsertions
    ]
    users = list(dict.fromkeys(name for name, _, _ in entries))
    outcomes: dict[str, Outcome] = {}
    records: dict[str, list[UserScramCredentialRecord]] = {user: [] for user in users}
    seen: set[tuple[str, int]] = set()
    if not ctx.cluster_authorized(AclOperation.ALTER):
        outcomes = dict.fromkeys(
            users, (ErrorCode.cluster_authorization_failed, "Cluster authorization failed.")
        )
    for name, code, upsertion in entries:
        if name in outcomes:
            continue
        mechanism = ScramMechanism.by_code(code)
        if (name, code) in seen:
            outcomes[name] = (
                ErrorCode.duplicate_resource,
                f"A user credential cannot be altered twice in the same request: {name}",
            )
            continue
        seen.add((name, code))
        if mechanism is None:
            outcomes[name] = (
                ErrorCode.unsupported_sasl_mechanism,
                f"Unknown SCRAM mechanism {code}",
            )
        elif not name:
            outcomes[name] = (ErrorCode.unacceptable_credential, "Username must not be empty")
        elif upsertion is None:
            if mechanism.mechanism_name not in image.scram_credentials.get(name, {}):
                outcomes[name] = (
                    ErrorCode.resource_not_found,
                    f"Attempt to delete a user credential that does not exist: {name}",
                )
            else:
                records[name].append(
                    UserScramCredentialRecord(name, mechanism.mechanism_name, None)
                )
        else:
            iterations = int(upsertion.iterations)
            if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
                outcomes[name] = (
                    ErrorCode.unacceptable_credential,
                    f"Iterations {iterations} is not in [{MIN_ITERATIONS}, {MAX_ITERATIONS}]",
                )
                continue
            credential = credential_from_salted(
                mechanism, bytes(upsertion.salted_password), bytes(upsertion.salt), iterations
            )
            records[name].append(
                UserScramCredentialRecord(name, mechanism.mechanism_name, credential.to_text())
            )
    for user in users:
        if user in outcomes:
            continue
        try:
            ctx.services.metadata.commit(records[user])
            outcomes[user] = (ErrorCode.none, None)
        except MetadataUnavailableError as exc:
            outcomes[user] = (ErrorCode.unknown_server_error, str(exc))
    results = tuple(
        AlterUserScramCredentialsResult(
            user=user,
            error_code=outcomes[user][0],
            error_message=outcomes[user][1],
        )
        for user in users
    )
    return AlterUserScramCredentialsResponse(throttle_time=ZERO_THROTTLE, results=results)
