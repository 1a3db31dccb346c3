"""Stand-in for Kafka's kafka-acls.sh: translates its options to `riverlog acls add|list|remove`.

Accepts what librdkafka's tests pass (0109, 0115, 0119): --bootstrap-server, one of --add / --remove /
--list, --allow-principal / --deny-principal / --allow-host / --deny-host, --operation, --topic,
--group, --transactional-id, --cluster, --resource-pattern-type, --producer / --consumer /
--idempotent, --force (ignored: riverlog asks nothing), --command-config FILE (a properties file,
passed on as client settings).
"""

from __future__ import annotations

import os
import sys

ACTIONS = {"--add": "add", "--remove": "remove", "--list": "list"}
PASSED_WITH_VALUE = {
    "--allow-principal",
    "--deny-principal",
    "--allow-host",
    "--deny-host",
    "--operation",
    "--topic",
    "--group",
    "--transactional-id",
    "--resource-pattern-type",
    "--principal",
}
FLAGS = {"--cluster", "--producer", "--consumer", "--idempotent"}


def translate(argv: list[str]) -> list[str]:
    action = None
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        name, eq, inline = arg.partition("=")
        value = inline if eq else None
        if name in ACTIONS:
            action = ACTIONS[name]
        elif name == "--bootstrap-server":
            out += ["-b", value if value is not None else next(args)]
        elif name == "--command-config":
            path = value if value is not None else next(args)
            with open(path) as handle:
                for line in handle:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        out += ["--command-config", line]
        elif name in PASSED_WITH_VALUE:
            out += [name, value if value is not None else next(args)]
        elif name in FLAGS:
            out.append(name)
        elif name == "--force":
            continue
        else:
            sys.exit(f"kafka-acls.sh stand-in: unsupported option {arg!r}")
    if action is None:
        sys.exit("kafka-acls.sh stand-in: one of --add, --remove or --list is required")
    return [action, *out]


if __name__ == "__main__":
    command = [sys.executable, "-m", "riverlog", "acls", *translate(sys.argv[1:])]
    os.execv(sys.executable, command)
