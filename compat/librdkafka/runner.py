"""Runs librdkafka's own regression tests (tests/test-runner) against riverlog.

Called by run.sh after bench/librdkafka_build.sh has built the suite; reads the paths it wrote to
bench/tools/librdkafka.env. Standard library only, but for the cluster deployment (brokers.py), which
starts ZooKeeper and the brokers through riverlog.testing.

Each selected test number runs in its own test-runner process (``TESTS=NNNN test-runner -L -p1``; -p2
where two broker tests share a number) so a hang or crash costs one test, not the run. One deployment
per test scenario serves the tests of that scenario ("default": topic auto-creation on and
num.partitions=4, as in librdkafka's scenarios/default.json; "noautocreate": auto-creation off): one
broker, or, for allow-list entries marked ``scenario=cluster`` and with ``--cluster``, ZooKeeper and
three brokers. Single brokers run side by side for the whole run; one cluster runs at a time, and the
cluster steps run last, grouped by scenario. A deployment that died is started afresh for the next
test, and the death is recorded against the test that was running. A test's outcome is read from the runner's
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
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from brokers import (
    SCENARIO_BROKER_SETTINGS,
    Cluster,
    Deployment,
    SaslBroker,
    SingleBroker,
    SslBroker,
    ZooKeeperHolder,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENV_FILE = REPO / "bench" / "tools" / "librdkafka.env"
DEFAULT_RESULTS = REPO / "bench" / "tools" / "compat-results"

SUMMARY_LINE = re.compile(r"^\|\s*(\d{4}\w*)\s*\|\s*(\w+)\s*\|\s*([\d.]+)s\s*\|\s?(.*)$")
PASSED_LINE = re.compile(r"=+ Test (\d{4}\w*) PASSED =+")
FAILED_LINE = re.compile(r'### Test "(\d{4}\w*|<MAIN>)[^"]*" failed at')
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Tests whose checks only print their failure and let the test pass (0101's test_assert is Test::Say
# in librdkafka 2.0.2): these messages in the log make a PASSED test FAILED.
SOFT_ASSERTIONS = {
    "0101_fetch_from_follower": (
        "rxbytes was not highest on broker corresponding to client.rack",
        "expecting rxbytes of client.rack broker to be at least",
    ),
}


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
    cluster: bool = False


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


@dataclasses.dataclass(frozen=True)
class AllowEntry:
    """One line of tests.allow: a test number or full name, a sub-test filter ("" for none) and
    whether it runs against the three-broker cluster."""

    test: str
    subtests: str = ""
    cluster: bool = False
    sasl: bool = False
    ssl: bool = False


def read_allow(path: Path) -> list[AllowEntry]:
    """Test numbers or full test names, one a line, each optionally followed by ``subtests=TEXT`` (run
    only the sub-tests whose name contains TEXT, librdkafka's SUBTESTS) and ``scenario=cluster`` (run
    against ZooKeeper and three brokers); '#' starts a comment."""
    entries = []
    for line in path.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        options = dict(word.partition("=")[::2] for word in words[1:])
        if (
            len(options) != len(words) - 1
            or not options.keys() <= {"subtests", "scenario"}
            or options.get("scenario", "cluster") not in ("cluster", "sasl", "ssl")
        ):
            sys.exit(f"{path}: cannot read line {line!r}")
        scenario = options.get("scenario")
        entries.append(
            AllowEntry(
                words[0],
                options.get("subtests", ""),
                cluster=scenario == "cluster",
                sasl=scenario == "sasl",
                ssl=scenario == "ssl",
            )
        )
    return entries


@dataclasses.dataclass
class Settings:
    kafka_version: str
    multiplier: float
    timeout: float
    quick: bool
    results: Path


def write_test_conf(path: Path, broker: Deployment, settings: Settings) -> None:
    path.write_text(
        "# Written by compat/librdkafka/runner.py.\n"
        f"bootstrap.servers={broker.bootstrap}\n"
        f"test.timeout.multiplier={settings.multiplier}\n"
        "test.topic.random=true\n"
        "broker.address.family=v4\n"
        + "".join(f"{k}={v}\n" for k, v in getattr(broker, "client_settings", {}).items())
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
    broker: Deployment,
    env: dict[str, str],
    settings: Settings,
) -> tuple[dict[str, Outcome], str]:
    """Runs every broker test with this number; returns outcomes by test name and the log path.

    Tests that share a number run side by side (-p<parallel>): test-runner stops starting tests once
    one has timed out, so run one after the other a hang would hide the outcome of the next."""
    number, scenario = step.number, step.scenario
    tests_dir = Path(env["LIBRDKAFKA_SRC"]) / "tests"
    src = Path(env["LIBRDKAFKA_SRC"])
    conf = settings.results / f"test-{step.label}.conf"
    write_test_conf(conf, broker, settings)
    log_path = settings.results / "logs" / f"{number}-{step.label}.log"
    run_env = dict(os.environ)
    run_env.update(
        TESTS=number,
        TEST_KAFKA_VERSION=settings.kafka_version,
        TEST_SCENARIO=scenario,
        RDKAFKA_TEST_CONF=str(conf),
        BROKERS=broker.bootstrap,
        KAFKA_PATH=str(HERE / "kafka-bin"),
        LD_LIBRARY_PATH=f"{src / 'src'}:{src / 'src-cpp'}",
        # The suite compiles its Java helpers before running one; java-shim/javac makes that a no-op
        # and kafka-bin/bin/kafka-run-class.sh runs stand-ins for them.
        PATH=f"{HERE / 'java-shim'}:{os.environ.get('PATH', '')}",
    )
    run_env.update(getattr(broker, "test_env", {}))  # the SSL deployment's SSL_* files
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
        mark_soft_failures(outcomes, output)
    return outcomes, str(log_path)


def mark_soft_failures(outcomes: dict[str, Outcome], output: str) -> None:
    """A PASSED test whose log shows one of its SOFT_ASSERTIONS did not pass: FAILED."""
    text = ANSI.sub("", output)
    for name, messages in SOFT_ASSERTIONS.items():
        outcome = outcomes.get(name)
        hit = next((m for m in messages if m in text), None)
        if outcome is not None and outcome.state == "PASSED" and hit is not None:
            outcome.state = "FAILED"
            outcome.reason = f"soft assertion in the log: {hit}"


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
    """One test-runner process: the tests of one number in one scenario, on one deployment."""

    number: str
    scenario: str
    names: set[str]
    subtests: str = ""
    cluster: bool = False
    sasl: bool = False
    ssl: bool = False

    @property
    def label(self) -> str:
        if self.sasl:
            return f"{self.scenario}-sasl"
        if self.ssl:
            return f"{self.scenario}-ssl"
        return f"{self.scenario}-cluster" if self.cluster else self.scenario


def select(defs: list[TestDef], args: argparse.Namespace) -> list[Step]:
    """What to run: single-broker steps in table order, then cluster steps grouped by scenario."""
    broker_defs = [d for d in defs if not d.local and not d.manual]
    wanted = wanted_entries(args)
    if wanted is not None:
        known = {d.number for d in broker_defs} | {d.name for d in broker_defs}
        unknown = [e.test for e in wanted if e.test not in known]
        if unknown:
            sys.exit(f"not broker tests of this librdkafka: {', '.join(unknown)}")
    plan: dict[tuple[str, str, bool, bool, bool], Step] = {}
    filters: dict[tuple[str, str, bool, bool, bool], dict[str, str]] = {}
    for d in broker_defs:
        scenario = pick_scenario(d.scenario)
        if scenario is None:
            continue
        for entry in entries_for(d, wanted, args.cluster):
            key = (d.number, scenario, entry.cluster, entry.sasl, entry.ssl)
            plan.setdefault(
                key,
                Step(
                    d.number, scenario, set(), cluster=entry.cluster, sasl=entry.sasl, ssl=entry.ssl
                ),
            )
            plan[key].names.add(d.name)
            # The same test listed twice (e.g. once per deployment, merged by --cluster): a line
            # without a filter wins. Different tests of one number: any filter applies to all.
            seen = filters.setdefault(key, {})
            seen[entry.test] = entry.subtests if seen.get(entry.test, "x") else ""
    for key, step in plan.items():
        step.subtests = next((f for f in filters[key].values() if f), "")
    return sorted(plan.values(), key=lambda s: (s.cluster, s.scenario if s.cluster else ""))


def wanted_entries(args: argparse.Namespace) -> list[AllowEntry] | None:
    """The allow-list, the --tests list, or None for every broker test (--survey)."""
    if args.survey:
        return None
    if args.tests:
        return [
            AllowEntry(test, cluster=args.cluster, sasl=args.sasl, ssl=args.ssl)
            for test in args.tests.split(",")
        ]
    entries = read_allow(args.allow)
    if args.cluster:
        entries = [dataclasses.replace(e, cluster=True) for e in entries]
    return entries


def entries_for(d: TestDef, wanted: list[AllowEntry] | None, cluster: bool) -> list[AllowEntry]:
    """The entries that select this test: those naming it, else those naming its number."""
    if wanted is None:
        return [AllowEntry(d.number, cluster=cluster)]
    by_name = [e for e in wanted if e.test == d.name]
    return by_name or [e for e in wanted if e.test == d.number]


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
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="run every selected test against ZooKeeper and three brokers",
    )
    parser.add_argument(
        "--sasl",
        action="store_true",
        help="with --tests: run them against a broker with a SASL_PLAINTEXT (PLAIN) listener",
    )
    parser.add_argument(
        "--ssl",
        action="store_true",
        help="with --tests: run them against a broker with an SSL listener (client certificates)",
    )
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
    deployments = Deployments(workdir)
    rows: list[tuple[Outcome, str]] = []
    try:
        for step in plan:
            number, names = step.number, step.names
            broker = deployments.running(step)
            outcomes, log = run_number(step, siblings[number, step.scenario], broker, env, settings)
            death = "" if broker.alive() else broker.death() or "not running"
            for outcome in outcomes.values():
                if outcome.name not in names and outcome.name != number:
                    continue
                outcome.cluster = step.cluster
                if death:
                    outcome.reason = f"BROKER DIED ({death}); {outcome.reason}"
                if step.subtests:
                    outcome.reason = f"[sub-tests: {step.subtests}] {outcome.reason}".rstrip()
                rows.append((outcome, log))
                print(format_row(outcome), flush=True)
            if death:
                broker.stop()
    finally:
        deployments.close(settings.results)
        shutil.rmtree(workdir, ignore_errors=True)
    return report(rows, settings, survey=args.survey)


class Deployments:
    """The run's deployments by (scenario, cluster): single brokers side by side, one cluster at a
    time (starting one stops the others), all sharing one ZooKeeper."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.zookeeper = ZooKeeperHolder(workdir)
        self.all: dict[tuple[str, bool, bool, bool], Deployment] = {}

    def running(self, step: Step) -> Deployment:
        """The deployment for this step, started (afresh if it died)."""
        key = (step.scenario, step.cluster, step.sasl, step.ssl)
        if key not in self.all:
            self.all[key] = (
                Cluster(step.scenario, self.workdir, self.zookeeper)
                if step.cluster
                else SaslBroker(step.scenario, self.workdir)
                if step.sasl
                else SslBroker(step.scenario, self.workdir)
                if step.ssl
                else SingleBroker(step.scenario, self.workdir)
            )
        deployment = self.all[key]
        if not deployment.alive():
            if step.cluster:
                for (_, cluster, _sasl, _ssl), other in self.all.items():
                    if cluster and other is not deployment:
                        other.stop()
            deployment.stop()
            deployment.start()
        return deployment

    def close(self, results: Path) -> None:
        for deployment in self.all.values():
            deployment.stop()
            deployment.collect_logs(results)
        self.zookeeper.stop()
        self.zookeeper.collect_logs(results)


