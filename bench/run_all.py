"""`make bench`: every benchmark present, one after another; each writes its section of bench/RESULTS.md.

Order: bench.storage_bench, bench.broker_bench, bench.group_bench, bench.txn_bench, bench.cluster_bench,
bench.zk_image_bench, bench.streams_bench (a module not present is skipped; so is every module named
in the comma-separated BENCH_SKIP environment variable, e.g. `make bench BENCH_SKIP=bench.streams_bench`).
Each runs in its own interpreter (`python -m bench.NAME`) so one failing does not stop the others;
the exit status is non-zero when any of them failed.

    python -m bench.run_all
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = (
    "bench.storage_bench",
    "bench.broker_bench",
    "bench.group_bench",
    "bench.txn_bench",
    "bench.cluster_bench",
    "bench.zk_image_bench",
    "bench.connect_bench",
    "bench.streams_bench",
)
REPO_DIR = Path(__file__).resolve().parent.parent


def main() -> None:
    failed = []
    skip = {name.strip() for name in os.environ.get("BENCH_SKIP", "").split(",") if name.strip()}
    for module in BENCHMARKS:
        if module in skip:
            print(f"== {module}: skipped (BENCH_SKIP)", flush=True)
            continue
        if importlib.util.find_spec(module) is None:
            print(f"== {module}: not present, skipped", flush=True)
            continue
        print(f"== {module}", flush=True)
        start = time.perf_counter()
        code = subprocess.run([sys.executable, "-m", module], cwd=REPO_DIR, check=False).returncode
        print(f"== {module}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        if code != 0:
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
