"""Counts, sums or averages per H3 cell for a layer and time window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import h3
from fastapi import APIRouter, HTTPException, Query, Request

from services.api.deps import ConnDep, ReleaserDep, active_spec
from services.api.schemas.heatmap import HeatCell, Heatmap
from services.events.geo import STORE_H3_RES
from services.policy.release import (
    PEOPLE_KEY,
    PEOPLE_KIND,
    BudgetExceeded,
    people_counts,
    suppress,
)
from services.store import repo

router = APIRouter(tags=["heatmap"])


@router.get("/heatmap", response_model=Heatmap)
def heatmap(
    request: Request,
    conn: ConnDep,
    releaser: ReleaserDep,
    kind: Annotated[str | None, Query(description="event kind; all kinds if omitted")] = None,
    agg: Literal["count", "sum", "avg"] = "count",
    window_s: Annotated[int, Query(ge=1, le=31 * 86400)] = 3600,
    until: Annotated[
        datetime | None, Query(description="exclusive; default: simulated now")
    ] = None,
    res: Annotated[int, Query(ge=5, le=STORE_H3_RES)] = 9,
    layer: Annotated[
        Literal["events", "people"],
        Query(
            description="events: stored events per cell; people: the identities the stored "
            "face matches name, each once, in the cell of its last match in the window"
        ),
    ] = "events",
) -> Heatmap:
    """Retrieve a layer aggregated per H3 cell over the window ending at ``until``.

    The active policy may protect the release: cells with fewer than its ``k_min`` events
    are suppressed; under differential privacy only counts are released, with noise, on
    window-aligned buckets, each new bucket paid from the privacy budget of the town's day
    of release (429 when it is spent); a window may not end after the town's now.

    ``layer=people`` counts people, not events (:func:`services.policy.release.people_counts`:
    person-level sensitivity 1, event-level 2, the noise calibrated to the policy's unit);
    under differential privacy its window must divide six hours, so that no window spans the
    town's midnight, where a daily or weekly pseudonym salt rotates (one person, two keys)."""
    if until is not None and until.tzinfo is None:
        raise HTTPException(422, "until needs a UTC offset")
    if layer == "people":
        if kind not in (None, PEOPLE_KIND):
            raise HTTPException(422, f"the people layer is counted from {PEOPLE_KIND} only")
        if agg != "count":
            raise HTTPException(422, "the people layer is a count of people")
        kind = PEOPLE_KIND
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
        if layer == "people" and 21_600 % window_s:
            raise HTTPException(
                422,
                "under differential privacy the people layer's window must divide 6 hours "
                "(21600 s), so that no window spans the town's midnight, where pseudonyms "
                "rotate and one person would count twice",
            )
        # releases are bucketed on the window, so a released bucket can be served again
        step = window_s
        until = datetime.fromtimestamp(until.timestamp() // step * step, until.tzinfo)
    since = until - timedelta(seconds=window_s)
    acc: dict[str, list[float]] = {}
    if layer == "people":
        for cell, people in _people(conn, since, until, res).items():
            acc[cell] = [float(people), people, people]
        rows = []
    else:
        rows = repo.heat_cells(conn, kind, since, until)
    for cell, total, n_values, n in rows:
        parent = h3.cell_to_parent(cell, res) if res < STORE_H3_RES else cell
        a = acc.setdefault(parent, [0.0, 0, 0])
        a[0] += total
        a[1] += n_values
        a[2] += n
    if dp_cfg is not None:
        counts = {c: int(a[2]) for c, a in acc.items()}
        query = f"heatmap layer={layer} kind={kind} res={res} window_s={window_s}"
        try:
            noisy, budget = releaser.release_counts(
                conn, spec, counts, res, query, until, now=town_now or until, layer=layer
            )
        except BudgetExceeded as exc:
            raise HTTPException(429, str(exc)) from None
        cells = [_cell(c, float(n), n) for c, n in noisy]
        dp_release = {"policy": spec.id, "k_min": spec.release.k_min, "dp": budget}
        return Heatmap(
            kind=kind, agg=agg, res=res, since=since, until=until, cells=cells, release=dp_release
        )
    cells = []
    for cell, (total, n_values, n_events) in sorted(acc.items()):
        if agg == "count":
            value = float(n_events)
        elif agg == "sum":
            value = total
        else:
            if not n_values:
                continue
            value = total / n_values
        cells.append(_cell(cell, value, int(n_events)))
    release: dict[str, Any] | None = None
    if spec.release.k_min > 1:
        cells = suppress(cells, spec.release.k_min)
        release = {"policy": spec.id, "k_min": spec.release.k_min, "dp": None}
    return Heatmap(
        kind=kind, agg=agg, res=res, since=since, until=until, cells=cells, release=release
    )


def _people(conn: ConnDep, since: datetime, until: datetime, res: int) -> dict[str, int]:
    """The people layer of ``[since, until)`` at ``res``, by the function the lab uses."""
    rows = repo.sightings_of(conn, PEOPLE_KIND, PEOPLE_KEY, since, until)
    keys = [k for k, _t, _c in rows]
    ts = [round(t.timestamp() * 1000) for _k, t, _c in rows]
    cells = [h3.cell_to_parent(c, res) if res < STORE_H3_RES else c for _k, _t, c in rows]
    edges = [round(since.timestamp() * 1000), round(until.timestamp() * 1000)]
    return people_counts(keys, ts, cells, edges)[0]


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
