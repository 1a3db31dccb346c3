"""Optional native build: riverlog's per-record hot loop compiled by mypyc.

`protocol/record_framing.py` walks every record a client produces; compiled by mypyc from the same
source it runs ~25x faster (about 50 ns a record instead of 1.3 us). The build is optional: without
mypy in the build environment nothing is compiled, mypyc failing leaves the module pure Python, and
so does a missing C compiler (setuptools' optional extensions). riverlog behaves the same either
way; only produce throughput differs. RIVERLOG_PURE_PYTHON=1 skips the native build.
"""

from __future__ import annotations

import os

from setuptools import Extension, setup

NATIVE_MODULES = ["src/riverlog/protocol/record_framing.py"]
# The build environment holds setuptools and mypy only: the compiled module's imports (riverlog's
# exceptions) stay Python objects, so mypy need not read them.
MYPY_FLAGS = ["--follow-imports=skip", "--ignore-missing-imports"]


def native_extensions() -> list[Extension]:
    if os.environ.get("RIVERLOG_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        return []
    try:
        extensions = mypycify([*MYPY_FLAGS, *NATIVE_MODULES], opt_level="3")
    except (Exception, SystemExit) as exc:  # mypyc reports type errors by exiting
        print(f"riverlog: native build skipped, pure Python it is ({exc!r})")
        return []
    for extension in extensions:
        extension.optional = True  # no C compiler: stay pure Python
    return extensions


setup(ext_modules=native_extensions())
