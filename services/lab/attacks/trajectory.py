"""Trajectory recovery from aggregated counts (Xu et al., "Trajectory Recovery from Ash",
WWW 2017), simplified, on the people layer ``/heatmap?layer=people`` releases.

The released layer (:func:`services.policy.release.people_counts`, the function the API
serves it with): per release window, the identities the stored face matches name, each
once, in the cell of its last match in the window; under the face-ID assumption
(docs/lab.md) the stored face matches are every face capture the policy keeps, so the layer
covers everyone the recognition cameras capture, not only watch-listed people. It is
released with the policy's k-suppression and DP noise calibrated to the layer's
sensitivity at the policy's unit (person 1, event 2: :func:`services.policy.release.sensitivity`),
on a schedule its daily budget pays for.

People enter and leave this layer between releases (a person is in a window's layer only
if a camera matched them in it), so the measure scores the attack's step, link by link:
each pair of consecutive releases is linked by the minimum-distance assignment
(:func:`link`), and ``trajectory_accuracy`` is the share of the true links (an identity in
cell a in one release and in cell b in the next, from the records behind the release)
that the recovered flows reproduce. The baseline links nobody anywhere: everyone stays
(the most each cell can keep, min of the two counts). :func:`recover` and
:func:`accuracy` chain the same step over a whole day for a population present at every
release, as Xu et al. do.

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


def link(c0: np.ndarray, c1: np.ndarray, xy: np.ndarray) -> pd.DataFrame:
    """Columns a, b, n: the flows of people from cell a in one release (counts ``c0``) to
    cell b in the next (``c1``) that the minimum-distance assignment gives: the most each
    cell can keep stays, the rest move as the transportation problem between cells says
    (the same step as :func:`recover`)."""
    c0 = np.clip(np.rint(c0), 0, None).astype(np.int64)
    c1 = np.clip(np.rint(c1), 0, None).astype(np.int64)
    stay = np.minimum(c0, c1)
    kept = np.flatnonzero(stay)
    a, b, n = [kept], [kept], [stay[kept]]
    out_n, in_n = c0 - stay, c1 - stay
    src, dst = np.flatnonzero(out_n), np.flatnonzero(in_n)
    if len(src) and len(dst):
        dist = np.linalg.norm(xy[src][:, None, :] - xy[dst][None, :, :], axis=2)
        flow = _transport(-dist, out_n[src], in_n[dst], full=True)
        r, c = np.nonzero(flow)
        a.append(src[r])
        b.append(dst[c])
        n.append(flow[r, c])
    return pd.DataFrame({"a": np.concatenate(a), "b": np.concatenate(b), "n": np.concatenate(n)})


def true_links(last: pd.DataFrame) -> pd.Series:
    """How many identities moved from cell ``a`` in release ``window`` to cell ``b`` in the
    next, from the records behind the layer (columns window, key, cell index)."""
    nxt = last.assign(window=last["window"] - 1)
    both = last.merge(nxt, on=["window", "key"], suffixes=("_a", "_b"))
    return both.groupby(["window", "cell_a", "cell_b"]).size()


def link_attack(last: pd.DataFrame, released: np.ndarray, xy: np.ndarray) -> dict[str, float]:
    """The share of true links (:func:`true_links`) that linking each pair of consecutive
    releases (:func:`link`, on ``released``: (windows, cells)) reproduces, and the same for
    the no-movement baseline; ``links``: the true links scored."""
    truth = true_links(last)
    total = int(truth.sum())
    if not total:
        return {"accuracy": float("nan"), "accuracy_baseline": float("nan"), "links": 0}
    got, base = [], []
    for t in range(released.shape[0] - 1):
        f = link(released[t], released[t + 1], xy)
        got.append(f.assign(window=t))
        s = np.minimum(
            np.rint(np.clip(released[t], 0, None)), np.rint(np.clip(released[t + 1], 0, None))
        )
        k = np.flatnonzero(s)
        base.append(pd.DataFrame({"window": t, "a": k, "b": k, "n": s[k].astype(np.int64)}))

    def score(flows: list[pd.DataFrame]) -> float:
        f = pd.concat(flows).groupby(["window", "a", "b"])["n"].sum()
        f.index.names = truth.index.names
        both = pd.concat([truth.rename("t"), f.rename("r")], axis=1, join="inner")
        return float(np.minimum(both["t"], both["r"]).sum() / total)

    return {"accuracy": score(got), "accuracy_baseline": score(base), "links": total}


def release_edges(t0_ms: int, t1_ms: int, step_ms: int) -> np.ndarray:
    """The edges of the release windows of ``step_ms`` that ``/heatmap`` would serve over
    the span: aligned as the API floors ``until`` (multiples of the window since the epoch),
    each ending no later than the span's end (a release may not end after the town's now)."""
    first = t0_ms // step_ms * step_ms
    return np.arange(first, t1_ms + 1, step_ms, dtype=np.int64)


def stored_sightings(
    traces: pd.DataFrame, view: Any, res: int = 9
) -> tuple[np.ndarray, np.ndarray, list]:
    """(identity, ts in ms, H3 cell at ``res``) of each face capture as the policy stores it: the
    identity as stored (``unit``: a name, or a pseudonym of its salt period), the time
    generalized to the policy's bucket, and the cell the store derives from the stored geo
    (at STORE_H3_RES, then its parent: as ``/heatmap`` reads it)."""
    from services.events.geo import STORE_H3_RES, cell_of

    cam_cell: dict[str, str | None] = {}
    for cam, loc in view.loc.items():
        _src, lat, lon = loc.rsplit("|", 2)
        ok = lat not in ("None", "") and lon not in ("None", "")
        cam_cell[cam] = (
            h3.cell_to_parent(cell_of(float(lat), float(lon), STORE_H3_RES), res) if ok else None
        )
    t = traces["t_ms"].to_numpy(np.int64)
    if view.minutes:
        bucket = int(view.minutes) * 60_000
        t = t // bucket * bucket
    cells = traces["camera"].map(cam_cell).tolist()
    return traces["unit"].to_numpy(), t, cells


def people_layer(
    traces: pd.DataFrame, view: Any, edges: np.ndarray, res: int = 9
) -> tuple[pd.DataFrame, np.ndarray]:
    """The records behind the people layer (columns window, key, cell: an index into the
    town's release grid at ``res``) and the layer itself, (windows, grid cells) counts:
    what ``/heatmap?layer=people`` releases before its noise and suppression, computed by
    the same function (:func:`services.policy.release.last_sightings`) from the face
    captures as the policy stores them (:func:`stored_sightings`)."""
    from services.policy.release import last_sightings, town_cells

    grid = town_cells(res)
    index = {c: i for i, c in enumerate(grid)}
    keys, ts, cells = stored_sightings(traces, view, res)
    last = last_sightings(keys, ts, cells, edges)
    last = last[last["cell"].isin(index)]  # the release grid: the town
    last = last.assign(cell=last["cell"].map(index).astype(np.int64))
    counts = np.zeros((max(len(edges) - 1, 0), len(grid)), np.int64)
    np.add.at(counts, (last["window"].to_numpy(), last["cell"].to_numpy()), 1)
    return last, counts


NAMES = (
    "trajectory_accuracy",
    "trajectory_accuracy_baseline",
    "trajectory_links",
    "trajectory_people",
    "trajectory_releases",
    "trajectory_dp_sensitivity",
    "trajectory_layer_rel_error",
    "trajectory_layer_suppressed",
)


@register("trajectory", NAMES)
def measure(ctx: Any) -> None:
    """The attack on the people layer as ``/heatmap?layer=people`` releases it under the
    policy (computed by the API's own function from the face captures the policy keeps;
    every resident, or a sample of ``trajectory_people``), one layer per release window of
    ``release_hours``, k-suppressed and noised at the layer's sensitivity for the policy's
    unit, the schedule paid from its daily budget; and what the same releases cost the
    town: their relative error against the true layer and the share of populated cells
    suppressed."""
    from services.lab import noise
    from services.lab.evaluate import check_schedule
    from services.policy.release import sensitivity

    p = ctx.params
    check_schedule(ctx.spec, p.release_hours)
    tr = ctx.traces
    if p.trajectory_people is not None:
        ids = sorted(ctx.day.residents["id"])
        if p.trajectory_people < len(ids):
            rng = np.random.default_rng(ctx.seed)
            sample = rng.choice(ids, size=p.trajectory_people, replace=False)
            tr = tr[tr["person"].isin(set(sample.tolist()))]
    edges = release_edges(ctx.day.t0_ms, ctx.day.t1_ms, round(p.release_hours * 3_600_000))
    xy = _grid_xy(9)
    last, counts = people_layer(tr, ctx.view, edges)
    rel = ctx.spec.release
    eps = rel.dp.epsilon if rel.dp else None
    sens = sensitivity("people", rel.dp.unit) if rel.dp else None
    released = noise.release(counts, rel.k_min, eps, ctx.seed, sens or 1)
    shown = np.nan_to_num(released)
    tj = link_attack(last, shown, xy)
    ctx.put("trajectory_accuracy", tj["accuracy"])
    ctx.put("trajectory_accuracy_baseline", tj["accuracy_baseline"])
    ctx.put("trajectory_links", tj["links"])
    ctx.put("trajectory_people", tr["person"].nunique())
    ctx.put("trajectory_releases", counts.shape[0])
    ctx.put("trajectory_dp_sensitivity", sens)
    ctx.put("trajectory_layer_rel_error", np.abs(shown - counts).sum() / max(counts.sum(), 1))
    populated = counts > 0
    ctx.put(
        "trajectory_layer_suppressed",
        float(np.isnan(released[populated]).mean()) if populated.any() else 0.0,
    )


_XY: dict[int, np.ndarray] = {}


def _grid_xy(res: int) -> np.ndarray:
    """The xy (metres) of the release grid's cells at ``res``."""
    if res not in _XY:
        from services.events.geo import to_xy
        from services.policy.release import town_cells

        _XY[res] = np.array([to_xy(*h3.cell_to_latlng(c)) for c in town_cells(res)])
    return _XY[res]
