"""Release-time protection of heatmaps: k-suppression and differential privacy (OpenDP).

Under a policy with ``release.dp``, a heatmap is released as counts only: every cell of the
town's fixed grid (empty ones too, so that which cells appear reveals nothing) gets integer
Laplace noise from OpenDP's ``make_laplace``, with the scale OpenDP's privacy map gives for
``epsilon`` at L1 sensitivity 1 (one event changes one cell's count by one: event-level DP;
a person who sends many events is protected less, which the privacy lab measures). Cells
whose noisy count is under ``k_min`` are then suppressed (post-processing, no extra cost).

Each release spends ``epsilon`` of the policy's daily budget for the day *of the release* on
the town's clock (not the day the window covers: a caller spreading ``until`` over many days
would otherwise draw on many budgets); a window may not end after the town's now. The ledger
is in the database and survives a reset of the town (the same seed gives the same people
again), and a release that would overspend is refused with the amount left. Releases are
bucketed on the window (``until`` is floored to a multiple of the window), and an identical
release is served again from a cache at no cost: re-reading a released result reveals
nothing new.

Two layers are released. The **event layers** count stored events per cell (any kind):
one event moves one count by one, so their noise is event-level (sensitivity 1), and a
policy asking for person-level DP is refused on them (one person's events have no bound).
The **people layer** (:func:`people_counts`) counts identities: every identity the stored
face matches name in the window, once, in the cell of its last match in it. One identity
is in one cell of a release, so adding or removing a person (all their matches) moves one
count by one: person-level sensitivity 1; adding or removing one match can move an
identity from one cell to another: event-level sensitivity 2 (:func:`sensitivity`). The
privacy lab attacks this layer with the same functions (``services/lab/attacks/trajectory.py``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import h3
import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from services.events.geo import ORIGIN_LAT, ORIGIN_LON, cell_of
from services.events.town import AQKOL_TZ
from services.policy.spec import DP, PolicySpec
from services.store.models import dp_ledger
from services.store.repo import now_utc

TOWN_RADIUS_M = 4000.0


UNIT = "event"  # the default unit of a policy's DP (services.policy.spec.DP.unit)
LAYERS = ("events", "people")
PEOPLE_KIND = "camera.face_match"  # the stored events the people layer counts identities of
PEOPLE_KEY = "enrollment_id"  # the identity they name (a pseudonym where the policy says so)


class BudgetExceeded(RuntimeError):
    """A release the daily privacy budget cannot pay for (or cannot account for at all)."""


class UnitUnsupported(BudgetExceeded):
    """A policy asks for person-level DP on a layer that counts events: one person's
    contribution to it has no bound, so no noise scale protects a person."""


def town_cells(res: int) -> list[str]:
    """The fixed release grid: every H3 cell of ``res`` within the town's radius."""
    centre = cell_of(ORIGIN_LAT, ORIGIN_LON, res)
    k = math.ceil(TOWN_RADIUS_M / h3.average_hexagon_edge_length(res, unit="m") / 1.5) + 1
    return sorted(h3.grid_disk(centre, k))


def sensitivity(layer: str, unit: str, policy: str = "the policy") -> int:
    """The most one protected unit (an event or a person, as the policy states) changes a
    release of ``layer`` in L1: the d_in the noise is calibrated to. Person-level DP on an
    event layer has no bound and is refused (:class:`UnitUnsupported`)."""
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r} (known: {', '.join(LAYERS)})")
    if layer == "people":
        return 1 if unit == "person" else 2
    if unit != "event":
        raise UnitUnsupported(
            f"policy {policy} asks for {unit}-level differential privacy; this layer counts "
            "events, and one person's share of them has no bound, so no release is made "
            "(the people layer, layer=people, counts each identity once per release)"
        )
    return 1


