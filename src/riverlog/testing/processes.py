"""Small helpers for the test kit's subprocesses: free ports, log tails, no orphans."""

from __future__ import annotations

from pathlib import Path

from riverlog.common.processes import die_with_parent, free_port, port_accepts

__all__ = ["die_with_parent", "free_port", "log_tail", "port_accepts"]


def log_tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_bytes()[-64 * 1024 :].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
