#!/usr/bin/env bash
# librdkafka's own test suite against a riverlog broker (`make compat`).
#
#   compat/librdkafka/run.sh                 the tests in tests.allow; exit 1 if any does not pass
#   compat/librdkafka/run.sh --survey        every broker test; prints a pass/fail table, exit 0
#   compat/librdkafka/run.sh --tests 0001,0012_produce_consume   just these
#   compat/librdkafka/run.sh --tests 0103 --cluster   against ZooKeeper and three brokers
#
# Other options go to runner.py (--timeout SECS per test number, --multiplier for librdkafka's
# test.timeout.multiplier, --kafka-version for TEST_KAFKA_VERSION, --quick, --cluster, --results DIR).
# Builds the suite first with bench/librdkafka_build.sh (cached under bench/tools/).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="$repo/.venv/bin/python"

bash "$repo/bench/librdkafka_build.sh" >/dev/null
if ! [ -x "$python" ] || ! [ -x "$repo/.venv/bin/riverlog" ]; then
  echo "run.sh: $repo/.venv with riverlog is missing (run 'make compat', which creates it)" >&2
  exit 1
fi
exec "$python" "$here/runner.py" "$@"
