"""Trajectory recovery from aggregated counts (Xu et al., "Trajectory Recovery from Ash",
WWW 2017), simplified.

The analyst holds only a released heatmap: people per cell per time step. Xu et al. link the
counts of consecutive steps into trajectories by a minimum-cost assignment (people move
little from one step to the next, and most are at home at night). Here: the trajectories
start from the first step's counts, and each next step's counts are assigned to them by
the Hungarian algorithm on the distance between cells (scipy's linear_sum_assignment); a
trajectory that gets no point stays where it was. Accuracy: the recovered trajectories
matched one-to-one to the true ones (again by assignment, on the number of steps in the
same cell), the share of (person, step) recovered. Xu et al. report 73-91% on mobile data;
D'Silva et al. (2024) found that optimistic.

The baseline (``trajectory_*_baseline``) is what the same release gives without linking
anything: everyone stays all day in the cell where the first step's counts put them. In a
town where most people spend most hours at home or at work it is high, and the attack's
lift over it is what the docs quote.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import h3
import numpy as np
import pandas as pd

from services.lab.registry import register


def counts_of(cells: np.ndarray, n_cells: int) -> np.ndarray:
    """(steps, cells) counts from true positions (people, steps) of cell indices."""
    steps = cells.shape[1]
    out = np.zeros((steps, n_cells), np.int64)
    for t in range(steps):
        out[t] = np.bincount(cells[:, t], minlength=n_cells)
    return out


def _transport(
    weight: np.ndarray, supply: np.ndarray, demand: np.ndarray, full: bool = False
) -> np.ndarray:
    """The integer flows (len(supply), len(demand)) that maximize the total ``weight``,
    with row sums <= supply and column sums <= demand (HiGHS on the transportation LP: its
    vertices are integral); with ``full``, moving as much as the smaller side holds. Pairs
    whose weight is NaN are left out (they could only carry flow of no value)."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, vstack

    rows, cols = np.nonzero(np.isfinite(weight))
    w = weight[rows, cols]
    n = len(w)
    a_rows = coo_matrix((np.ones(n), (rows, np.arange(n))), shape=(len(supply), n))
    a_cols = coo_matrix((np.ones(n), (cols, np.arange(n))), shape=(len(demand), n))
    total = min(int(supply.sum()), int(demand.sum()))
    res = linprog(
        -w,
        A_ub=vstack([a_rows, a_cols]).tocsr(),
        b_ub=np.concatenate([supply, demand]).astype(float),
        A_eq=np.ones((1, n)) if full else None,
        b_eq=[float(total)] if full else None,
        bounds=(0, None),
        method="highs",
    )
    if res.status != 0:
        raise RuntimeError(f"transportation LP failed: {res.message}")
    flow = np.zeros(weight.shape, np.int64)
    flow[rows, cols] = np.rint(res.x).astype(np.int64)
    return flow


