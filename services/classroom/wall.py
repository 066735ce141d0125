"""The camera wall: one tile per camera with what it reported in the last minutes.

Counts (``camera.crowd``), detected objects (``camera.object``) and watch-list matches
(``camera.face_match``) come from the store, as the command center holds them under the
active policy; whether a match was true comes from the run's ground truth, when the caller
passes a :class:`~services.classroom.truth.TruthIndex` (the teacher's view only).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from services.classroom.truth import TruthIndex
from services.events.town import MISUSE_WATCHLISTS
from services.store import repo

MISUSE_LISTS = MISUSE_WATCHLISTS  # lists kept only to show misuse
MAX_ROWS = 5000


def _data(row: Any) -> dict[str, Any]:
    d = row._mapping["data"]
    if isinstance(d, str | bytes):
        import orjson

        return orjson.loads(d)
    return dict(d or {})


def camera_wall(
    conn: Connection,
    cameras: list[dict[str, Any]],
    *,
    until: datetime | None,
    window_min: int,
    truth: TruthIndex | None,
) -> dict[str, Any]:
    """Tiles of every camera over ``window_min`` simulated minutes up to ``until`` (default:
    the newest event), busiest first."""
    until = until or repo.sim_time(conn)
    tiles = {
        c["id"]: {"camera": c["id"], "place": c.get("place") or "", "count": None,
                  "peak": None, "objects": [], "matches": []}
        for c in cameras
    }  # fmt: skip
    if until is None:
        return {"until": None, "window_min": window_min, "truth": truth is not None,
                "tiles": list(tiles.values())}  # fmt: skip
    since = until - timedelta(minutes=window_min)
    end = until + timedelta(microseconds=1)
    for kind in ("camera.crowd", "camera.object", "camera.face_match"):
        rows = repo.query_events(conn, kind=kind, since=since, until=end, limit=MAX_ROWS)
        for r in rows:
            tile = tiles.setdefault(
                r.source, {"camera": r.source, "place": "", "count": None, "peak": None,
                           "objects": [], "matches": []}
            )  # fmt: skip
            d = _data(r)
            ts = r.ts.isoformat()
            if kind == "camera.crowd":
                n = d.get("count")
                if isinstance(n, int | float):
                    tile["count"] = int(n)  # rows come in time order: the last is the latest
                    tile["peak"] = max(int(n), tile["peak"] or 0)
            elif kind == "camera.object":
                item = {"class_type": d.get("class_type"), "likelihood": d.get("likelihood"),
                        "ts": ts, "event_id": r.id}  # fmt: skip
                if truth is not None:
                    t = truth.get(r.id)
                    item["true"] = None if t is None else t.get("true_object")
                tile["objects"].append(item)
            else:
                wl = d.get("watchlist")
                item = {"watchlist": wl, "likelihood": d.get("likelihood"),
                        "enrollment_id": d.get("enrollment_id"), "ts": ts, "event_id": r.id,
                        "misuse": wl in MISUSE_LISTS}  # fmt: skip
                if truth is not None:
                    t = truth.get(r.id)
                    item["true"] = None if t is None else t.get("true_match")
                tile["matches"].append(item)
    for tile in tiles.values():
        tile["objects"] = tile["objects"][::-1][:5]  # newest first
        tile["matches"] = tile["matches"][::-1][:5]
    ranked = sorted(
        tiles.values(),
        key=lambda t: (-len(t["matches"]), -len(t["objects"]), -(t["count"] or 0), t["camera"]),
    )
    return {"until": until.isoformat(), "window_min": window_min, "truth": truth is not None,
            "tiles": ranked}  # fmt: skip
