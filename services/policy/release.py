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
nothing new. The accounting unit is the event (:data:`UNIT`).
"""

from __future__ import annotations

import math
import threading
from datetime import datetime
from typing import Any

import h3
from sqlalchemy import Connection, func, select

from services.events.geo import ORIGIN_LAT, ORIGIN_LON, cell_of
from services.events.town import AQKOL_TZ
from services.policy.spec import DP, PolicySpec
from services.store.models import dp_ledger
from services.store.repo import now_utc

TOWN_RADIUS_M = 4000.0


UNIT = "event"  # one event changes one count by one: event-level, not person-level, DP


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


def _measurement(epsilon: float) -> Any:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    space = (dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int))
    scale = dp.binary_search_param(
        lambda s: dp.m.make_laplace(*space, scale=s), d_in=1, d_out=epsilon
    )
    meas = dp.m.make_laplace(*space, scale=scale)
    assert meas.map(1) <= epsilon + 1e-9
    return meas


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
    ) -> tuple[list[tuple[str, int]], dict[str, Any]]:
        """(cell, noisy count) above ``k_min``, and the budget after this release, paid from
        the budget of the town's day at ``now``."""
        dp_cfg: DP = spec.release.dp  # type: ignore[assignment]
        if dp_cfg.unit != UNIT:
            raise UnitUnsupported(
                f"policy {spec.id} asks for {dp_cfg.unit}-level differential privacy; the "
                f"heatmaps count {UNIT}s, and one person's share of them has no bound, so no "
                "release is made (the privacy lab measures person-level releases)"
            )
        day = town_day(now)
        key = (spec.id, query, res, until)
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
                noisy = _measurement(dp_cfg.epsilon)(true)
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
        }
        return [(c, n) for c, n in cached if n >= k], budget


def suppress(cells: list[Any], k: int) -> list[Any]:
    """Cells with at least ``k`` events (``n``), for a policy with k_min but no noise."""
    return [c for c in cells if c.n >= k]
