"""Runs a Python Kafka client's own integration tests against a riverlog broker (`make compat`).

    runner.py kafka-python              the tests in compat/kafka-python/tests.allow; exit 1 if one fails
    runner.py aiokafka --survey         every test of the suite; a pass/fail table, exit 0
    runner.py confluent-kafka --tests tests/integration/admin/test_delete_records.py

Steps (each suite's particulars are in SUITES below):

1. Sources. The client's source distribution of the installed version comes from PyPI
   (``pip download --no-binary NAME --no-deps NAME==VERSION``, cached under bench/tools/compat-src/).
   Files the suite needs that the sdist lacks (kafka-python's sdist has test/integration but not
   test/__init__.py or test/service.py; aiokafka's and confluent-kafka's have no tests at all) come from
   the matching git tag of the upstream repository: ``git clone --depth 1 --branch TAG`` from GitHub, or
   from a local clone or bare mirror named by ``$COMPAT_GIT_<SUITE>`` (e.g. COMPAT_GIT_AIOKAFKA, for an
   offline machine), at ``$COMPAT_GIT_REF_<SUITE>`` when that tag is not there. Only files missing from the
   sdist are taken from git; the runner says which. Nothing of the suites is committed here.
2. Harness adaptations, each in the client's directory and copied over the sources: aiokafka's
   ``conftest_override.py`` (its fixtures start a Docker container; the override points them at the
   riverlog broker).
3. One riverlog broker (compat/librdkafka/brokers.py SingleBroker) with the settings the upstream
   harness gives Kafka, on a free port with a fresh data directory.
4. pytest on the selected tests, once per pass (confluent-kafka: the classic and the consumer group
   protocol), in a fresh broker per pass; the ``compat_report`` plugin beside this file writes each test's
   outcome. A pass's pytest run is killed after --timeout seconds.
5. A table to stdout and to bench/tools/compat-results-<suite>/{run,survey}.md (librdkafka's runner
   clears bench/tools/compat-results/ on every run), pytest's output per pass
   and the broker's log next to it. The last line is ``N passed, N failed, N skipped``.

tests.allow: one pytest node id (or a prefix of one: a file, ``file::test`` for every parametrisation)
a line, optionally followed by ``pass=LABEL`` (only in that pass) and a ``#`` comment. An entry passes
when none of the tests it selects failed or errored and at least one passed (the suites skip some
parametrisations themselves, e.g. aiokafka's empty parameter sets; skips are in the table).

Standard library only (brokers.py too); run with the repository's .venv, where the clients are installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMPAT = HERE.parent
REPO = COMPAT.parent
sys.path.insert(0, str(COMPAT / "librdkafka"))

from brokers import SingleBroker  # noqa: E402

SRC_CACHE = REPO / "bench" / "tools" / "compat-src"
TOOLS = REPO / "bench" / "tools"  # results go to compat-results-<suite>/ there


@dataclasses.dataclass(frozen=True)
class Pass:
    """One pytest run of a suite: a label and the environment it adds."""

    label: str
    env: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str  # the directory under compat/
    dist: str  # the PyPI distribution
    repo: str  # GitHub owner/name
    tag: str  # the git tag of a version, "{version}" filled in
    test_paths: tuple[str, ...]  # what --survey runs
    git_paths: tuple[str, ...]  # where files missing from the sdist are taken from git
    broker: dict[str, str]  # broker settings ("{port}": the broker's port)
    env: dict[str, str]  # environment ("{bootstrap}": host:port)
    passes: tuple[Pass, ...] = (Pass("", {}),)
    pytest_args: tuple[str, ...] = ()
    overrides: tuple[tuple[str, str], ...] = ()  # (file in compat/<suite>/, file in the sources)
    mkdirs: tuple[str, ...] = ()  # directories the harness insists on ("{env:NAME}": from env)
    appends: tuple[tuple[str, str], ...] = ()  # (file in the sources, line to add at its end)
    package: str = ""  # the sdist's copy of the client, removed: the tests use the installed one
    requirements: tuple[str, ...] = ()  # the suite's test dependencies (pip install --target)


# kafka-python's harness (servers/resources/default/kafka.properties; the fixture's partitions=4).
# Kafka settings riverlog does not have (thread counts, socket buffers, share groups,
# offsets.commit.timeout.ms) are left out.
KAFKA_PYTHON = Suite(
    name="kafka-python",
    dist="kafka-python",
    repo="dpkp/kafka-python",
    tag="{version}",
    test_paths=("test/integration",),
    git_paths=("test",),
    broker={
        "advertised.listeners": "PLAINTEXT://127.0.0.1:{port}",
        "num.partitions": "4",
        "default.replication.factor": "1",
        "replica.lag.time.max.ms": "1000",
        "replica.socket.timeout.ms": "1000",
        "socket.request.max.bytes": "104857600",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "2",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "log.retention.hours": "168",
        "log.segment.bytes": "1073741824",
        "log.retention.check.interval.ms": "300000",
        "log.cleaner.enable": "false",
        "group.min.session.timeout.ms": "1000",
        "group.initial.rebalance.delay.ms": "0",
    },
    env={"KAFKA_URI": "tcp://{bootstrap}", "KAFKA_VERSION": "4.0.0"},
    pytest_args=("--timeout=120", "--timeout-method=thread"),
    package="kafka",
    requirements=("pytest-mock==3.15.1",),
    # The fixture checks that a Kafka distribution is there even when it uses KAFKA_URI.
    mkdirs=("servers/{env:KAFKA_VERSION}/kafka-bin",),
)

# aiokafka's harness: the container of tests/conftest.py (its KAFKA_* environment and the
# broker properties its image writes: 2 partitions, no initial rebalance delay).
AIOKAFKA = Suite(
    name="aiokafka",
    dist="aiokafka",
    repo="aio-libs/aiokafka",
    tag="v{version}",
    test_paths=("tests",),
    git_paths=("tests",),
    broker={
        "advertised.listeners": "PLAINTEXT://127.0.0.1:{port}",
        "num.partitions": "2",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
    },
    env={"COMPAT_BOOTSTRAP": "{bootstrap}", "COMPAT_KAFKA_VERSION": "4.0.0"},
    # pytest-asyncio warns (an error under the suite's filterwarnings) when this is unset.
    # Newer pytest deprecates what the suite does (its filterwarnings makes warnings errors).
    pytest_args=(
        "--timeout=120",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-W",
        "ignore::pytest.PytestRemovedIn10Warning",
    ),
    overrides=(("conftest_override.py", "tests/compat_conftest_override.py"),),
    appends=(("tests/conftest.py", "from .compat_conftest_override import *  # noqa"),),
    package="aiokafka",
    # requirements-ci.txt of v0.14.0 (gssapi, for the Kerberos tests only, left out).
    requirements=("pytest-asyncio==1.3.0", "pytest-mock==3.15.1", "docker==7.1.0"),
)

# confluent-kafka-python's harness: tests/integration with BROKERS (an existing cluster), once per
# group protocol (TEST_CONSUMER_GROUP_PROTOCOL). Broker settings: its trivup cluster's
# (server.properties.template of trivup's KafkaBrokerApp: 3 partitions, auto-creation on, replication
# factor 1) and tests/common TestUtils.broker_conf(); the share-group and min.isr ones riverlog does
# not have are left out.
CONFLUENT_KAFKA = Suite(
    name="confluent-kafka",
    dist="confluent-kafka",
    repo="confluentinc/confluent-kafka-python",
    tag="v{version}",
    test_paths=(
        "tests/integration/admin",
        "tests/integration/consumer",
        "tests/integration/producer",
        "tests/integration/integration_test.py",
    ),
    git_paths=("tests",),
    broker={
        "advertised.listeners": "PLAINTEXT://127.0.0.1:{port}",
        "num.partitions": "3",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
        "default.replication.factor": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        # The suite's broker is Kafka 4.2 in KRaft mode, where a new cluster has eligible leader
        # replicas on (KIP-966) and a cluster-level min.insync.replicas record, which DescribeConfigs
        # reports as not a default; test_incremental_alter_configs expects that entry.
        "min.insync.replicas": "1",
    },
    env={"BROKERS": "{bootstrap}"},
    package="confluent_kafka",
    passes=(
        Pass("classic", {"TEST_CONSUMER_GROUP_PROTOCOL": "classic"}),
        Pass("consumer", {"TEST_CONSUMER_GROUP_PROTOCOL": "consumer"}),
    ),
    pytest_args=("--timeout=180", "-o", "asyncio_default_fixture_loop_scope=function"),
    # requirements/requirements-tests.txt (the ones tests/integration imports).
    requirements=(
        "trivup==0.12.2",
        "setuptools==80.9.0",  # trivup imports pkg_resources
        "jwcrypto==1.5.6",  # and jwcrypto
        "python-jwt==4.1.0",  # and python_jwt
        "pytest-asyncio==1.3.0",
        "requests-mock==1.12.1",
        "respx==0.23.1",
        "async-timeout==5.0.1",
    ),
)

SUITES = {s.name: s for s in (KAFKA_PYTHON, AIOKAFKA, CONFLUENT_KAFKA)}


@dataclasses.dataclass(frozen=True)
class AllowEntry:
    nodeid: str
    pass_label: str = ""  # "" for every pass

    def selects(self, nodeid: str) -> bool:
        return nodeid == self.nodeid or nodeid.startswith((self.nodeid + "::", self.nodeid + "["))


def read_allow(path: Path) -> list[AllowEntry]:
    entries = []
    for line in path.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        options = dict(word.partition("=")[::2] for word in words[1:])
        if len(options) != len(words) - 1 or not options.keys() <= {"pass"}:
            sys.exit(f"{path}: cannot read line {line!r}")
        entries.append(AllowEntry(words[0], options.get("pass", "")))
    return entries


# -- sources -----------------------------------------------------------------------------------


def sources(suite: Suite) -> Path:
    """The suite's sources for the installed client version: the PyPI sdist, completed from git."""
    version = metadata.version(suite.dist)
    target = SRC_CACHE / f"{suite.name}-{version}"
    stamp = target / ".compat-complete"
    if stamp.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    SRC_CACHE.mkdir(parents=True, exist_ok=True)
    sdist = download_sdist(suite.dist, version)
    with tarfile.open(sdist) as tar, tempfile.TemporaryDirectory() as tmp:
        tar.extractall(tmp, filter="data")
        (top,) = Path(tmp).iterdir()
        shutil.move(top, target)
    added = complete_from_git(suite, version, target)
    if suite.package:
        shutil.rmtree(target / suite.package, ignore_errors=True)
        shutil.rmtree(target / "src" / suite.package, ignore_errors=True)
    print(
        f"{suite.dist} {version}: sdist {sdist.name} from PyPI"
        + (
            f"; {len(added)} files the sdist lacks from git ({', '.join(summarise(added))})"
            if added
            else ""
        ),
        flush=True,
    )
    stamp.write_text("\n".join(added) + "\n")
    return target


