"""Run the toll apps until SIGTERM/SIGINT: `python -m riverlog.labs.toll.apps BOOTSTRAP STATE_DIR
[PREFIX]`. Prints `RUNNING` once every app runs, then `PROCESSED <n>` as the charging app's
records-processed counter moves (integration tests kill it mid-stream by that)."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from riverlog.labs.toll.apps.runner import TollApps


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(
            "usage: python -m riverlog.labs.toll.apps BOOTSTRAP STATE_DIR [PREFIX]", file=sys.stderr
        )
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    apps = TollApps(
        argv[0], state_dir=argv[1], application_prefix=argv[2] if len(argv) == 3 else "toll"
    )
    apps.start()
    if apps.wait_running(90):
        print("RUNNING", flush=True)
    last = -1
    while not stop.wait(0.1):
        done = int(apps.metrics()["charging"].get("process-total", 0.0))
        if done != last:
            last = done
            print(f"PROCESSED {done}", flush=True)
        if apps.failed():
            print(f"STOPPED {apps.failed()}", flush=True)
            apps.close()
            return 1
    apps.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
