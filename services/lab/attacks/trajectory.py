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
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


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


def trajectory_attack(true: np.ndarray, xy: np.ndarray, release) -> dict[str, float]:
    """Recover ``true`` (people, steps) through ``release`` (counts -> released counts)."""
    released = release(counts_of(true, len(xy)))
    return accuracy(true, recover(released, xy))