def recover(counts: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Trajectories (m, steps) of cell indices from (steps, cells) counts.

    Each step is a minimum-distance assignment of the trajectories to the next counts.
    Distances between cells are a metric, so an optimal assignment keeps min(before, after)
    trajectories in each cell (moving one out and another in never costs less); the rest
    move as the minimum-cost flow between cells says (a transportation problem on cells,
    not on people: trajectories in one cell are interchangeable), which keeps a whole town
    cheap."""
    counts = np.clip(np.rint(counts), 0, None).astype(np.int64)
    steps, n_cells = counts.shape
    cur = np.repeat(np.arange(n_cells), counts[0])
    traj = np.empty((len(cur), steps), np.int64)
    if not len(cur):
        return traj
    traj[:, 0] = cur
    for t in range(1, steps):
        nxt = cur.copy()
        have = np.bincount(cur, minlength=n_cells)
        stay = np.minimum(have, counts[t])
        out_n, in_n = have - stay, counts[t] - stay
        src, dst = np.flatnonzero(out_n), np.flatnonzero(in_n)
        if len(src) and len(dst):
            dist = np.linalg.norm(xy[src][:, None, :] - xy[dst][None, :, :], axis=2)
            flow = _transport(-dist, out_n[src], in_n[dst], full=True)
            # the trajectories that leave each cell: those after its first ``stay``
            order = np.argsort(cur, kind="stable")
            rank = np.arange(len(cur)) - np.repeat(np.cumsum(have) - have, have)
            leaving = order[rank >= stay[cur[order]]]
            leaving = leaving[np.argsort(cur[leaving], kind="stable")]
            start = np.searchsorted(cur[leaving], src)
            for a in range(len(src)):
                targets = np.repeat(dst, flow[a])
                who = leaving[start[a] : start[a] + len(targets)]
                nxt[who] = targets
        traj[:, t] = nxt
        cur = nxt
    return traj


def accuracy(true: np.ndarray, rec: np.ndarray) -> dict[str, float]:
    """Share of (person, step) recovered, and of people recovered on 80%+ of steps: the
    recovered trajectories matched one-to-one to the true ones to agree on most steps.

    People with the same cells all day are interchangeable, so the matching runs on the
    distinct trajectories, each as many times as it occurs (a town is mostly people at
    home all day: a few thousand distinct ones, not one per resident)."""
    n, steps = true.shape
    if not len(rec) or not n:
        return {"accuracy": 0.0, "recovered_80": 0.0}
    tu, tn = np.unique(true, axis=0, return_counts=True)
    ru, rn = np.unique(rec, axis=0, return_counts=True)
    overlap = np.zeros((len(tu), len(ru)), np.int64)
    chunk = max(1, 20_000_000 // max(len(ru) * steps, 1))
    for i in range(0, len(tu), chunk):
        overlap[i : i + chunk] = (tu[i : i + chunk, None, :] == ru[None, :, :]).sum(axis=2)
    # the matching as a transportation problem between distinct trajectories, each as
    # many times as it occurs (the same optimum as matching person to person)
    weight = np.where(overlap > 0, overlap.astype(float), np.nan)
    flow = _transport(weight, tn, rn) if np.isfinite(weight).any() else overlap * 0
    got = np.repeat(overlap.ravel(), flow.ravel())
    return {
        "accuracy": float(got.sum() / (n * steps)),
        "recovered_80": float((got >= 0.8 * steps).sum() / n),
    }


def still(counts: np.ndarray) -> np.ndarray:
    """The no-movement guess: everyone all day in their cell of the first step's counts."""
    counts = np.clip(np.rint(counts), 0, None).astype(np.int64)
    first = np.repeat(np.arange(counts.shape[1]), counts[0])
    return np.repeat(first[:, None], counts.shape[0], axis=1)


def trajectory_attack(true: np.ndarray, xy: np.ndarray, release) -> dict[str, float]:
    """Recover ``true`` (people, steps) through ``release`` (counts -> released counts);
    ``*_baseline``: the no-movement guess from the same release."""
    released = release(counts_of(true, len(xy)))
    out = accuracy(true, recover(released, xy))
    base = accuracy(true, still(released))
    return {**out, **{f"{k}_baseline": v for k, v in base.items()}}


@lru_cache(maxsize=4)
def _grid(res: int) -> tuple[dict[str, int], dict[str, int], np.ndarray]:
    """Grid index of every household and every place at ``res`` (0 outside the grid), and
    the grid cells' xy."""
    from services.events.geo import to_xy
    from services.lab.data import town_xy
    from services.lab.store import cell_of_xy
    from services.policy.release import town_cells

    homes, places = town_xy()
    grid = town_cells(res)
    index = {c: i for i, c in enumerate(grid)}
    home = {h: index.get(cell_of_xy(*xy, res), 0) for h, xy in homes.items()}
    place = {p: index.get(cell_of_xy(*xy, res), 0) for p, xy in places.items()}
    xy = np.array([to_xy(*h3.cell_to_latlng(c)) for c in grid])
    return home, place, xy


def positions(
    day: Any, people: list[str], res: int, step_ms: int = 3_600_000
) -> tuple[np.ndarray, np.ndarray]:
    """Cell (index into the town grid) of each of ``people`` at the middle of each release
    window of ``step_ms``, and the cells' xy. A street, stop or bus ride keeps the last
    place (the layer counts people at places); before their first stay of the span, and
    without any, a person is in the place of that first stay, or at home."""
    home_cell, place_cell, xy = _grid(res)
    steps = np.arange(day.t0_ms + step_ms // 2, day.t1_ms, step_ms)
    n = len(people)
    row_of = {pid: i for i, pid in enumerate(people)}
    hh = day.residents.set_index("id")["household"]
    home = hh.reindex(people).map(home_cell).to_numpy(np.int64)
    st = day.stays[day.stays["resident"].isin(row_of)]
    r = st["resident"].map(row_of).to_numpy(np.int64)
    tf = st["t_from_ms"].to_numpy(np.int64)
    order = np.lexsort((tf, r))
    r, tf = r[order], tf[order]
    kind = st["kind"].to_numpy()[order]
    place = st["place"].to_numpy()[order]
    at = pd.Series(place).map(place_cell).fillna(-1).to_numpy(np.int64)  # -1: not a place
    cell = np.where(kind == "home", home[r], at)
    out = np.repeat(home[:, None], len(steps), axis=1)
    if len(r) and len(steps):
        t0 = min(int(tf.min()), int(steps.min()))
        span = max(int(tf.max()), int(steps.max())) - t0 + 1
        key = r * span + (tf - t0)
        q = np.arange(n)[:, None] * span + (steps - t0)[None, :]
        first = np.searchsorted(r, np.arange(n), side="left")
        idx = np.maximum(np.searchsorted(key, q, side="right") - 1, first[:, None])
        has = np.bincount(r, minlength=n) > 0
        got = cell[np.minimum(idx, len(cell) - 1)]
        got[~has] = home[~has, None]
        for s in range(len(steps)):  # not a place: the last place (home before any)
            prev = home if s == 0 else got[:, s - 1]
            got[:, s] = np.where(got[:, s] < 0, prev, got[:, s])
        out = got
    return out, xy


NAMES = (
    "trajectory_accuracy",
    "trajectory_recovered_80",
    "trajectory_accuracy_baseline",
    "trajectory_recovered_80_baseline",
    "trajectory_people",
    "trajectory_releases",
    "trajectory_layer_rel_error",
    "trajectory_layer_suppressed",
)


@register("trajectory", NAMES)
def measure(ctx: Any) -> None:
    """The attack on the people layer as the policy releases it (every resident of the
    town, or a sample of ``trajectory_people``; one layer per release window of
    ``release_hours``, k-suppressed and noised as the policy says, the schedule paid from
    its daily budget), and what the same releases cost the town: their relative error
    against the true layer and the share of populated cells suppressed.

    One person is in one cell of a layer: its person-level sensitivity is 1, the same as
    the event level; the noise is OpenDP's at epsilon for sensitivity 1."""
    from services.lab import noise
    from services.lab.evaluate import check_schedule

    p = ctx.params
    check_schedule(ctx.spec, p.release_hours)
    ids = sorted(ctx.day.residents["id"])
    people = ids
    if p.trajectory_people is not None and p.trajectory_people < len(ids):
        rng = np.random.default_rng(ctx.seed)
        people = sorted(rng.choice(ids, size=p.trajectory_people, replace=False).tolist())
    true, xy = positions(ctx.day, people, 9, round(p.release_hours * 3_600_000))
    rel = ctx.spec.release
    k_min, eps = rel.k_min, rel.dp.epsilon if rel.dp else None
    counts = counts_of(true, len(xy))
    released = noise.release(counts, k_min, eps, ctx.seed)
    tj = trajectory_attack(true, xy, lambda _c: np.nan_to_num(released))
    for k, v in tj.items():
        ctx.put(f"trajectory_{k}", v)
    ctx.put("trajectory_people", len(people))
    ctx.put("trajectory_releases", counts.shape[0])
    shown = np.nan_to_num(released)
    ctx.put("trajectory_layer_rel_error", np.abs(shown - counts).sum() / max(counts.sum(), 1))
    populated = counts > 0
    ctx.put(
        "trajectory_layer_suppressed",
        float(np.isnan(released[populated]).mean()) if populated.any() else 0.0,
    )
