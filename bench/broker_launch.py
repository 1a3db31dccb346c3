"""`riverlog broker start` with hypothesis imported first: what start-up costs when kio can see it.

kio registers hypothesis strategies for its types at import whenever hypothesis is importable; the
`riverlog broker start` command keeps hypothesis out of the broker process (riverlog.cli.startup), and
does nothing once hypothesis is already imported. This launcher imports it first, so the benchmark can
show the start time of a process where kio does see hypothesis (a dev venv without that guard).

    python -m bench.broker_launch --listen HOST:PORT --data-dir DIR [other `broker start` options]
"""

from __future__ import annotations

import sys


def main() -> None:
    import hypothesis  # noqa: F401  (imported for its side effect on kio, see above)

    from riverlog.cli.main import main as riverlog_main

    sys.argv = ["riverlog", "broker", "start", "--log-level", "WARNING", *sys.argv[1:]]
    riverlog_main()


if __name__ == "__main__":
    main()
