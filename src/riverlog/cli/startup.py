"""Start-up helpers for the `riverlog broker start` process: what to import, and the GC.

Imports. kio (our protocol types) registers hypothesis strategies for each of its primitive types when its modules
are imported and `hypothesis` is importable, i.e. in any environment with riverlog's dev dependencies.
That costs 0.3-0.5 s of a broker's start on this project's machines and the broker never uses them.
`keep_hypothesis_out` stops that for a dedicated broker process, using the import system's documented
rule that a `None` entry in `sys.modules` makes `import hypothesis` raise ImportError, so kio takes its
"hypothesis not installed" path. It touches no kio code.

It is only for processes that exist to run a broker: an in-process broker (`riverlog.testing`) runs
inside a test session that may well use hypothesis, so it never calls this. (No environment switch:
`RIVERLOG_*` variables are broker configs.)

GC. After the imports the process holds some 40,000 GC-tracked objects (modules, classes, kio's schema
tables) that live as long as it does. Every full collection walks all of them: 25-30 ms with the event
loop stopped, which lands in the p99 of produce/fetch latency. `freeze_imported_objects` moves them to
the permanent generation (`gc.freeze`, meant for exactly this), so full collections only walk what
the broker allocates while it runs. Nothing is lost: frozen objects that become garbage are simply
never collected, and there is no garbage among a fresh process's imports worth a 25 ms collection.
"""

from __future__ import annotations

import gc
import sys

__all__ = ["freeze_imported_objects", "keep_hypothesis_out"]


def keep_hypothesis_out() -> bool:
    """Make `import hypothesis` fail in this process unless it is already imported.

    Must run before kio is first imported; returns True when the block is in place.
    """
    if "hypothesis" in sys.modules:  # already imported (too late), or already blocked
        return sys.modules["hypothesis"] is None
    sys.modules["hypothesis"] = None  # type: ignore[assignment]
    return True


def freeze_imported_objects() -> int:
    """Move every object tracked so far to the GC's permanent generation; returns how many."""
    gc.freeze()
    return gc.get_freeze_count()
