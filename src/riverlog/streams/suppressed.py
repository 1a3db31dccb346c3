"""`Suppressed`: hold back a table's updates until its window closes or a time limit passes."""

from __future__ import annotations

from datetime import timedelta

from riverlog.streams.windows import to_ms


class _BufferConfig:
    """How much suppress may buffer and what to do when full (Kafka's `Suppressed._BufferConfig`)."""

    def __init__(
        self,
        max_records: int | None = None,
        max_bytes: int | None = None,
        shut_down_when_full: bool = False,
        logging_enabled: bool = True,
        log_config: dict[str, str] | None = None,
    ) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.shut_down_when_full = shut_down_when_full
        self.logging_enabled = logging_enabled
        self.log_config = dict(log_config or {})

    def with_logging_disabled(self) -> _BufferConfig:
        return _BufferConfig(self.max_records, self.max_bytes, self.shut_down_when_full, False)

    def with_logging_enabled(self, config: dict[str, str]) -> _BufferConfig:
        return _BufferConfig(
            self.max_records, self.max_bytes, self.shut_down_when_full, True, config
        )

    @classmethod
    def unbounded(cls) -> _BufferConfig:
        return cls(None, None, True)

    @classmethod
    def max_records_(cls, n: int) -> _BufferConfig:
        return cls(n, None, False)

    @classmethod
    def max_bytes_(cls, n: int) -> _BufferConfig:
        return cls(None, n, False)

    def with_max_records(self, n: int) -> _BufferConfig:
        return _BufferConfig(n, self.max_bytes, self.shut_down_when_full)

    def with_max_bytes(self, n: int) -> _BufferConfig:
        return _BufferConfig(self.max_records, n, self.shut_down_when_full)

    def with_no_bound(self) -> _BufferConfig:
        return _BufferConfig(None, None, self.shut_down_when_full)

    def emit_early_when_full(self) -> _BufferConfig:
        return _BufferConfig(self.max_records, self.max_bytes, False)

    def shut_down_when_full_(self) -> _BufferConfig:
        return _BufferConfig(self.max_records, self.max_bytes, True)

    # Kafka's spellings (maxRecords / maxBytes / shutDownWhenFull)
    max_records_config = max_records_


class Suppressed:
    BufferConfig = _BufferConfig

    def __init__(
        self,
        final_results: bool,
        time_limit_ms: int,
        buffer: _BufferConfig,
        name: str | None = None,
    ) -> None:
        self.final_results = final_results
        self.time_limit_ms = time_limit_ms
        self.buffer = buffer
        self.name = name

    @classmethod
    def until_window_closes(cls, buffer: _BufferConfig) -> Suppressed:
        if not buffer.shut_down_when_full and (
            buffer.max_records is not None or buffer.max_bytes is not None
        ):
            raise ValueError(
                "until_window_closes needs a strict buffer (unbounded or shut down when full)"
            )
        return cls(True, 0, buffer)

    @classmethod
    def until_time_limit(cls, time_to_wait: timedelta | int, buffer: _BufferConfig) -> Suppressed:
        return cls(False, to_ms(time_to_wait, "time to wait"), buffer)

    def with_name(self, name: str) -> Suppressed:
        return Suppressed(self.final_results, self.time_limit_ms, self.buffer, name)


BufferConfig = _BufferConfig
