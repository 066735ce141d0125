"""The town as the store holds it at an earlier simulated time: one frame of a replay.

A frame is what the situation room draws at ``at``: each vehicle's position then and its trail
over the minutes before (the trip animation), the alerts raised up to then, and how many
events were stored by then. It reads the store only; the simulator is not touched.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from services.store import repo
from services.store.models import alerts, events

VEHICLE_FRESH_S = 120  # a vehicle silent longer than this before ``at`` is not drawn
MAX_POSITIONS = 20_000
ALERT_LIMIT = 50


def _public_alert(row: Any, at: datetime) -> dict[str, Any]:
    m = dict(row._mapping)
    lat, lon = m.pop("lat"), m.pop("lon")
    m["geo"] = {"lat": lat, "lon": lon} if lat is not None else None
    # as it stood at ``at``: later repeats and later acknowledgements had not happened yet
    ongoing = m["last_seen"] >= at - timedelta(minutes=10)
    m["state"] = "active" if ongoing else m["state"]
    if m["last_seen"] > at:
        m["last_seen"] = at
    return m


def frame(conn: Connection, at: datetime | None, trail_min: int) -> dict[str, Any]:
    """Vehicles with trails, alerts and the event count at ``at`` (default: the newest)."""
    newest = repo.sim_time(conn)
    at = at or newest
    if at is None:
        return {"at": None, "newest": None, "first": None, "vehicles": [], "trails": [],
                "alerts": [], "events": 0}  # fmt: skip
    first = conn.execute(select(func.min(events.c.ts))).scalar()
    since = at - timedelta(minutes=trail_min)
    q = (
        select(events.c.source, events.c.ts, events.c.lat, events.c.lon, events.c.data)
        .where(events.c.kind == "vehicle.position", events.c.ts >= since, events.c.ts <= at,
               events.c.lat.is_not(None))
        .order_by(events.c.ts, events.c.id)
        .limit(MAX_POSITIONS)
    )  # fmt: skip
    by_source: dict[str, list[Any]] = {}
    for r in conn.execute(q):
        by_source.setdefault(r.source, []).append(r)
    vehicles, trails = [], []
    fresh = at - timedelta(seconds=VEHICLE_FRESH_S)
    for source, rows in sorted(by_source.items()):
        last = rows[-1]
        data = last.data if isinstance(last.data, dict) else _loads(last.data)
        trails.append(
            {
                "source": source,
                "vehicle_type": data.get("vehicle_type"),
                "route_id": data.get("route_id"),
                "points": [[r.lat, r.lon, r.ts.isoformat()] for r in rows],
            }
        )
        if last.ts >= fresh:
            vehicles.append({"id": source, "kind": "vehicle.position", "source": source,
                             "ts": last.ts.isoformat(), "geo": {"lat": last.lat, "lon": last.lon},
                             "data": data})  # fmt: skip
    arows = conn.execute(
        select(alerts)
        .where(alerts.c.first_seen <= at)
        .order_by(alerts.c.last_seen.desc(), alerts.c.id.desc())
        .limit(ALERT_LIMIT)
    )
    stored = conn.execute(select(func.count()).select_from(events).where(events.c.ts <= at))
    return {
        "at": at.isoformat(),
        "newest": newest.isoformat() if newest else None,
        "first": first.isoformat() if first else None,
        "vehicles": vehicles,
        "trails": trails,
        "alerts": [_public_alert(r, at) for r in arows],
        "events": int(stored.scalar_one()),
    }


def _loads(value: Any) -> dict[str, Any]:
    import orjson

    return orjson.loads(value) if value else {}
