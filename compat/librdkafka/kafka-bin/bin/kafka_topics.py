"""The part of Apache Kafka's kafka-topics.sh that librdkafka's tests use, over the Admin API.

    --bootstrap-server B --create --topic T [--partitions N] [--replication-factor R] [--config K=V]...
    --bootstrap-server B --delete --topic T
    --bootstrap-server B --alter --topic T --partitions N

Uses confluent-kafka's AdminClient (CreateTopics, DeleteTopics, CreatePartitions); exits 1 with the
broker's error, 2 on arguments it does not know.
"""

from __future__ import annotations

import argparse
import sys

# confluent_kafka.admin re-exports these without `__all__`, which strict mypy flags.
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic  # type: ignore[attr-defined]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kafka-topics.sh")
    parser.add_argument("--bootstrap-server", required=True)
    action = parser.add_mutually_exclusive_group(required=True)
    for name in ("--create", "--delete", "--alter"):
        action.add_argument(name, action="store_true")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, default=-1)
    parser.add_argument("--replication-factor", type=int, default=-1)
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--if-not-exists", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    admin = AdminClient({"bootstrap.servers": args.bootstrap_server})
    if args.create:
        configs = dict(item.split("=", 1) for item in args.config)
        topic = NewTopic(args.topic, args.partitions, args.replication_factor, config=configs)
        futures = admin.create_topics([topic], operation_timeout=30)
    elif args.delete:
        futures = admin.delete_topics([args.topic], operation_timeout=30)
    else:
        futures = admin.create_partitions([NewPartitions(args.topic, args.partitions)])
    try:
        futures[args.topic].result(timeout=60)
    except Exception as exc:  # report the broker's error and fail, as Kafka's tool does
        if args.if_not_exists and "TOPIC_ALREADY_EXISTS" in str(exc):
            return 0
        print(f"Error while executing topic command: {exc}", file=sys.stderr)
        return 1
    verb = "Created" if args.create else "Deleted" if args.delete else "Altered"
    print(f"{verb} topic {args.topic}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
