"""The in-process decode campaign, run in a worker process whose address space is limited.

    python -m riverlog.testing.fuzz.decode_worker SEED COUNT PROGRESS_FILE        (mutator)
    python -m riverlog.testing.fuzz.decode_worker --atheris SEED COUNT PROGRESS_FILE

Frame ``i`` of a run is a pure function of ``(SEED, i)``: a valid request of one of every API and
version kio knows (round-robin), mutated by `mutate`. Before decoding frame ``i`` the worker writes
``i`` to PROGRESS_FILE (8 bytes, memory-mapped), so when the worker dies (a native abort, a Rust
panic that escaped, the 1 GiB limit) the parent names the frame. At the end it prints one JSON line:
outcome counts (``decoded``, ``invalid``, ``unsupported``, and ``other:<exception>`` for anything
else, with the first such frame's hex). With ``--atheris`` the frames come from atheris'
coverage-guided engine instead: its input picks the base request and seeds the mutator, and its raw
bytes are decoded as a frame too.

`run_decode_campaign` starts the worker and collects the result; a dead worker is a `DecodeCrash`.
"""

from __future__ import annotations

import functools
import inspect
import json
import mmap
import os
import random
import resource
import struct
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from riverlog.protocol import codec
from riverlog.protocol.errors import InvalidRequestError, UnsupportedVersionError
from riverlog.testing.fuzz.generate import Frame, all_request_apis, generate
from riverlog.testing.fuzz.mutate import mutate

WORKER_ADDRESS_SPACE: Final = 1 << 30
_PROGRESS: Final = struct.Struct("<q")


class DecodeCrash(Exception):
    """The worker died while decoding a frame: the frame (hex) and how it died."""


@dataclass(frozen=True, slots=True)
class DecodeResult:
    frames: int
    outcomes: dict[str, int]
    first_other: str | None  # hex of the first frame that raised something unexpected


@functools.cache
def corpus(seed: int, per_api: int = 3) -> tuple[Frame, ...]:
    """The valid requests a run mutates: ``per_api`` of every API and version, from ``seed``."""
    rng = random.Random(seed)
    return tuple(generate(rng, *api) for _ in range(per_api) for api in all_request_apis())


def frame_for(seed: int, index: int) -> bytes:
    """Frame ``index`` of the run seeded ``seed`` (no size prefix)."""
    frames = corpus(seed)
    rng = random.Random(seed * 1_000_003 + index)
    return mutate(rng, frames[index % len(frames)])[0]


def classify(frame_bytes: bytes) -> str:
    """What decoding one frame does: decoded, invalid, unsupported or other:<exception>."""
    try:
        codec.decode_request(frame_bytes)  # by attribute: --atheris swaps in instrumented ones
    except InvalidRequestError:
        return "invalid"
    except UnsupportedVersionError:
        return "unsupported"
    except BaseException as exc:  # the finding: anything else escaping decode
        if isinstance(exc, KeyboardInterrupt):
            raise
        return f"other:{type(exc).__name__}"
    return "decoded"


def run_decode_campaign(seed: int, count: int, *, atheris: bool = False) -> DecodeResult:
    """Run ``count`` frames in a fresh memory-limited worker; raise `DecodeCrash` if it dies."""
    with tempfile.NamedTemporaryFile(prefix="fuzz-progress-") as progress:
        progress.write(_PROGRESS.pack(-1))
        progress.flush()
        command = [sys.executable, "-m", __name__, str(seed), str(count), progress.name]
        if atheris:
            command.insert(3, "--atheris")
        done = subprocess.run(command, capture_output=True, timeout=None, check=False)
        progress.seek(0)
        (index,) = _PROGRESS.unpack(progress.read(_PROGRESS.size))
    if done.returncode != 0:
        culprit = frame_for(seed, index).hex() if index >= 0 and not atheris else "?"
        tail = done.stderr[-1500:].decode(errors="replace")
        raise DecodeCrash(
            f"decode worker exited with {done.returncode} at frame {index} (seed {seed}): "
            f"{culprit}\n{tail}"
        )
    line = done.stdout.decode().strip().splitlines()[-1]
    report = json.loads(line)
    return DecodeResult(report["frames"], report["outcomes"], report["first_other"])


def _serve(seed: int, count: int, progress_path: Path, *, atheris: bool) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE, WORKER_ADDRESS_SPACE))
    with progress_path.open("r+b") as handle:
        progress = mmap.mmap(handle.fileno(), _PROGRESS.size)
        outcomes: Counter[str] = Counter()
        first_other: list[str] = []

        def one(index: int, frame_bytes: bytes) -> None:
            _PROGRESS.pack_into(progress, 0, index)
            outcome = classify(frame_bytes)
            outcomes[outcome] += 1
            if outcome.startswith("other") and not first_other:
                first_other.append(frame_bytes.hex())

        def report() -> None:
            _PROGRESS.pack_into(progress, 0, -1)
            frames = sum(outcomes.values())
            other = next(iter(first_other), None)
            summary = {"frames": frames, "outcomes": dict(outcomes), "first_other": other}
            print(json.dumps(summary), flush=True)

        if atheris:
            _run_atheris(seed, count, one, report)
        else:
            for index in range(count):
                one(index, frame_for(seed, index))
            report()


def _run_atheris(
    seed: int, count: int, one: Callable[[int, bytes], None], report: Callable[[], None]
) -> None:
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]  # dev dependency

    frames = corpus(seed)
    counter = [0]

    def test_one_input(data: bytes) -> None:
        if counter[0] >= count:  # libFuzzer would go on: report and end here
            report()
            os._exit(0)
        if len(data) >= 6:
            pick, mutation_seed = struct.unpack_from(">HI", data)
            base = frames[pick % len(frames)]
            one(counter[0], mutate(random.Random(mutation_seed), base)[0])
            counter[0] += 1
        one(counter[0], data)
        counter[0] += 1

    _instrument_protocol(atheris)
    atheris.Setup([sys.argv[0], f"-seed={seed + 1}", "-rss_limit_mb=0"], test_one_input)
    atheris.Fuzz()


def _instrument_protocol(atheris: Any) -> None:
    """Coverage for the decode path only (instrumenting everything loaded takes minutes): every
    function of riverlog.protocol's pure-Python modules, replaced in its module."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("riverlog.protocol.") or not str(module.__file__).endswith(".py"):
            continue
        for attr, value in list(vars(module).items()):
            if inspect.isfunction(value) and value.__module__ == name:
                setattr(module, attr, atheris.instrument_func(value))


def main(argv: list[str]) -> None:
    atheris = argv[:1] == ["--atheris"]
    if atheris:
        argv = argv[1:]
    seed, count, progress = int(argv[0]), int(argv[1]), Path(argv[2])
    _serve(seed, count, progress, atheris=atheris)


if __name__ == "__main__":
    main(sys.argv[1:])
