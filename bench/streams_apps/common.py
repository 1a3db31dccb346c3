"""What the word-count apps share: their command line and the FIRST_READ line they print.

Each app is a file run by its own interpreter (Quix Streams and Faust live in their own virtualenvs, so
nothing here may import `bench` or `riverlog`): it reads lines from `--input`, counts words per word and
writes (word as UTF-8, count as an 8-byte big-endian long, as Kafka's LongSerializer) to `--output` for
every input word. The first time its tokenizer runs it prints `FIRST_READ <epoch ns>` on stdout, which the
benchmark takes as the start of processing.
"""

from __future__ import annotations

import argparse
import os
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--guarantee", choices=("alos", "eos"), default="alos")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--partitions", type=int, default=1)
    return parser.parse_args(argv)


class FirstRead:
    """Prints FIRST_READ once, from the tokenizer's first call (one attribute test per line after)."""

    def __init__(self) -> None:
        self.seen = False

    def mark(self) -> None:
        self.seen = True
        # straight to fd 1: Faust's worker redirects sys.stdout into its logging
        os.write(1, f"FIRST_READ {time.time_ns()}\n".encode())
