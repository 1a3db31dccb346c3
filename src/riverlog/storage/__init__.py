"""riverlog.storage: Kafka's partition log on disk — files and record batches only.

Public API: `LogConfig`, `PartitionLog`, `LogManager`, `FileSlice`, `AppendResult`,
`AppendOrigin`, `GroupCommitter`, `LogCleaner`/`CleanPass` (compaction), clocks, and the
exceptions in `riverlog.storage.errors`. `riverlog.storage.dump` reads segment files for tools.
"""

from riverlog.storage.append_result import AppendResult
from riverlog.storage.clock import SYSTEM_CLOCK, Clock, ManualClock
from riverlog.storage.config import LogConfig
from riverlog.storage.durability import GroupCommitter
from riverlog.storage.log import PartitionLog
from riverlog.storage.manager import LogManager
from riverlog.storage.producer_append import AppendOrigin
from riverlog.storage.segment import FileSlice

__all__ = [
    "SYSTEM_CLOCK",
    "AppendOrigin",
    "AppendResult",
    "CleanPass",
    "Clock",
    "FileSlice",
    "GroupCommitter",
    "LogCleaner",
    "LogConfig",
    "LogManager",
    "ManualClock",
    "PartitionLog",
]


def __getattr__(name: str) -> object:
    """`LogCleaner` and `CleanPass` on first use: the cleaner is not needed to start a broker."""
    if name in ("LogCleaner", "CleanPass"):
        from riverlog.storage import cleaner

        return getattr(cleaner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
