"""Facts of the town every layer shares: its time zone, the default start of a run, the
time units of simulated time, the watch lists and the incident types.

Defined once here, in the contract, and imported by the simulator, the command center and
the dashboard (which may import the contract). Changing one is a change of the contract.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal, get_args

UTC_OFFSET_HOURS = 6
AQKOL_TZ = timezone(timedelta(hours=UTC_OFFSET_HOURS), "+06")
"""Aqkol's time zone (UTC+6, no daylight saving)."""

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

DEFAULT_START = datetime(2026, 1, 15, 6, 30, tzinfo=AQKOL_TZ)
"""Where a simulated run starts unless told: a winter Thursday before the town wakes."""

DEMO_START = datetime(2026, 1, 15, 7, 20, tzinfo=AQKOL_TZ)
"""Where `aqkol up` starts the classroom's town: the morning rush is under way."""

Watchlist = Literal["wanted", "missing", "activist"]
WATCHLISTS: tuple[str, ...] = get_args(Watchlist)
"""The face-recognition watch lists of the town, in the order the docs give them."""

MISUSE_WATCHLISTS = frozenset({"activist"})
"""Lists kept only to demonstrate misuse (a "civil activist" list): labelled as such
wherever they are shown, refused by the lawful policies."""

IncidentType = Literal["cold_snap", "protest", "missing_child", "gas_leak", "market_day"]
INCIDENT_TYPES: tuple[str, ...] = get_args(IncidentType)
"""The incident types a scenario may hold, in the order of the docs."""
