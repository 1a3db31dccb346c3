#!/usr/bin/env bash
# `make cluster`: a local ZooKeeper (./data/cluster/zk, port 2181) and three brokers (./data/cluster/broker-1..3,
# ports 9092-9094) until Ctrl-C. Extra arguments go to `python -m riverlog.testing.cluster`
# (e.g. --size 5, --port 0 for free ports, --set min.insync.replicas=1).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
exec "$PYTHON" -m riverlog.testing.cluster --data-dir ./data/cluster "$@"
