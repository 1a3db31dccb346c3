"""The toll lab's stream processing on riverlog.streams (exactly_once_v2): the charging app (passages
to charges, dead letters and passage alerts) and the billing app (balances, balance alerts,
invoices). See docs/labs/toll-processing.md."""

from riverlog.labs.toll.apps.runner import (
    APP_DEFAULTS,
    TollApps,
    build_topologies,
    create_topics,
)

__all__ = ["APP_DEFAULTS", "TollApps", "build_topologies", "create_topics"]
