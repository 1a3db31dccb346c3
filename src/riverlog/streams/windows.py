"""Window specifications (Kafka Streams' `TimeWindows`, `SlidingWindows`, `SessionWindows`).

Durations are `datetime.timedelta` (an `int` is taken as milliseconds); windows are `[start, end)` in
epoch milliseconds. Retention of the backing store defaults to what Kafka Streams uses: size + grace
(time windows), 2 * time difference + grace (sliding), gap + grace (session).
"""

from __future__ import annotations

from datetime import timedelta

from riverlog.streams.records import Window

Duration = timedelta | int


def to_ms(d: Duration, what: str = "duration") -> int:
    """Milliseconds of a `timedelta` (or an int already in ms); negative values are refused."""
    ms = d if isinstance(d, int) else int(d / timedelta(milliseconds=1))
    if ms < 0:
        raise ValueError(f"{what} must not be negative")
    return ms


class TimeWindows:
    """Tumbling (advance == size) or hopping windows of fixed size."""

    def __init__(self, size_ms: int, advance_ms: int, grace_ms: int) -> None:
        if size_ms <= 0:
            raise ValueError("window size must be larger than zero")
        if advance_ms <= 0 or advance_ms > size_ms:
            raise ValueError("window advance must be in (0, size]")
        self.size_ms = size_ms
        self.advance_ms = advance_ms
        self.grace_ms = grace_ms

    @classmethod
    def of_size_with_no_grace(cls, size: Duration) -> TimeWindows:
        ms = to_ms(size, "window size")
        return cls(ms, ms, 0)

    @classmethod
    def of_size_and_grace(cls, size: Duration, grace: Duration) -> TimeWindows:
        ms = to_ms(size, "window size")
        return cls(ms, ms, to_ms(grace, "grace period"))

    def advance_by(self, advance: Duration) -> TimeWindows:
        return TimeWindows(self.size_ms, to_ms(advance, "advance"), self.grace_ms)

    def size(self) -> int:
        return self.size_ms

    def grace_period_ms(self) -> int:
        return self.grace_ms

    def retention_ms(self) -> int:
        return self.size_ms + self.grace_ms

    def windows_for(self, timestamp: int) -> dict[int, Window]:
        """Every window containing `timestamp`, by start (Kafka's `windowsFor`)."""
        start = (
            max(0, timestamp - self.size_ms + self.advance_ms) // self.advance_ms
        ) * self.advance_ms
        out: dict[int, Window] = {}
        while start <= timestamp:
            out[start] = Window(start, start + self.size_ms)
            start += self.advance_ms
        return out

    def __repr__(self) -> str:
        return f"TimeWindows(size={self.size_ms}, advance={self.advance_ms}, grace={self.grace_ms})"


class SlidingWindows:
    """Windows of fixed size aligned to record timestamps (`[t - d, t]` and `[t + 1, t + 1 + d]`)."""

    def __init__(self, time_difference_ms: int, grace_ms: int) -> None:
        self.time_difference_ms = time_difference_ms
        self.grace_ms = grace_ms

    @classmethod
    def of_time_difference_and_grace(cls, difference: Duration, grace: Duration) -> SlidingWindows:
        return cls(to_ms(difference, "time difference"), to_ms(grace, "grace period"))

    @classmethod
    def of_time_difference_with_no_grace(cls, difference: Duration) -> SlidingWindows:
        return cls(to_ms(difference, "time difference"), 0)

    def grace_period_ms(self) -> int:
        return self.grace_ms

    def size(self) -> int:
        return self.time_difference_ms

    def retention_ms(self) -> int:
        return 2 * self.time_difference_ms + self.grace_ms


class SessionWindows:
    """Sessions of activity separated by an inactivity gap."""

    def __init__(self, gap_ms: int, grace_ms: int) -> None:
        if gap_ms <= 0:
            raise ValueError("inactivity gap must be larger than zero")
        self.gap_ms = gap_ms
        self.grace_ms = grace_ms

    @classmethod
    def of_inactivity_gap_and_grace(cls, gap: Duration, grace: Duration) -> SessionWindows:
        return cls(to_ms(gap, "inactivity gap"), to_ms(grace, "grace period"))

    @classmethod
    def of_inactivity_gap_with_no_grace(cls, gap: Duration) -> SessionWindows:
        return cls(to_ms(gap, "inactivity gap"), 0)

    def inactivity_gap(self) -> int:
        return self.gap_ms

    def grace_period_ms(self) -> int:
        return self.grace_ms

    def retention_ms(self) -> int:
        return self.gap_ms + self.grace_ms
