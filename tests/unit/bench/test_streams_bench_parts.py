"""The streams benchmark's own logic: the corpus and its model, the completion check that decides when a
run is finished and correct, the median of repeated runs, and the latency percentile."""

from __future__ import annotations

import sys
from pathlib import Path

from confluent_kafka import Message

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root, for `bench`

from bench.streams_bench import Completion, Row, median_row
from bench.streams_latency import percentile
from bench.streams_support import LONG, SPECS, Impl, corpus, model_counts


def out(word: str, count: int) -> Message:
    return Message(topic="out", key=word.encode(), value=LONG.pack(count))


def test_corpus_is_seeded_and_the_model_counts_every_word() -> None:
    lines = corpus(500)
    assert lines == corpus(500)
    assert len(lines) == 500
    assert all(len(line.split()) == 10 for line in lines)
    model = model_counts(lines)
    assert sum(model.values()) == 5000
    assert model.most_common(1)[0][1] > 5000 / len(model)  # Zipf: the head word is frequent


def test_completion_needs_every_final_count_and_notices_over_counting() -> None:
    done = Completion({b"a": LONG.pack(2), b"b": LONG.pack(1)})
    done.on_batch([out("a", 1), out("b", 1)], 10)
    assert not done.done.is_set() and done.remaining == 1
    done.on_batch([out("a", 2)], 20)
    assert done.done.is_set() and done.done_ns == 20 and done.wrong_words() == (0, 0)
    done.on_batch([out("a", 3), out("zz", 1)], 30)  # a duplicate past the model, and a stray word
    assert done.remaining == 1 and done.unexpected == 1
    assert done.wrong_words() == (1, 0)


def test_median_row_takes_the_middle_run_and_any_failure_wins() -> None:
    impl = Impl("quix", *SPECS["quix"][:3])
    runs = [Row(impl, "1", "correct", seconds, 1000) for seconds in (4.0, 1.0, 2.0)]
    median = median_row(runs)
    assert median.seconds == 2.0
    assert median.runs == (2500.0, 10000.0, 5000.0)
    failed = Row(impl, "1", "timeout after 5 s, 3 words unfinished")
    assert median_row([*runs, failed]) is failed


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([7], 0.99) == 7