def suite_requirements(suite: Suite) -> Path | None:
    """A directory with the suite's test dependencies (pip install --target, cached), or None."""
    if not suite.requirements:
        return None
    target = SRC_CACHE / f"{suite.name}-deps"
    stamp = target / ".compat-requirements"
    wanted = "\n".join(suite.requirements) + "\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return target
    shutil.rmtree(target, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    subprocess.run([*cmd, *suite.requirements], check=True)
    stamp.write_text(wanted)
    return target


def download_sdist(dist: str, version: str) -> Path:
    where = SRC_CACHE / "sdists"
    where.mkdir(parents=True, exist_ok=True)
    # --no-binary for this package only: its build dependencies may come as wheels (building Cython
    # from source for aiokafka's metadata step takes many minutes).
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", dist]
    subprocess.run([*cmd, "-d", str(where), f"{dist}=={version}"], check=True)
    normalised = dist.replace("-", "_").lower()
    found = [
        p for p in where.glob("*.tar.gz") if p.name.lower().startswith(f"{normalised}-{version}.")
    ]
    if not found:
        sys.exit(f"pip download left no sdist of {dist} {version} in {where}")
    return found[0]


def complete_from_git(suite: Suite, version: str, target: Path) -> list[str]:
    """Copies the files under suite.git_paths that the sdist lacks from the matching git tag."""
    key = suite.name.upper().replace("-", "_")
    ref = os.environ.get(f"COMPAT_GIT_REF_{key}", suite.tag.format(version=version))
    local = os.environ.get(f"COMPAT_GIT_{key}")
    with tempfile.TemporaryDirectory() as tmp:
        if local:
            git_dir = local
        else:
            url = f"https://github.com/{suite.repo}.git"
            git_dir = str(Path(tmp) / "repo.git")
            subprocess.run(
                ["git", "clone", "-q", "--bare", "--depth", "1", "--branch", ref, url, git_dir],
                check=True,
            )
        tree = Path(tmp) / "tree"
        tree.mkdir()
        archive = subprocess.run(
            ["git", f"--git-dir={git_dir}", "archive", ref, "--", *suite.git_paths],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        added = []
        for path in sorted(tree.rglob("*")):
            rel = path.relative_to(tree)
            if path.is_file() and not (target / rel).exists():
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / rel)
                added.append(str(rel))
    return added


def summarise(paths: list[str]) -> list[str]:
    """A short account of many paths: their top two directory levels, with counts."""
    counts: dict[str, int] = {}
    for p in paths:
        head = "/".join(p.split("/")[:2])
        counts[head] = counts.get(head, 0) + 1
    return [f"{h} ({n})" if n > 1 else h for h, n in counts.items()]


# -- running -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    pass_label: str
    nodeid: str
    outcome: str
    reason: str


def run_pass(
    suite: Suite, run: Pass, src: Path, targets: list[str], results: Path, timeout: float
) -> list[Outcome]:
    """One pytest run against a fresh broker; the outcome of every test it ran."""
    label = run.label or "run"
    workdir = Path(tempfile.mkdtemp(prefix=f"riverlog-compat-{suite.name}-"))
    broker = SingleBroker(f"{suite.name}-{label}", workdir, settings=suite.broker)
    report = results / f"report-{label}.jsonl"
    log = results / f"pytest-{label}.log"
    try:
        broker.start()
        env = dict(os.environ)
        env.update({k: v.format(bootstrap=broker.bootstrap) for k, v in suite.env.items()})
        env.update(run.env)
        env["COMPAT_REPORT"] = str(report)
        deps = suite_requirements(suite)
        path = [str(HERE), str(deps) if deps else "", env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, path))
        cmd = [sys.executable, "-m", "pytest", "-p", "compat_report", "-p", "no:cacheprovider"]
        cmd += ["-o", "log_level=WARNING", "-rA", *suite.pytest_args, *targets]
        print(f"[{label}] broker {broker.bootstrap}; pytest log {log}", flush=True)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=src, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                print(f"[{label}] pytest killed after {timeout:.0f} s", flush=True)
        died = "" if broker.alive() else broker.death() or "broker not running"
    finally:
        broker.stop()
        broker.collect_logs(results)
        shutil.rmtree(workdir, ignore_errors=True)
    outcomes = []
    if report.exists():
        for line in report.read_text().splitlines():
            entry = json.loads(line)
            reason = f"BROKER DIED ({died}); {entry['reason']}" if died else entry["reason"]
            outcomes.append(Outcome(run.label, entry["nodeid"], entry["outcome"], reason))
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--survey", action="store_true", help="run every test, print a table")
    parser.add_argument("--tests", help="comma-separated pytest node ids instead of tests.allow")
    parser.add_argument(
        "--passes", help="comma-separated pass labels (confluent-kafka: classic,consumer)"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per pytest run")
    args = parser.parse_args()
    suite = SUITES[args.suite]
    here = COMPAT / suite.name

    src = sources(suite)
    for mine, theirs in suite.overrides:
        shutil.copy2(here / mine, src / theirs)
    for file, line in suite.appends:
        text = (src / file).read_text()
        if line not in text:
            (src / file).write_text(text.rstrip("\n") + "\n\n" + line + "\n")
    for directory in suite.mkdirs:
        for key, value in suite.env.items():
            directory = directory.replace(f"{{env:{key}}}", value)
        (src / directory).mkdir(parents=True, exist_ok=True)
    if args.survey:
        entries = [AllowEntry(p) for p in suite.test_paths]
    elif args.tests:
        entries = [AllowEntry(t) for t in args.tests.split(",")]
    else:
        entries = read_allow(here / "tests.allow")
    passes = [p for p in suite.passes if not args.passes or p.label in args.passes.split(",")]

    results = TOOLS / f"compat-results-{suite.name}"
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    outcomes: list[Outcome] = []
    for run in passes:
        targets = sorted({e.nodeid for e in entries if e.pass_label in ("", run.label)})
        if targets:
            outcomes += run_pass(suite, run, src, targets, results, args.timeout)
    return report(suite, entries, passes, outcomes, results, survey=args.survey)


def report(
    suite: Suite,
    entries: list[AllowEntry],
    passes: list[Pass],
    outcomes: list[Outcome],
    results: Path,
    survey: bool,
) -> int:
    table = results / ("survey.md" if survey else "run.md")
    with table.open("w") as out:
        out.write("| pass | test | outcome | reason |\n|---|---|---|---|\n")
        for o in outcomes:
            reason = o.reason.replace("|", "\\|")[:200]
            out.write(f"| {o.pass_label} | {o.nodeid} | {o.outcome} | {reason} |\n")
    for o in outcomes:
        tag = f"[{o.pass_label}] " if o.pass_label else ""
        print(f"{o.outcome.upper():<8} {tag}{o.nodeid}  {o.reason[:150]}".rstrip())
    print(f"table: {table}")
    counts = {
        k: sum(1 for o in outcomes if o.outcome == k)
        for k in ("passed", "failed", "error", "skipped")
    }
    if survey:
        print(f"{suite.name} survey: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        return 0
    bad = []
    for run in passes:
        ran = [o for o in outcomes if o.pass_label == run.label]
        for entry in entries:
            if entry.pass_label not in ("", run.label):
                continue
            selected = [o for o in ran if entry.selects(o.nodeid)]
            failing = [o for o in selected if o.outcome in ("failed", "error")]
            if failing or not any(o.outcome == "passed" for o in selected):
                why = failing[0].reason if failing else "no test of it passed"
                bad.append(f"{run.label or '-'}: {entry.nodeid}: {why[:150]}")
    for line in bad:
        print(f"NOT PASSED: {line}")
    print(
        f"{suite.name}: {counts['passed']} passed, {counts['failed'] + counts['error']} failed, "
        f"{counts['skipped']} skipped; {len(bad)} allow-list entries failed"
    )
    return 1 if bad or not counts["passed"] else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        sys.exit(f"runner.py: {exc}")
