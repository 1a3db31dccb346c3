"""Runs librdkafka's own regression tests (tests/test-runner) against a riverlog broker.

Called by run.sh after bench/librdkafka_build.sh has built the suite; reads the paths it wrote to
bench/tools/librdkafka.env. Standard library only.

Each selected test number runs in its own test-runner process (``TESTS=NNNN test-runner -L -p1``; -p2
where two broker tests share a number) so a hang or crash costs one test, not the run. One broker per test
scenario serves the tests of that scenario ("default": topic auto-creation on and num.partitions=4, as in
librdkafka's scenarios/default.json; "noautocreate": auto-creation off); it is restarted when it dies,
and the death is recorded against the test that was running. A test's outcome is read from the runner's
summary table (PASSED, FAILED, SKIPPED), or from its per-test PASSED / failed lines when it aborted
before the summary; a runner killed by the outer timeout is TIMEOUT, one that left neither is CRASHED.

Results (logs per test, test.conf, broker logs, survey table) go to --results (default
bench/tools/compat-results/), which is gitignored.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import BinaryIO

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENV_FILE = REPO / "bench" / "tools" / "librdkafka.env"
DEFAULT_RESULTS = REPO / "bench" / "tools" / "compat-results"
RIVERLOG = REPO / ".venv" / "bin" / "riverlog"

# Broker settings per librdkafka test scenario (tests/scenarios/*.json), single node.
SCENARIO_BROKER_SETTINGS = {
    "default": {"auto.create.topics.enable": "true", "num.partitions": "4"},
    "noautocreate": {"auto.create.topics.enable": "false", "num.partitions": "4"},
}

SUMMARY_LINE = re.compile(r"^\|\s*(\d{4}\w*)\s*\|\s*(\w+)\s*\|\s*([\d.]+)s\s*\|\s?(.*)$")
PASSED_LINE = re.compile(r"=+ Test (\d{4}\w*) PASSED =+")
FAILED_LINE = re.compile(r'### Test "(\d{4}\w*|<MAIN>)[^"]*" failed at')
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclasses.dataclass(frozen=True)
class TestDef:
    """One entry of librdkafka's tests[] table (tests/test.c)."""

    name: str
    flags: str
    scenario: str

    @property
    def number(self) -> str:
        return self.name[:4]

    @property
    def local(self) -> bool:
        return "TEST_F_LOCAL" in self.flags

    @property
    def manual(self) -> bool:
        return "TEST_F_MANUAL" in self.flags


@dataclasses.dataclass
class Outcome:
    name: str
    state: str
    seconds: float
    reason: str


def read_env() -> dict[str, str]:
    if not ENV_FILE.exists():
        sys.exit(f"{ENV_FILE} missing: run bench/librdkafka_build.sh first")
    pairs = (line.split("=", 1) for line in ENV_FILE.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs}


def parse_test_table(test_c: Path) -> list[TestDef]:
    """The tests[] table of test.c: name, flags and scenario of every test."""
    text = test_c.read_text()
    start = text.index("struct test tests[] = {")
    end = text.index("};", start)
    table = re.sub(r"/\*.*?\*/", "", text[start:end], flags=re.S)
    defs = []
    for chunk in re.split(r"(?=_TEST\()", table)[1:]:
        inner = chunk[len("_TEST(") :]
        name, _, rest = inner.partition(",")
        scenario = re.search(r'\.scenario\s*=\s*"([^"]*)"', rest)
        defs.append(
            TestDef(
                name=name.strip(),
                flags=rest.split(",", 1)[0].strip(),
                scenario=scenario.group(1) if scenario else "default",
            )
        )
    return defs


