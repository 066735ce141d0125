"""Formatting for people reading a projector: Aqkol local time, counts, delays, in the
language of the request (dates and numbers by Babel's CLDR data: ``12,345`` in English,
``12 345`` in Russian and Kazakh; ``Thu 15 Jan 2026``, ``чт 15 янв. 2026``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from babel.dates import format_datetime
from babel.numbers import format_decimal

from dashboard import i18n
from dashboard.i18n import N_, _
from services.events.town import UTC_OFFSET_HOURS

AQKOL_TZ = timezone(timedelta(hours=UTC_OFFSET_HOURS), name=f"UTC+{UTC_OFFSET_HOURS}")

OCCUPANCY = {
    "EMPTY": N_("empty"),
    "MANY_SEATS_AVAILABLE": N_("many seats"),
    "FEW_SEATS_AVAILABLE": N_("few seats"),
    "STANDING_ROOM_ONLY": N_("standing room"),
    "CRUSHED_STANDING_ROOM_ONLY": N_("crushed"),
    "FULL": N_("full"),
    "NOT_ACCEPTING_PASSENGERS": N_("not accepting passengers"),
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
    """The simulated clock for the header, e.g. ``Thu 15 Jan 2026 07:30:12`` (``чт 15 янв.
    2026 07:30:12``)."""
    when = local(ts)
    if when is None:
        return "--:--:--"
    return format_datetime(when, "EEE d MMM y HH:mm:ss", tzinfo=AQKOL_TZ, locale=i18n.current())


def day(ts: str | None) -> str:
    """The simulated date, e.g. ``Thu 15 Jan 2026`` (``чт 15 янв. 2026``)."""
    when = local(ts)
    if when is None:
        return ""
    return format_datetime(when, "EEE d MMM y", tzinfo=AQKOL_TZ, locale=i18n.current())


def stamp(ts: str | None) -> str:
    """A full Aqkol time for a table, sortable as text: ``2026-01-15 07:30:12``."""
    when = local(ts)
    return when.strftime("%Y-%m-%d %H:%M:%S") if when else ""


def time_of_day(ts: str | None) -> str:
    """``HH:MM:SS`` in Aqkol time."""
    when = local(ts)
    return when.strftime("%H:%M:%S") if when else "--:--:--"


def count(n: float | int | None) -> str:
    """A count with thousands separators (``12,345``)."""
    if n is None:
        return "–"
    return format_decimal(round(n), locale=i18n.current())


def number(value: float | None) -> str:
    """A value with about three significant digits (``0.0123``, ``4.5``; ``4,5`` in Russian)."""
    if value is None:
        return "–"
    if abs(value) >= 100:
        return count(value)
    return format_decimal(Decimal(f"{value:.3g}"), format="#,##0.######", locale=i18n.current())


def delay(seconds: float | None) -> str:
    """A bus delay: ``on time``, ``3 min late``, ``1 min early``."""
    if seconds is None:
        return _("no timetable")
    if abs(seconds) < 60:
        return _("on time")
    minutes = count(round(abs(seconds) / 60))
    if seconds > 0:
        return _("{minutes} min late").format(minutes=minutes)
    return _("{minutes} min early").format(minutes=minutes)


def occupancy(status: str | None) -> str:
    """GTFS-rt occupancy status in plain words."""
    if not status:
        return _("unknown")
    if status in OCCUPANCY:
        return _(OCCUPANCY[status])
    return status.replace("_", " ").lower()


def problem(p: Mapping[str, Any] | None, *, with_file: bool = False) -> str:
    """A rule's problem as ``line 3: message`` (or ``file.yaml:3: message``)."""
    if not p:
        return ""
    line, message = p.get("line"), p.get("message") or _("invalid")
    if with_file and p.get("file"):
        where = f"{p['file']}:{line}" if line is not None else str(p["file"])
        return f"{where}: {message}"
    if line is None:
        return str(message)
    return _("line {line}: {message}").format(line=line, message=message)
