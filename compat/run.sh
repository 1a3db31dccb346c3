#!/usr/bin/env bash
# `make compat`: the client test suites against riverlog, one after the other; `make compat SUITE=NAME`
# (or compat/run.sh NAME [options]) runs one: librdkafka, kafka-python, aiokafka, confluent-kafka.
# Exit 1 if any allow-listed test of any suite run did not pass.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
suites=(librdkafka kafka-python aiokafka confluent-kafka)
if [ $# -gt 0 ] && [ -n "$1" ]; then
  suites=("$1")
  shift
fi
status=0
for suite in "${suites[@]}"; do
  if ! [ -x "$here/$suite/run.sh" ]; then
    echo "compat/run.sh: no suite '$suite' (have: librdkafka kafka-python aiokafka confluent-kafka)" >&2
    exit 2
  fi
  echo "== $suite"
  "$here/$suite/run.sh" "$@" || status=1
done
exit $status
