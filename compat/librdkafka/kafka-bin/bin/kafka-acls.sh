#!/usr/bin/env bash
# Stand-in for Apache Kafka's bin/kafka-acls.sh, for librdkafka's tests that run it through KAFKA_PATH.
# See kafka_acls.py beside this file for what it accepts.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${COMPAT_PYTHON:-$here/../../../../.venv/bin/python}" "$here/kafka_acls.py" "$@"
