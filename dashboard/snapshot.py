"""One tick of what a map page shows, fetched from one API: live, or at a replay's time.

The situation room (each of its panes) and the wall draw from the same snapshot.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from dashboard import figures
from dashboard.api_client import ApiClient, Fetched

HEAT_RES = 9
VEHICLES_WITHIN_S = 120
ALERT_LIMIT = 50
TRAIL_MIN = 10  # minutes of each vehicle's trail


class Snapshot(NamedTuple):
    """Everything one pane shows, fetched from one API in one tick."""

    stats: Fetched[Any]
    town: Fetched[Any]
    heat: Fetched[Any]
    vehicles: Fetched[Any]
    alerts: Fetched[Any]
    frame: Fetched[Any]  # /classroom/replay: trails, and at an earlier time everything moving
    at: str | None = None  # a replay's simulated time; None when live


def fetch(
    api: ApiClient,
    layer: figures.HeatLayer,
    window_s: int,
    at: str | None = None,
    alert_limit: int = ALERT_LIMIT,
) -> Snapshot:
    """One tick's data of one store, live or (``at``) as stored at an earlier time."""
    heat = api.heatmap(layer.kind, agg=layer.agg, window_s=window_s, res=HEAT_RES, until=at)
    frame = api.replay(at, TRAIL_MIN)
    if at is None:
        vehicles = api.latest("vehicle.position", within_s=VEHICLES_WITHIN_S)
        alerts = api.alerts(limit=alert_limit)
    else:
        vehicles = Fetched({"items": frame.data.get("vehicles") or []}, frame.error)
        alerts = Fetched({"items": frame.data.get("alerts") or []}, frame.error)
    return Snapshot(api.stats(), api.town(), heat, vehicles, alerts, frame, at)
