"""Stored events: filtered, cursor-paged; the latest per source."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from services.api.deps import ConnDep
from services.api.release import ReleaseDep, kinds_or_403
from services.api.schemas.events import EventOut, EventPage, LatestEvents
from services.store import repo

router = APIRouter(prefix="/events", tags=["events"])


def _encode_cursor(ts: datetime, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{ts.isoformat()}|{event_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        ts, eid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(ts), eid
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(422, "invalid cursor") from None


def _parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    try:
        parts = tuple(float(x) for x in bbox.split(","))
    except ValueError:
        raise HTTPException(422, "bbox must be min_lon,min_lat,max_lon,max_lat") from None
    if len(parts) != 4 or parts[0] > parts[2] or parts[1] > parts[3]:
        raise HTTPException(422, "bbox must be min_lon,min_lat,max_lon,max_lat")
    return parts


def _aware(dt: datetime | None, name: str) -> datetime | None:
    if dt is not None and dt.tzinfo is None:
        raise HTTPException(422, f"{name} needs a UTC offset, e.g. 2026-01-15T07:30:00+06:00")
    return dt


@router.get("", response_model=EventPage)
def list_events(
    conn: ConnDep,
    gate: ReleaseDep,
    kind: str | None = None,
    source: str | None = None,
    since: Annotated[datetime | None, Query(description="inclusive, with offset")] = None,
    until: Annotated[datetime | None, Query(description="exclusive, with offset")] = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> EventPage:
    """Retrieve events in time order, filtered; follow next_cursor for the next page.

    Students receive non-personal telemetry only, unless the policy opens its events."""
    rows = repo.query_events(
        conn,
        kinds=kinds_or_403(gate, kind),
        source=source,
        since=_aware(since, "since"),
        until=_aware(until, "until"),
        bbox=_parse_bbox(bbox),
        after=_decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = _encode_cursor(rows[-1].ts, rows[-1].id) if more else None
    items = gate.events(repo.public_event(r) for r in rows)
    return EventPage(items=[EventOut(**e) for e in items], next_cursor=nxt)


@router.get("/latest", response_model=LatestEvents)
def latest(
    conn: ConnDep,
    gate: ReleaseDep,
    kind: str,
    within_s: Annotated[int, Query(ge=1, le=7 * 86400)] = 120,
) -> LatestEvents:
    """Retrieve the newest event of each source of a kind (e.g. where each bus is now)."""
    kinds_or_403(gate, kind)
    as_of = repo.sim_time(conn, kind)
    if as_of is None:
        return LatestEvents(as_of=None, items=[])
    rows = repo.latest_per_source(conn, kind, as_of - timedelta(seconds=within_s))
    items = gate.events(repo.public_event(r) for r in rows)
    return LatestEvents(as_of=as_of, items=[EventOut(**e) for e in items])
