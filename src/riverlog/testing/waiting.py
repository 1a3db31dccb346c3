"""Polling for integration tests: wait until a check returns something truthy."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["wait_until"]


def wait_until(
    check: Callable[[], Any],
    timeout_s: float = 30.0,
    what: str = "condition",
    *,
    ignore: tuple[type[BaseException], ...] = (),
    interval_s: float = 0.1,
) -> Any:
    """Poll `check` until it returns something truthy and return that; a check raising one of
    `ignore` (e.g. a service not listening yet) counts as not yet. AssertionError naming `what`
    after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except ignore as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval_s)
    raise AssertionError(f"{what} not met within {timeout_s:g} s (last: {last!r})")
