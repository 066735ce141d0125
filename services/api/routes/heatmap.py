"""Counts, sums or averages per H3 cell for a layer and time window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

import h3
from fastapi import APIRouter, HTTPException, Query

from services.api.deps import ConnDep
from services.api.schemas import HeatCell, Heatmap
from services.geo import STORE_H3_RES
from services.store import repo

router = APIRouter(tags=["heatmap"])


@router.get("/heatmap", response_model=Heatmap)
def heatmap(
    conn: ConnDep,
    kind: Annotated[str | None, Query(description="event kind; all kinds if omitted")] = None,
    agg: Literal["count", "sum", "avg"] = "count",
    window_s: Annotated[int, Query(ge=1, le=31 * 86400)] = 3600,
    until: Annotated[
        datetime | None, Query(description="exclusive; default: simulated now")
    ] = None,
    res: Annotated[int, Query(ge=5, le=STORE_H3_RES)] = 9,
) -> Heatmap:
    """Retrieve a layer aggregated per H3 cell over the window ending at ``until``."""
    if until is not None and until.tzinfo is None:
        raise HTTPException(422, "until needs a UTC offset")
    if until is None:
        now = repo.sim_time(conn, kind)
        if now is None:
            return Heatmap(kind=kind, agg=agg, res=res, since=None, until=None, cells=[])
        until = now + timedelta(microseconds=1)
    since = until - timedelta(seconds=window_s)
    acc: dict[str, list[float]] = {}
    for cell, total, n_values, n in repo.cell_values(conn, kind, since, until):
        parent = h3.cell_to_parent(cell, res) if res < STORE_H3_RES else cell
        a = acc.setdefault(parent, [0.0, 0, 0])
        a[0] += total
        a[1] += n_values
        a[2] += n
    cells = []
    for cell, (total, n_values, n) in sorted(acc.items()):
        if agg == "count":
            value = float(n)
        elif agg == "sum":
            value = total
        else:
            if not n_values:
                continue
            value = total / n_values
        lat, lon = h3.cell_to_latlng(cell)
        cells.append(
            HeatCell(
                cell=cell,
                lat=lat,
                lon=lon,
                value=round(value, 6),
                n=int(n),
                boundary=list(h3.cell_to_boundary(cell)),
            )
        )
    return Heatmap(kind=kind, agg=agg, res=res, since=since, until=until, cells=cells)
