"""Simulated time: integer milliseconds since local midnight of the first simulated day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.events.town import (  # the contract's: one definition for every layer
    AQKOL_TZ,
    DAY_MS,
    DEFAULT_START,
    HOUR_MS,
    MINUTE_MS,
    SECOND_MS,
)

__all__ = [
    "AQKOL_TZ",
    "DAY_MS",
    "DEFAULT_START",
    "HOUR_MS",
    "MINUTE_MS",
    "SECOND_MS",
    "Clock",
    "hm",
]


def hm(hours: float, minutes: float = 0.0) -> int:
    """A time of day in milliseconds, e.g. ``hm(7, 45)``."""
    return round(hours * HOUR_MS + minutes * MINUTE_MS)


@dataclass(frozen=True)
class Clock:
    """Maps simulated milliseconds to aware datetimes in Aqkol time (UTC+6)."""

    epoch: datetime  # local midnight of the first day, +06:00

    @classmethod
    def starting(cls, start: datetime) -> tuple[Clock, int]:
        """The clock for a run starting at ``start`` (aware) and the start in ms."""
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be an aware datetime (Aqkol is +06:00)")
        local = start.astimezone(AQKOL_TZ)
        epoch = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(epoch), round((local - epoch) / timedelta(milliseconds=1))

    def dt(self, t_ms: int) -> datetime:
        return self.epoch + timedelta(milliseconds=int(t_ms))

    def unix_ms(self, t_ms: int) -> int:
        return round(self.epoch.timestamp() * 1000) + int(t_ms)

    def weekday(self, day: int) -> int:
        """Monday = 0 ... Sunday = 6 of simulated day ``day``."""
        return (self.epoch + timedelta(days=day)).weekday()
