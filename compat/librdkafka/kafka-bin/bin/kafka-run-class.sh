#!/usr/bin/env bash
# Stand-in for Apache Kafka's bin/kafka-run-class.sh, for librdkafka's tests that run the Java helpers
# of tests/java/ through java/run-class.sh. Only the helpers that have a stand-in here can run:
#   TransactionProducerCli  -> transaction_producer_cli.py (0098_consumer_txn)
# Murmur2Cli and IncrementalRebalanceCli (0113's o_java_interop) have none and fail with exit code 1.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${COMPAT_PYTHON:-$here/../../../../.venv/bin/python}"
class="${1:-}"
shift || true
case "$class" in
  TransactionProducerCli) exec "$python" "$here/transaction_producer_cli.py" "$@" ;;
  *)
    echo "kafka-run-class.sh (riverlog compat stand-in): no stand-in for class '$class'" >&2
    exit 1
    ;;
esac
