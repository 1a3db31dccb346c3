"""Small helpers for the test kit's subprocesses: free ports, log tails, no orphans."""

from __future__ import annotations

from pathlib import Path

from riverlog.common.processes import die_with_parent, free_port, port_accepts

__all__ = [
    "child_processes",
    "die_with_parent",
    "free_port",
    "log_tail",
    "port_accepts",
    "process_alive",
]


def log_tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_bytes()[-64 * 1024 :].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def child_processes(pid: int) -> dict[int, str]:
    """The process's children, read from /proc: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == pid:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found[int(entry.name)] = command
        except (OSError, ValueError, IndexError):
            continue
    return found


def process_alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
