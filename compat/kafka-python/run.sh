#!/usr/bin/env bash
# kafka-python's own integration tests against a riverlog broker (`make compat SUITE=kafka-python`).
#
#   compat/kafka-python/run.sh                the tests in tests.allow; exit 1 if any does not pass
#   compat/kafka-python/run.sh --survey       every test of the suite; prints a pass/fail table, exit 0
#   compat/kafka-python/run.sh --tests NODEID,NODEID   just these pytest node ids
#
# See compat/pysuites/runner.py for how the sources are fetched and the broker is started.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="$repo/.venv/bin/python"
if ! [ -x "$python" ] || ! [ -x "$repo/.venv/bin/riverlog" ]; then
  echo "run.sh: $repo/.venv with riverlog is missing (run 'make compat', which creates it)" >&2
  exit 1
fi
exec "$python" "$repo/compat/pysuites/runner.py" kafka-python "$@"
