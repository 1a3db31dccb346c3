"""Join options (Kafka Streams' `JoinWindows`, `Joined`, `StreamJoined`, `TableJoined`).

As with the other option objects, `with_*` methods set a field and return the same object.
`JoinWindows`: a record at `t` joins records of the other stream in `[t - before, t + after]`;
the window stores keep `before + after + grace`.
"""

from __future__ import annotations

from typing import Any

from riverlog.streams.options import Partitioner
from riverlog.streams.serdes import Serde
from riverlog.streams.windows import Duration, to_ms


class JoinWindows:
    def __init__(self, before_ms: int, after_ms: int, grace_ms: int) -> None:
        if before_ms + after_ms < 0:
            raise ValueError("Window interval (ie, beforeMs+afterMs) must not be negative.")
        self.before_ms = before_ms
        self.after_ms = after_ms
        self.grace_ms = grace_ms

    @classmethod
    def of_time_difference_and_grace(
        cls, time_difference: Duration, grace: Duration
    ) -> JoinWindows:
        d = to_ms(time_difference, "timeDifference")
        return cls(d, d, to_ms(grace, "afterWindowEnd"))

    @classmethod
    def of_time_difference_with_no_grace(cls, time_difference: Duration) -> JoinWindows:
        d = to_ms(time_difference, "timeDifference")
        return cls(d, d, 0)

    def before(self, time_difference: Duration) -> JoinWindows:
        ms = time_difference if isinstance(time_difference, int) else to_ms(time_difference)
        return JoinWindows(ms, self.after_ms, self.grace_ms)

    def after(self, time_difference: Duration) -> JoinWindows:
        ms = time_difference if isinstance(time_difference, int) else to_ms(time_difference)
        return JoinWindows(self.before_ms, ms, self.grace_ms)

    def size(self) -> int:
        return self.before_ms + self.after_ms

    def grace_period_ms(self) -> int:
        return self.grace_ms

    def retention_ms(self) -> int:
        return self.before_ms + self.after_ms + self.grace_ms

    def __repr__(self) -> str:
        return f"JoinWindows(before={self.before_ms}, after={self.after_ms}, grace={self.grace_ms})"


class Joined:
    """Serdes and name of a stream-table join: key, stream value, table value."""

    def __init__(self) -> None:
        self.key_serde: Serde[Any] | None = None
        self.value_serde: Serde[Any] | None = None
        self.other_value_serde: Serde[Any] | None = None
        self.name: str | None = None

    @classmethod
    def with_(
        cls,
        key_serde: Serde[Any] | None = None,
        value_serde: Serde[Any] | None = None,
        other_value_serde: Serde[Any] | None = None,
        name: str | None = None,
    ) -> Joined:
        j = cls()
        j.key_serde, j.value_serde, j.other_value_serde, j.name = (
            key_serde,
            value_serde,
            other_value_serde,
            name,
        )
        return j

    @classmethod
    def as_(cls, name: str) -> Joined:
        return cls.with_(name=name)

    def with_name(self, name: str) -> Joined:
        self.name = name
        return self

    def with_key_serde(self, serde: Serde[Any]) -> Joined:
        self.key_serde = serde
        return self

    def with_value_serde(self, serde: Serde[Any]) -> Joined:
        self.value_serde = serde
        return self

    def with_other_value_serde(self, serde: Serde[Any]) -> Joined:
        self.other_value_serde = serde
        return self


class StreamJoined:
    """Serdes, name and store name of a stream-stream join's window stores."""

    def __init__(self) -> None:
        self.key_serde: Serde[Any] | None = None
        self.value_serde: Serde[Any] | None = None
        self.other_value_serde: Serde[Any] | None = None
        self.name: str | None = None
        self.store_name: str | None = None
        self.logging_enabled = True
        self.topic_config: dict[str, str] = {}

    @classmethod
    def with_(
        cls,
        key_serde: Serde[Any] | None = None,
        value_serde: Serde[Any] | None = None,
        other_value_serde: Serde[Any] | None = None,
    ) -> StreamJoined:
        j = cls()
        j.key_serde, j.value_serde, j.other_value_serde = key_serde, value_serde, other_value_serde
        return j

    @classmethod
    def as_(cls, store_name: str) -> StreamJoined:
        j = cls()
        j.store_name = store_name
        return j

    def with_name(self, name: str) -> StreamJoined:
        self.name = name
        return self

    def with_store_name(self, store_name: str) -> StreamJoined:
        self.store_name = store_name
        return self

    def with_key_serde(self, serde: Serde[Any]) -> StreamJoined:
        self.key_serde = serde
        return self

    def with_value_serde(self, serde: Serde[Any]) -> StreamJoined:
        self.value_serde = serde
        return self

    def with_other_value_serde(self, serde: Serde[Any]) -> StreamJoined:
        self.other_value_serde = serde
        return self

    def with_logging_enabled(self, config: dict[str, str]) -> StreamJoined:
        self.logging_enabled, self.topic_config = True, dict(config)
        return self

    def with_logging_disabled(self) -> StreamJoined:
        self.logging_enabled = False
        return self


class TableJoined:
    """Partitioners and name of a foreign-key table join."""

    def __init__(self) -> None:
        self.partitioner: Partitioner | None = None
        self.other_partitioner: Partitioner | None = None
        self.name: str | None = None

    @classmethod
    def with_(
        cls, partitioner: Partitioner | None = None, other_partitioner: Partitioner | None = None
    ) -> TableJoined:
        j = cls()
        j.partitioner, j.other_partitioner = partitioner, other_partitioner
        return j

    @classmethod
    def as_(cls, name: str) -> TableJoined:
        j = cls()
        j.name = name
        return j

    def with_name(self, name: str) -> TableJoined:
        self.name = name
        return self
