"""One tick of what a map page shows, fetched from one API: live, or at a replay's time.

The situation room (each of its panes) and the wall draw from the same snapshot.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

from dashboard import figures
from dashboard.api_client import ApiClient, Fetched

HEAT_RES = 9
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


# the calls of one tick go out together: a tick waits for the slowest, not for their sum
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="snapshot")


def _submit(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
    """``fn`` on the pool, in a copy of this thread's context (Flask keeps the request, and
    so the login whose token the API is asked with, in context variables)."""
    return _POOL.submit(contextvars.copy_context().run, fn, *args, **kwargs)


def fetch(
    api: ApiClient,
    layer: figures.HeatLayer,
    window_s: int,
    at: str | None = None,
    alert_limit: int = ALERT_LIMIT,
) -> Snapshot:
    """One tick's data of one store, live or (``at``) as stored at an earlier time.

    Three calls, at once: the heatmap, the counters, and the replay frame, which carries the
    vehicles (those seen in the last two minutes), their trails and the newest alerts, live
    as at an earlier time (it used to be asked for those again, through ``/events/latest``
    and ``/alerts``: two more queries and audit entries a tick for the same rows)."""
    heat = _submit(api.heatmap, layer.kind, agg=layer.agg, window_s=window_s, res=HEAT_RES,
                   until=at)  # fmt: skip
    stats = _submit(api.stats)
    frame = api.replay(at, TRAIL_MIN)
    vehicles = Fetched({"items": frame.data.get("vehicles") or []}, frame.error)
    alerts = Fetched({"items": (frame.data.get("alerts") or [])[:alert_limit]}, frame.error)
    return Snapshot(stats.result(), api.town(), heat.result(), vehicles, alerts, frame, at)
