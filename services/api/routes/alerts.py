"""Alerts raised by the rules."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from services.api.deps import ConnDep
from services.api.schemas import AlertList, AlertOut
from services.store import repo

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", response_model=AlertList)
def list_alerts(
    conn: ConnDep,
    state: Literal["active", "acknowledged", "cleared"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> AlertList:
    """Retrieve alerts, most recently seen first."""
    items = []
    for r in repo.alert_rows(conn, state, limit):
        m = dict(r._mapping)
        geo = {"lat": m.pop("lat"), "lon": m.pop("lon")}
        m.pop("dedup_key")
        items.append(AlertOut(**m, geo=geo if geo["lat"] is not None else None))
    return AlertList(items=items)
