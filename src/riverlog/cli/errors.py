"""CLI errors: one line naming what was wrong and what to do, non-zero exit, never a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn


class CliError(Exception):
    """Raised by commands; `main` prints it as one line and exits 1."""


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"riverlog: error: {message}", file=sys.stderr)
    raise SystemExit(code)