def _measurement(epsilon: float, d_in: int = 1) -> Any:
    """OpenDP's integer Laplace for ``epsilon`` at L1 sensitivity ``d_in``."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    space = (dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int))
    scale = dp.binary_search_param(
        lambda s: dp.m.make_laplace(*space, scale=s), d_in=d_in, d_out=epsilon
    )
    meas = dp.m.make_laplace(*space, scale=scale)
    assert meas.map(d_in) <= epsilon + 1e-9
    return meas


def last_sightings(
    keys: Sequence[Any], ts_ms: Sequence[int], cells: Sequence[Any], edges_ms: Sequence[int]
) -> pd.DataFrame:
    """Columns window, key, cell: for each release window ``[edges[i], edges[i + 1])`` and
    each identity (``key``) sighted in it, the cell of its last sighting there (at one time,
    the greatest cell id). Sightings without a key or a cell, or outside the windows, are
    not counted."""
    t = np.asarray(ts_ms, dtype=np.int64)
    edges = np.asarray(edges_ms, dtype=np.int64)
    df = pd.DataFrame({"key": pd.Series(keys, dtype=object), "t": t, "cell": cells})
    w = np.searchsorted(edges, t, side="right") - 1
    ok = (w >= 0) & (w < len(edges) - 1) & df["key"].notna().to_numpy()
    ok &= df["cell"].notna().to_numpy()
    df = df[ok].assign(window=w[ok])
    df = df.sort_values(["window", "key", "t", "cell"], kind="stable")
    last = df.drop_duplicates(["window", "key"], keep="last")
    return last[["window", "key", "cell"]].reset_index(drop=True)


def people_counts(
    keys: Sequence[Any], ts_ms: Sequence[int], cells: Sequence[Any], edges_ms: Sequence[int]
) -> list[dict[Any, int]]:
    """The people layer of each release window: identities per cell, each identity once, in
    the cell of its last sighting in the window (:func:`last_sightings`)."""
    last = last_sightings(keys, ts_ms, cells, edges_ms)
    out: list[dict[Any, int]] = [{} for _ in range(max(len(edges_ms) - 1, 0))]
    for (w, cell), n in last.groupby(["window", "cell"]).size().items():
        out[int(w)][cell] = int(n)
    return out


def spent(conn: Connection, policy: str, day: str) -> float:
    q = select(func.coalesce(func.sum(dp_ledger.c.epsilon), 0.0)).where(
        dp_ledger.c.policy == policy, dp_ledger.c.sim_day == day
    )
    return float(conn.execute(q).scalar_one())


def town_day(ts: datetime) -> str:
    return ts.astimezone(AQKOL_TZ).date().isoformat()


class Releaser:
    """Noisy, k-suppressed heatmap counts under one policy, paid from its daily budget."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], list[tuple[str, int]]] = {}
        self._lock = threading.Lock()

    def release_counts(
        self,
        conn: Connection,
        spec: PolicySpec,
        counts: dict[str, int],
        res: int,
        query: str,
        until: datetime,
        now: datetime,
        layer: str = "events",
    ) -> tuple[list[tuple[str, int]], dict[str, Any]]:
        """(cell, noisy count) above ``k_min``, and the budget after this release, paid from
        the budget of the town's day at ``now``; the noise is calibrated to ``layer``'s
        sensitivity at the policy's unit (:func:`sensitivity`)."""
        dp_cfg: DP = spec.release.dp  # type: ignore[assignment]
        d_in = sensitivity(layer, dp_cfg.unit, spec.id)
        day = town_day(now)
        key = (spec.id, layer, query, res, until)
        with self._lock:
            cached = self._cache.get(key)
            if cached is None:
                used = spent(conn, spec.id, day)
                if used + dp_cfg.epsilon > dp_cfg.daily_budget + 1e-9:
                    raise BudgetExceeded(
                        f"the privacy budget of policy {spec.id} for {day} is spent "
                        f"({used:g} of {dp_cfg.daily_budget:g}; a release costs "
                        f"{dp_cfg.epsilon:g}); already released heatmaps stay available"
                    )
                grid = town_cells(res)  # events outside the town's grid are not released
                true = [int(counts.get(c, 0)) for c in grid]
                noisy = _measurement(dp_cfg.epsilon, d_in)(true)
                cached = [(c, int(n)) for c, n in zip(grid, noisy, strict=True)]
                conn.execute(
                    dp_ledger.insert().values(
                        released_at=now_utc(),
                        sim_day=day,
                        policy=spec.id,
                        query=query[:256],
                        epsilon=dp_cfg.epsilon,
                    )
                )
                conn.commit()
                if len(self._cache) > 512:
                    self._cache.clear()
                self._cache[key] = cached
            used = spent(conn, spec.id, day)
        k = spec.release.k_min
        budget = {
            "day": day,
            "epsilon": dp_cfg.epsilon,
            "spent": round(used, 9),
            "daily_budget": dp_cfg.daily_budget,
            "unit": dp_cfg.unit,
            "layer": layer,
            "sensitivity": d_in,
        }
        return [(c, n) for c, n in cached if n >= k], budget


def suppress(cells: list[Any], k: int) -> list[Any]:
    """Cells with at least ``k`` events (``n``), for a policy with k_min but no noise."""
    return [c for c in cells if c.n >= k]
