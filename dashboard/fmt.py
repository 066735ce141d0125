"""Formatting for people reading a projector: Aqkol local time, counts, delays."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from services.events.town import UTC_OFFSET_HOURS

AQKOL_TZ = timezone(timedelta(hours=UTC_OFFSET_HOURS), name=f"UTC+{UTC_OFFSET_HOURS}")

OCCUPANCY = {
    "EMPTY": "empty",
    "MANY_SEATS_AVAILABLE": "many seats",
    "FEW_SEATS_AVAILABLE": "few seats",
    "STANDING_ROOM_ONLY": "standing room",
    "CRUSHED_STANDING_ROOM_ONLY": "crushed",
    "FULL": "full",
}


def parse_ts(ts: str | None) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (naive ones are taken as UTC)."""
    if not ts:
        return None
    try:
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def local(ts: str | None) -> datetime | None:
    """A timestamp in Aqkol local time (UTC+6)."""
    when = parse_ts(ts)
    return when.astimezone(AQKOL_TZ) if when else None


def clock(ts: str | None) -> str:
    """The simulated clock for the header, e.g. ``Thu 15 Jan 2026 07:30:12``."""
    when = local(ts)
    return when.strftime("%a %d %b %Y %H:%M:%S") if when else "--:--:--"


def day(ts: str | None) -> str:
    """The simulated date, e.g. ``Thu 15 Jan 2026``."""
    when = local(ts)
    return when.strftime("%a %d %b %Y") if when else ""


def time_of_day(ts: str | None) -> str:
    """``HH:MM:SS`` in Aqkol time."""
    when = local(ts)
    return when.strftime("%H:%M:%S") if when else "--:--:--"


def count(n: float | int | None) -> str:
    """A count with thousands separators (``12,345``)."""
    if n is None:
        return "–"
    return f"{round(n):,}"


def number(value: float | None) -> str:
    """A value with about three significant digits."""
    if value is None:
        return "–"
    if abs(value) >= 100:
        return count(value)
    return f"{value:.3g}"


def delay(seconds: float | None) -> str:
    """A bus delay: ``on time``, ``3 min late``, ``1 min early``."""
    if seconds is None:
        return "no timetable"
    if abs(seconds) < 60:
        return "on time"
    minutes = round(abs(seconds) / 60)
    return f"{minutes} min {'late' if seconds > 0 else 'early'}"


def occupancy(status: str | None) -> str:
    """GTFS-rt occupancy status in plain words."""
    if not status:
        return "unknown"
    return OCCUPANCY.get(status, status.replace("_", " ").lower())


def problem(p: Mapping[str, Any] | None, *, with_file: bool = False) -> str:
    """A rule's problem as ``line 3: message`` (or ``file.yaml:3: message``)."""
    if not p:
        return ""
    line, message = p.get("line"), p.get("message") or "invalid"
    if with_file and p.get("file"):
        where = f"{p['file']}:{line}" if line is not None else str(p["file"])
        return f"{where}: {message}"
    return f"line {line}: {message}" if line is not None else str(message)