def format_row(outcome: Outcome) -> str:
    name = f"{outcome.name} [cluster]" if outcome.cluster else outcome.name
    return f"{name:<45} {outcome.state:<8} {outcome.seconds:8.1f}s  {outcome.reason[:150]}"


def report(rows: list[tuple[Outcome, str]], settings: Settings, survey: bool) -> int:
    passed = [o for o, _ in rows if o.state == "PASSED"]
    skipped = [o for o, _ in rows if o.state == "SKIPPED"]
    failed = [o for o, _ in rows if o.state not in ("PASSED", "SKIPPED")]
    table = settings.results / ("survey.md" if survey else "run.md")
    with table.open("w") as out:
        out.write("| test | brokers | state | seconds | reason |\n|---|---|---|---|---|\n")
        for outcome, _ in rows:
            reason = outcome.reason.replace("|", "\\|")[:200]
            brokers = "3 (cluster)" if outcome.cluster else "1"
            out.write(
                f"| {outcome.name} | {brokers} | {outcome.state} | {outcome.seconds:.1f} "
                f"| {reason} |\n"
            )
    print(f"table: {table}")
    if survey:
        print(f"survey: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
        return 0
    # In allow-list mode a skipped test did not show that riverlog works: it counts as a failure.
    bad = failed + skipped
    for outcome in bad:
        print(f"NOT PASSED: {format_row(outcome)}")
    print(f"{len(passed)} passed, {len(bad)} failed")
    return 1 if bad or not passed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:  # a broker or the cluster did not start: one line, no traceback
        sys.exit(f"runner.py: {exc}")
