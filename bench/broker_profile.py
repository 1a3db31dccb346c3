"""Profiles of the broker under load (`--profile` of bench.broker_bench), two ways.

1. py-spy (`py_spy_record`) samples the broker process from outside (`--nonblocking`: never paused) and
   writes collapsed stacks (`--format raw`: `frame;frame;...;leaf COUNT`, each frame
   `function (file:line)`). py-spy keeps samples where the thread is not idle, and on a shared 2-core
   machine that includes time spent runnable but waiting for a CPU, so its shares are of the broker's
   non-idle wall time. Time in C code (uvloop, socket calls, crc32c, os.writev) is charged to the Python
   frame that called it; a leaf of `Runner.run (asyncio/runners.py)` is uvloop's own C code (polling,
   socket reads and writes, callback dispatch).
2. cProfile on the thread's CPU clock (`time.thread_time`, user + system time, page faults included):
   `python -m bench.broker_profile --listen HOST:PORT --data-dir DIR --out-prefix P` serves a broker like
   `riverlog broker start`; SIGUSR1 starts profiling and SIGUSR2 stops it and writes `P-<n>.pstats`.
   Its shares are of CPU time, exact per function; deterministic tracing adds a cost per Python call,
   so functions making many small calls (kio's per-field codecs) look heavier than they are.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 250
_LINE_NO = re.compile(r":\d+\)$")


@dataclass
class Profile:
    samples: int
    self_by_line: list[tuple[str, float]]  # leaf frame with its line, % of samples
    self_by_function: list[tuple[str, float]]  # leaf function, % of samples
    inclusive: list[tuple[str, float]]  # function anywhere on the stack, % of samples

    def render(self, title: str, top: int = 10) -> str:
        lines = [f"### {title}: {self.samples} busy samples at {SAMPLE_RATE} Hz", ""]
        for heading, rows in (
            ("self time by function", self.self_by_function),
            ("self time by line", self.self_by_line),
            ("inclusive time (function on the stack)", self.inclusive),
        ):
            lines += [f"{heading}:", "```"]
            lines += [f"{pct:5.1f}%  {name}" for name, pct in rows[:top]]
            lines += ["```", ""]
        return "\n".join(lines)


@contextmanager
def py_spy_record(py_spy: str, pid: int, out: Path) -> Iterator[None]:
    """Samples `pid` while the body runs; the collapsed stacks land in `out`."""
    cmd = [py_spy, "record", "--pid", str(pid), "--rate", str(SAMPLE_RATE), "--nonblocking"]
    cmd += ["--format", "raw", "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        # SIGINT makes py-spy stop sampling and write its output.
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if not out.exists():
            raise RuntimeError(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}")


def analyse(raw: Path) -> Profile:
    """Self and inclusive shares from py-spy's collapsed stacks."""
    by_line: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        by_line[frames[-1]] += count
        by_function[_function(frames[-1])] += count
        for name in {_function(frame) for frame in frames}:
            inclusive[name] += count
    return Profile(
        samples=total,
        self_by_line=_shares(by_line, total),
        self_by_function=_shares(by_function, total),
        inclusive=[row for row in _shares(inclusive, total) if not _is_scaffolding(row[0])],
    )


def _function(frame: str) -> str:
    return _LINE_NO.sub(")", frame)


def _is_scaffolding(name: str) -> bool:
    # The CLI/typer/uvloop frames every sample shares say nothing about where time goes.
    return any(
        part in name for part in ("typer/", "riverlog:", "cli/main.py", "cli/broker.py")
    ) or (name.startswith(("run (uvloop", "<module>")))


def _shares(counter: Counter[str], total: int) -> list[tuple[str, float]]:
    return [(name, 100.0 * n / max(total, 1)) for name, n in counter.most_common()]


def analyse_pstats(path: Path, top: int = 12) -> str:
    """cProfile's own time and cumulative time per function as shares of the profiled CPU time."""
    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in entries.values()) or 1.0

    def label(key: tuple[str, int, str]) -> str:
        filename, line, name = key
        short = filename.split("site-packages/")[-1].split("/src/")[-1]
        return f"{name} ({short}:{line})" if line else name

    def rows(index: int) -> list[str]:
        ranked = sorted(entries.items(), key=lambda item: item[1][index], reverse=True)
        shown = [(label(k), v[index]) for k, v in ranked if not _is_scaffolding(label(k))]
        return [f"{100 * t / total:5.1f}%  {t:6.3f} s  {name}" for name, t in shown[:top]]

    return "\n".join(
        [
            f"CPU time profiled: {total:.2f} s (cProfile, thread CPU clock)",
            "",
            "own CPU time by function:",
            "```",
            *rows(2),
            "```",
            "",
            "cumulative CPU time (function and callees):",
            "```",
            *rows(3),
            "```",
            "",
        ]
    )


class _SignalledProfiler:
    """SIGUSR1: start a fresh CPU-clock profile; SIGUSR2: stop and write it to `<prefix>-<n>.pstats`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.count = 0
        self.profiler: cProfile.Profile | None = None

    def start(self) -> None:
        self.profiler = cProfile.Profile(time.thread_time)
        self.profiler.enable()

    def stop(self) -> None:
        if self.profiler is None:
            return
        self.profiler.disable()
        self.profiler.dump_stats(f"{self.prefix}-{self.count}.pstats")
        self.count += 1
        self.profiler = None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A broker whose CPU profile SIGUSR1/2 control.")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out-prefix", required=True)
    args = parser.parse_args(argv)

    # The same process set-up as `riverlog broker start` (riverlog.cli.startup).
    from riverlog.cli.startup import freeze_imported_objects, keep_hypothesis_out

    keep_hypothesis_out()
    import uvloop

    from riverlog.cli.broker import build_config
    from riverlog.cluster.node import BrokerNode

    freeze_imported_objects()

    config = build_config(None, args.listen, Path(args.data_dir), None, [])
    profiler = _SignalledProfiler(args.out_prefix)

    async def serve() -> None:
        # Through the loop, not signal.signal: a Python-level handler would wait for the next
        # bytecode, which on an idle broker can be a timer a minute away.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, profiler.start)
        loop.add_signal_handler(signal.SIGUSR2, profiler.stop)
        await BrokerNode(config).run_until_signalled()

    uvloop.run(serve())


if __name__ == "__main__":
    main()