def read_allow(path: Path) -> dict[str, str]:
    """Test numbers or full test names, one a line, each optionally followed by ``subtests=TEXT`` (run
    only the sub-tests whose name contains TEXT, librdkafka's SUBTESTS); '#' starts a comment.
    Returns entry -> sub-test filter ("" for none)."""
    entries = {}
    for line in path.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        filters = [w.removeprefix("subtests=") for w in words[1:] if w.startswith("subtests=")]
        if len(words) != 1 + len(filters) or len(filters) > 1:
            sys.exit(f"{path}: cannot read line {line!r}")
        entries[words[0]] = filters[0] if filters else ""
    return entries


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A riverlog broker subprocess for one scenario, on a free port, data in a fresh directory."""

    def __init__(self, scenario: str, workdir: Path) -> None:
        self.scenario = scenario
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: BinaryIO | None = None
        self.port = 0
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.starts += 1
        self.port = free_port()
        data = self.workdir / f"data-{self.scenario}-{self.starts}"
        log = self.log = (self.workdir / f"broker-{self.scenario}-{self.starts}.log").open("wb")
        cmd = [
            str(RIVERLOG),
            "broker",
            "start",
            "--listen",
            self.bootstrap,
            "--data-dir",
            str(data),
        ]
        for key, value in SCENARIO_BROKER_SETTINGS[self.scenario].items():
            cmd += ["--set", f"{key}={value}"]
        cmd += ["--log-level", os.environ.get("COMPAT_BROKER_LOG_LEVEL", "WARNING")]
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}; see {log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"broker did not listen on {self.bootstrap} within 30 s; see {log.name}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None


@dataclasses.dataclass
class Settings:
    kafka_version: str
    multiplier: float
    timeout: float
    quick: bool
    results: Path


def write_test_conf(path: Path, broker: Broker, settings: Settings) -> None:
    path.write_text(
        "# Written by compat/librdkafka/runner.py for one riverlog broker.\n"
        f"bootstrap.servers={broker.bootstrap}\n"
        f"test.timeout.multiplier={settings.multiplier}\n"
        "test.topic.random=true\n"
        "broker.address.family=v4\n"
    )


def parse_summary(output: str) -> dict[str, Outcome]:
    outcomes = {}
    for raw in output.splitlines():
        match = SUMMARY_LINE.match(ANSI.sub("", raw).rstrip())
        if match:
            name, state, seconds, reason = match.groups()
            outcomes[name] = Outcome(name, state, float(seconds), reason.strip())
    return outcomes


def run_number(
    step: Step,
    parallel: int,
    broker: Broker,
    env: dict[str, str],
    settings: Settings,
) -> tuple[dict[str, Outcome], str]:
    """Runs every broker test with this number; returns outcomes by test name and the log path.

    Tests that share a number run side by side (-p<parallel>): test-runner stops starting tests once
    one has timed out, so run one after the other a hang would hide the outcome of the next."""
    number, scenario = step.number, step.scenario
    tests_dir = Path(env["LIBRDKAFKA_SRC"]) / "tests"
    src = Path(env["LIBRDKAFKA_SRC"])
    conf = settings.results / f"test-{scenario}.conf"
    write_test_conf(conf, broker, settings)
    log_path = settings.results / "logs" / f"{number}-{scenario}.log"
    run_env = dict(os.environ)
    run_env.update(
        TESTS=number,
        TEST_KAFKA_VERSION=settings.kafka_version,
        TEST_SCENARIO=scenario,
        RDKAFKA_TEST_CONF=str(conf),
        BROKERS=broker.bootstrap,
        KAFKA_PATH=str(HERE / "kafka-bin"),
        LD_LIBRARY_PATH=f"{src / 'src'}:{src / 'src-cpp'}",
    )
    if step.subtests:
        run_env["SUBTESTS"] = step.subtests
    args = [env["LIBRDKAFKA_TEST_RUNNER"], "-L", f"-p{parallel}", "-s", scenario]
    if settings.quick:
        args.append("-Q")
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            args,
            cwd=tests_dir,
            env=run_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=settings.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            timed_out = True
    output = log_path.read_text(errors="replace")
    outcomes = parse_summary(output) or parse_markers(output, time.monotonic() - started)
    if timed_out or not outcomes:
        state = "TIMEOUT" if timed_out else "CRASHED"
        elapsed = time.monotonic() - started
        reason = last_failure(output) or f"runner exit {proc.returncode}"
        outcomes = {number: Outcome(number, state, elapsed, reason)}
    else:
        for name in step.names - outcomes.keys():
            outcomes[name] = Outcome(name, "NOT RUN", 0.0, "test-runner reported nothing for it")
    return outcomes, str(log_path)


def parse_markers(output: str, seconds: float) -> dict[str, Outcome]:
    """Outcomes from the per-test PASSED / failed lines, for a runner that aborted before its summary
    (test-runner asserts when librdkafka threads outlive the tests, e.g. after a failed test)."""
    lines = [ANSI.sub("", line) for line in output.splitlines()]
    outcomes: dict[str, Outcome] = {}
    for i, line in enumerate(lines):
        passed = PASSED_LINE.search(line)
        if passed:
            outcomes.setdefault(passed.group(1), Outcome(passed.group(1), "PASSED", seconds, ""))
        failed = FAILED_LINE.search(line)
        if failed and failed.group(1) != "<MAIN>":
            reason = lines[i + 1].strip() if i + 1 < len(lines) else line
            outcomes[failed.group(1)] = Outcome(failed.group(1), "FAILED", seconds, reason)
    return outcomes


def last_failure(output: str) -> str:
    """The last 'Test ... failed' line of a runner log, for runs that never printed a summary."""
    lines = [ANSI.sub("", line) for line in output.splitlines()]
    hits = [line for line in lines if "failed at" in line or "FAIL" in line]
    return hits[-1].strip()[:200] if hits else ""


@dataclasses.dataclass
class Step:
    """One test-runner process: the tests of one number in one scenario."""

    number: str
    scenario: str
    names: set[str]
    subtests: str = ""


def select(defs: list[TestDef], args: argparse.Namespace) -> list[Step]:
    """What to run, in table order."""
    broker_defs = [d for d in defs if not d.local and not d.manual]
    if args.survey:
        wanted = None
    elif args.tests:
        wanted = dict.fromkeys(args.tests.split(","), "")
    else:
        wanted = read_allow(args.allow)
    if wanted is not None:
        known = {d.number for d in broker_defs} | {d.name for d in broker_defs}
        unknown = [e for e in wanted if e not in known]
        if unknown:
            sys.exit(f"not broker tests of this librdkafka: {', '.join(unknown)}")
    plan: dict[tuple[str, str], Step] = {}
    for d in broker_defs:
        scenario = pick_scenario(d.scenario)
        if scenario is None:
            continue
        entry = d.name if wanted is not None and d.name in wanted else d.number
        if wanted is None or entry in wanted:
            step = plan.setdefault((d.number, scenario), Step(d.number, scenario, set()))
            step.names.add(d.name)
            step.subtests = step.subtests or (wanted or {}).get(entry, "")
    return list(plan.values())


def pick_scenario(scenarios: str) -> str | None:
    for name in scenarios.split(","):
        if name in SCENARIO_BROKER_SETTINGS:
            return name
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--survey", action="store_true", help="run every broker test, print a table"
    )
    parser.add_argument("--allow", type=Path, default=HERE / "tests.allow")
    parser.add_argument("--tests", help="comma-separated test numbers or names instead of --allow")
    parser.add_argument("--kafka-version", default=os.environ.get("TEST_KAFKA_VERSION", "3.7.0"))
    parser.add_argument("--multiplier", type=float, default=2.0, help="test.timeout.multiplier")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per test number")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="test-runner -Q: skips every sub-test not marked quick, so many tests pass vacuously",
    )
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args()

    env = read_env()
    defs = parse_test_table(Path(env["LIBRDKAFKA_SRC"]) / "tests" / "test.c")
    plan = select(defs, args)
    siblings = Counter(
        (d.number, pick_scenario(d.scenario)) for d in defs if not d.local and not d.manual
    )
    settings = Settings(
        args.kafka_version, args.multiplier, args.timeout, args.quick, args.results.resolve()
    )
    if settings.results.exists():
        shutil.rmtree(settings.results)
    (settings.results / "logs").mkdir(parents=True)
    workdir = Path(tempfile.mkdtemp(prefix="riverlog-compat-"))
    print(
        f"librdkafka {env['LIBRDKAFKA_VERSION']} test suite against riverlog "
        f"(TEST_KAFKA_VERSION={settings.kafka_version}, {len(plan)} test numbers, "
        f"results in {settings.results})",
        flush=True,
    )
    brokers: dict[str, Broker] = {}
    rows: list[tuple[Outcome, str]] = []
    try:
        for step in plan:
            number, names = step.number, step.names
            broker = brokers.get(step.scenario)
            if broker is None:
                broker = brokers[step.scenario] = Broker(step.scenario, workdir)
            if not broker.alive():
                broker.start()
            outcomes, log = run_number(step, siblings[number, step.scenario], broker, env, settings)
            died = not broker.alive()
            for outcome in outcomes.values():
                if outcome.name not in names and outcome.name != number:
                    continue
                if died:
                    outcome.reason = f"BROKER DIED; {outcome.reason}"
                if step.subtests:
                    outcome.reason = f"[sub-tests: {step.subtests}] {outcome.reason}".rstrip()
                rows.append((outcome, log))
                print(format_row(outcome), flush=True)
            if died:
                broker.stop()
    finally:
        for broker in brokers.values():
            broker.stop()
        for broker_log in workdir.glob("*.log"):
            shutil.move(broker_log, settings.results / broker_log.name)
        shutil.rmtree(workdir, ignore_errors=True)
    return report(rows, settings, survey=args.survey)


def format_row(outcome: Outcome) -> str:
    return f"{outcome.name:<45} {outcome.state:<8} {outcome.seconds:8.1f}s  {outcome.reason[:150]}"


def report(rows: list[tuple[Outcome, str]], settings: Settings, survey: bool) -> int:
    passed = [o for o, _ in rows if o.state == "PASSED"]
    skipped = [o for o, _ in rows if o.state == "SKIPPED"]
    failed = [o for o, _ in rows if o.state not in ("PASSED", "SKIPPED")]
    table = settings.results / ("survey.md" if survey else "run.md")
    with table.open("w") as out:
        out.write("| test | state | seconds | reason |\n|---|---|---|---|\n")
        for outcome, _ in rows:
            reason = outcome.reason.replace("|", "\\|")[:200]
            out.write(f"| {outcome.name} | {outcome.state} | {outcome.seconds:.1f} | {reason} |\n")
    print(f"table: {table}")
    if survey:
        print(f"survey: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
        return 0
    # In allow-list mode a skipped test did not show that riverlog works: it counts as a failure.
    bad = failed + skipped
    for outcome in bad:
        print(f"NOT PASSED: {outcome.name} {outcome.state} {outcome.reason[:150]}")
    print(f"{len(passed)} passed, {len(bad)} failed")
    return 1 if bad or not passed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:  # the broker did not start: one line, not a traceback
        sys.exit(f"runner.py: {exc}")
