"""Kafka's `DistributedHerder` validation of exactly-once source settings, with Kafka's messages:
`exactly.once.support=required` needs a worker with `exactly.once.source.support=enabled` and a
connector whose `exactly_once_support(props)` says yes; `transaction.boundary=connector` needs a
connector whose `can_define_transaction_boundaries(props)` says yes. Standalone workers check neither
(as Kafka's StandaloneHerder)."""

from __future__ import annotations

from collections.abc import Mapping

from riverlog.connect.api import SourceConnector
from riverlog.connect.errors import NotFoundException
from riverlog.connect.plugins import Plugins

TRANSACTION_BOUNDARY_UNSUPPORTED = (
    "The connector does not support connector-defined transaction boundaries with the given "
    "configuration. Please reconfigure it to use a different transaction boundary definition."
)
EXACTLY_ONCE_UNKNOWN = (
    "The connector does not implement the API required for preflight validation of exactly-once "
    "source support. Please consult the documentation for the connector to determine whether it "
    "supports exactly-once semantics, and then consider reconfiguring the connector to use the value "
    '"requested" for this property (which will disable this preflight check and allow the connector '
    "to be created)."
)
EXACTLY_ONCE_UNSUPPORTED = (
    "The connector does not support exactly-once semantics with the provided configuration."
)
WORKER_WITHOUT_EXACTLY_ONCE = "This worker does not have exactly-once source support enabled."


def exactly_once_errors(
    props: Mapping[str, str], plugins: Plugins, distributed: bool, eos_enabled: bool
) -> dict[str, list[str]]:
    """Config key -> the messages Kafka adds to it (empty when all is well)."""
    if not distributed:
        return {}
    try:
        connector_cls = plugins.resolve(props.get("connector.class", "")).load()
    except NotFoundException:
        return {}  # reported on connector.class already
    if not issubclass(connector_cls, SourceConnector):
        return {}
    errors: dict[str, list[str]] = {}
    raw = dict(props)
    if str(props.get("exactly.once.support", "requested")).strip().lower() == "required":
        messages = [] if eos_enabled else [WORKER_WITHOUT_EXACTLY_ONCE]
        try:
            support = connector_cls().exactly_once_support(raw)
            if support is None:
                messages.append(EXACTLY_ONCE_UNKNOWN)
            elif not support:
                messages.append(EXACTLY_ONCE_UNSUPPORTED)
        except Exception as exc:  # a connector's own check must not take the worker down
            messages.append(f"An unexpected error occurred during validation: {exc}")
        if messages:
            errors["exactly.once.support"] = messages
    if str(props.get("transaction.boundary", "poll")).strip().lower() == "connector":
        try:
            if not connector_cls().can_define_transaction_boundaries(raw):
                errors["transaction.boundary"] = [TRANSACTION_BOUNDARY_UNSUPPORTED]
        except Exception as exc:
            errors["transaction.boundary"] = [
                f"An unexpected error occurred during validation: {exc}"
            ]
    return errors
