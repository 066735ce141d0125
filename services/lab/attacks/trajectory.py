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

from typing import Any

import h3
import numpy as np
from scipy.optimize import linear_sum_assignment

from services.lab.registry import register


def counts_of(cells: np.ndarray, n_cells: int) -> np.ndarray:
    """(steps, cells) counts from true positions (people, steps) of cell indices."""
    steps = cells.shape[1]
    out = np.zeros((steps, n_cells), np.int64)
    for t in range(steps):
        out[t] = np.bincount(cells[:, t], minlength=n_cells)
    return out


def recover(counts: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Trajectories (m, steps) of cell indices from (steps, cells) counts."""
    counts = np.clip(np.rint(counts), 0, None).astype(np.int64)
    steps = counts.shape[0]
    cur = np.repeat(np.arange(counts.shape[1]), counts[0])
    traj = np.empty((len(cur), steps), np.int64)
    if not len(cur):
        return traj
    traj[:, 0] = cur
    for t in range(1, steps):
        pts = np.repeat(np.arange(counts.shape[1]), counts[t])
        nxt = cur.copy()
        if len(pts):
            cost = np.linalg.norm(xy[cur][:, None, :] - xy[pts][None, :, :], axis=2)
            rows, cols = linear_sum_assignment(cost)
            nxt[rows] = pts[cols]
        traj[:, t] = nxt
        cur = nxt
    return traj


def accuracy(true: np.ndarray, rec: np.ndarray) -> dict[str, float]:
    """Share of (person, step) recovered, and of people recovered on 80%+ of steps."""
    n, steps = true.shape
    if not len(rec) or not n:
        return {"accuracy": 0.0, "recovered_80": 0.0}
    overlap = (true[:, None, :] == rec[None, :, :]).sum(axis=2)
    rows, cols = linear_sum_assignment(-overlap)
    got = overlap[rows, cols]
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


def positions(day: Any, people: list[str], res: int) -> tuple[np.ndarray, np.ndarray]:
    """Hourly cell (index into the town grid) of each of ``people``, and the cells' xy (a
    street, stop or bus ride keeps the last place: the heatmap counts people at places)."""
    from services.geo import to_xy
    from services.lab.data import town_xy
    from services.lab.store import cell_of_xy
    from services.policy.release import town_cells

    homes, places = town_xy()
    grid = town_cells(res)
    index = {c: i for i, c in enumerate(grid)}
    steps = np.arange(day.t0_ms + 1_800_000, day.t1_ms, 3_600_000)
    hh = day.residents.set_index("id")["household"]
    st = day.stays[day.stays["resident"].isin(people)].sort_values(["resident", "t_from_ms"])
    out = np.zeros((len(people), len(steps)), np.int64)
    row_of = {pid: i for i, pid in enumerate(people)}
    for pid, g in st.groupby("resident", sort=True):
        i = row_of[pid]
        home = homes[hh[pid]]
        j = np.clip(np.searchsorted(g["t_from_ms"].to_numpy(), steps, side="right") - 1, 0, None)
        last = home
        for s, row in enumerate(j):
            kind, place = g["kind"].iat[row], g["place"].iat[row]
            xy = home if kind == "home" else places.get(place, last)
            last = xy
            out[i, s] = index.get(cell_of_xy(*xy, res), 0)
    xy = np.array([to_xy(*h3.cell_to_latlng(c)) for c in grid])
    return out, xy


NAMES = (
    "trajectory_accuracy",
    "trajectory_recovered_80",
    "trajectory_accuracy_baseline",
    "trajectory_recovered_80_baseline",
)


@register("trajectory", NAMES)
def measure(ctx: Any) -> None:
    from services.lab import noise

    rng = np.random.default_rng(ctx.seed)
    ids = sorted(ctx.day.residents["id"])
    n = min(ctx.params.trajectory_people, len(ids))
    people = sorted(rng.choice(ids, size=n, replace=False).tolist())
    true, xy = positions(ctx.day, people, 9)
    rel = ctx.spec.release
    k_min, eps = rel.k_min, rel.dp.epsilon if rel.dp else None
    tj = trajectory_attack(
        true, xy, lambda c: np.nan_to_num(noise.release(c, k_min, eps, ctx.seed))
    )
    for k, v in tj.items():
        ctx.put(f"trajectory_{k}", v)
