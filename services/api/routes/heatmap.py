"""Counts, sums or averages per H3 cell for a layer and time window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

import h3
from fastapi import APIRouter, HTTPException, Query, Request

from services.api.deps import ConnDep
from services.api.routes.policy import active_spec, releaser
from services.api.schemas import HeatCell, Heatmap
from services.events.geo import STORE_H3_RES
from services.policy.release import BudgetExceeded, suppress
from services.store import repo

router = APIRouter(tags=["heatmap"])


@router.get("/heatmap", response_model=Heatmap)
def heatmap(
    request: Request,
    conn: ConnDep,
    kind: Annotated[str | None, Query(description="event kind; all kinds if omitted")] = None,
    agg: Literal["count", "sum", "avg"] = "count",
    window_s: Annotated[int, Query(ge=1, le=31 * 86400)] = 3600,
    until: Annotated[
        datetime | None, Query(description="exclusive; default: simulated now")
    ] = None,
    res: Annotated[int, Query(ge=5, le=STORE_H3_RES)] = 9,
) -> Heatmap:
    """Retrieve a layer aggregated per H3 cell over the window ending at ``until``.

    The active policy may protect the release: cells with fewer than its ``k_min`` events
    are suppressed; under differential privacy only counts are released, with noise, on
    window-aligned buckets, each new bucket paid from the privacy budget of the town's day
    of release (429 when it is spent); a window may not end after the town's now."""
    if until is not None and until.tzinfo is None:
        raise HTTPException(422, "until needs a UTC offset")
    town_now = repo.sim_time(conn)
    if until is not None and town_now is not None and until > town_now + timedelta(seconds=1):
        raise HTTPException(
            422, f"until lies after the town's now ({town_now.isoformat()}): nothing to release"
        )
    if until is None:
        now = repo.sim_time(conn, kind)
        if now is None:
            return Heatmap(kind=kind, agg=agg, res=res, since=None, until=None, cells=[])
        until = now + timedelta(microseconds=1)
    spec = active_spec(request, conn)
    dp_cfg = spec.release.dp
    if dp_cfg is not None:
        if agg != "count":
            raise HTTPException(
                422, f"the active policy ({spec.id}) releases counts only, with noise"
            )
        # releases are bucketed on the window, so a released bucket can be served again
        step = window_s
        until = datetime.fromtimestamp(until.timestamp() // step * step, until.tzinfo)
    since = until - timedelta(seconds=window_s)
    acc: dict[str, list[float]] = {}
    for cell, total, n_values, n in repo.heat_cells(conn, kind, since, until):
        parent = h3.cell_to_parent(cell, res) if res < STORE_H3_RES else cell
        a = acc.setdefault(parent, [0.0, 0, 0])
        a[0] += total
        a[1] += n_values
        a[2] += n
    if dp_cfg is not None:
        counts = {c: int(a[2]) for c, a in acc.items()}
        query = f"heatmap kind={kind} res={res} window_s={window_s}"
        try:
            noisy, budget = releaser(request).release_counts(
                conn, spec, counts, res, query, until, now=town_now or until
            )
        except BudgetExceeded as exc:
            raise HTTPException(429, str(exc)) from None
        cells = [_cell(c, float(n), n) for c, n in noisy]
        release = {"policy": spec.id, "k_min": spec.release.k_min, "dp": budget}
        return Heatmap(
            kind=kind, agg=agg, res=res, since=since, until=until, cells=cells, release=release
        )
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
        cells.append(_cell(cell, value, int(n)))
    release = None
    if spec.release.k_min > 1:
        cells = suppress(cells, spec.release.k_min)
        release = {"policy": spec.id, "k_min": spec.release.k_min, "dp": None}
    return Heatmap(
        kind=kind, agg=agg, res=res, since=since, until=until, cells=cells, release=release
    )


def _cell(cell: str, value: float, n: int) -> HeatCell:
    lat, lon = h3.cell_to_latlng(cell)
    return HeatCell(
        cell=cell,
        lat=lat,
        lon=lon,
        value=round(value, 6),
        n=n,
        boundary=list(h3.cell_to_boundary(cell)),
    )
