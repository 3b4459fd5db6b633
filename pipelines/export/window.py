"""Half-open UTC time windows and how they are written in SQL."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, order=True)
class TimeWindow:
    """`[start, end)` in UTC, to the microsecond (Logfire's precision)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
                raise ValueError(f"window {name} must be a UTC datetime, got {moment!r}")
            # Normalise any UTC-equivalent tzinfo (pendulum, zoneinfo) to datetime.UTC.
            object.__setattr__(self, name, moment.astimezone(UTC))
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def __str__(self) -> str:
        return f"[{iso_utc(self.start)}, {iso_utc(self.end)})"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """`2026-12-01T13:00:00.000000Z`: microseconds always, `Z` for UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sql_timestamp(moment: datetime) -> str:
    """A timestamp literal that DataFusion compares exactly with microsecond UTC columns."""
    return f"TIMESTAMP '{iso_utc(moment)}'"


def sql_string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"
