"""What the town loses under a policy: heatmaps, heating totals, alerts.

Each metric compares what the town gets from the kept data (after the policy's release
protection where it has one) with what it would get from everything the sensors sent.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd

from services.events.town import HOUR_MS
from services.lab.noise import release
from services.lab.registry import register
from services.policy.release import town_cells


def _cells(frame: pd.DataFrame, res: int) -> pd.Series:
    """The H3 cell of each row's (lat, lon) at ``res`` (None where geo is not kept);
    computed once per distinct point (sensors do not move)."""
    if frame.empty or "lat" not in frame:
        return pd.Series([], dtype=object)
    codes, cells = _point_cells(frame, res)
    return pd.Series(cells[codes], index=frame.index)


def _point_cells(frame: pd.DataFrame, res: int) -> tuple[np.ndarray, np.ndarray]:
    """(code of each row's point, the H3 cell at ``res`` of each distinct point, None where
    geo is not kept)."""
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(float)
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(float)
    ok = ~(np.isnan(lat) | np.isnan(lon))
    key = np.full(len(lat), -1, np.int64)
    key[ok] = np.round(lat[ok] * 1e6).astype(np.int64) * 1_000_000_000 + np.round(
        lon[ok] * 1e6
    ).astype(np.int64)
    codes, _uniq = pd.factorize(key)
    first = pd.Series(np.arange(len(key))).groupby(codes).first().to_numpy()
    cells = np.array(
        [h3.latlng_to_cell(lat[i], lon[i], res) if ok[i] else None for i in first], dtype=object
    )
    return codes, cells


def _hour(frame: pd.DataFrame, window_ms: int = HOUR_MS) -> np.ndarray:
    return frame["t_ms"].to_numpy(np.int64) // window_ms


def grid_matrix(
    frame: pd.DataFrame, value: str, res: int, hours: np.ndarray, window_ms: int = HOUR_MS
) -> np.ndarray:
    """(cells of the town's release grid, windows) sums of ``value``."""
    grid = town_cells(res)
    index = {c: i for i, c in enumerate(grid)}
    out = np.zeros((len(grid), len(hours)), float)
    if frame.empty or value not in frame or "lat" not in frame:
        return out
    codes, cells = _point_cells(frame, res)  # the grid index per distinct point, then per row
    ci = np.array([index.get(c, -1) for c in cells], np.int64)[codes]
    hi = np.searchsorted(hours, _hour(frame, window_ms))
    ok = (ci >= 0) & (hi < len(hours))
    np.add.at(out, (ci[ok], hi[ok]), frame[value].to_numpy()[ok])
    return out


def heatmap_error(
    raw: pd.DataFrame,
    kept: pd.DataFrame,
    k_min: int = 1,
    epsilon: float | None = None,
    res: int = 9,
    seed: int = 0,
    window_ms: int = HOUR_MS,
    sensitivity: float = 1.0,
) -> dict[str, float]:
    """The crowd layer (camera counts summed per cell and release window) as released under
    the policy against the same layer from every count sent: mean absolute error over
    cells that have people or show some, relative error (sum of |error| / sum of people),
    and the share of populated cell-windows suppressed or lost. ``sensitivity``: the noise
    scale's multiple (1: event level)."""
    hours = np.unique(_hour(raw, window_ms)) if not raw.empty else np.array([], np.int64)
    true = grid_matrix(raw, "count", res, hours, window_ms)
    got = release(
        grid_matrix(kept, "count", res, hours, window_ms), k_min, epsilon, seed, sensitivity
    )
    shown = np.nan_to_num(got, nan=0.0)
    err = np.abs(shown - true)
    where = (true > 0) | (shown > 0)
    populated = true > 0
    return {
        "heatmap_mae": float(err[where].mean()) if where.any() else 0.0,
        "heatmap_rel_error": float(err.sum() / true.sum()) if true.sum() else 0.0,
        "heatmap_suppressed": float(np.isnan(got[populated]).mean()) if populated.any() else 0.0,
    }


def heating_error(raw: pd.DataFrame, kept: pd.DataFrame, res: int = 8) -> dict[str, float]:
    """Gas use per block (H3 cell of ``res``) over the day from the kept readings against the
    readings sent: relative error per block and of the town total."""

    def per_block(f: pd.DataFrame) -> pd.Series:
        if f.empty or "m3" not in f:
            return pd.Series(dtype=float)
        return f.assign(cell=_cells(f, res)).dropna(subset=["cell"]).groupby("cell")["m3"].sum()

    t, k = per_block(raw), per_block(kept)
    both = pd.concat([t.rename("t"), k.rename("k")], axis=1).fillna(0.0)
    total = float(both["t"].sum())
    if not total:
        return {"heating_block_error": 0.0, "heating_total_error": 0.0}
    return {
        "heating_block_error": float((both["k"] - both["t"]).abs().sum() / total),
        "heating_total_error": float(abs(both["k"].sum() - total) / total),
    }


def alert_scores(
    kept: Iterable[tuple[int, Any]],
    truths: dict[str, dict[str, Any]],
    incidents: list[dict[str, Any]],
    rules: list,
    minimizer: Any,
) -> list[dict[str, Any]]:
    """Per rule: alerts, precision, recall, F1 and median minutes to detect, from replaying
    the kept events through the rules (the same engine and lifecycle as the ingest)."""
    from services.rules.engine import Event
    from services.rules.replay import replay_events

    def events():
        for _i, k in kept:
            yield Event.make(k.id, k.kind, k.source, k.ts, k.data, k.lat, k.lon, truths.get(k.id))

    with tempfile.TemporaryDirectory() as tmp:
        reports, _n = replay_events(rules, events(), incidents, minimizer, Path(tmp))
    out = []
    for rep in reports.values():
        s = rep.summary()
        p, r = s["precision"], s["recall"]
        f1 = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else None
        if p is not None and r is not None and p + r == 0:
            f1 = 0.0
        out.append(
            {
                "rule": s["rule"],
                "alerts": s["alerts"],
                "precision": p,
                "recall": r,
                "f1": f1,
                "minutes_to_detect": s["median_minutes_to_detect"],
                "blinded": 1.0 if s["state"] == "blinded" else 0.0,
            }
        )
    return out


def person_sensitivity(sightings: pd.DataFrame, window_ms: int) -> float:
    """The most one person adds to the crowd layer in one release window: their camera
    passes in it (a pass is counted in one camera's minute), the day's maximum."""
    if sightings.empty:
        return 1.0
    t = sightings["t_ms"].to_numpy(np.int64) // window_ms
    per = pd.Series(1, index=pd.MultiIndex.from_arrays([sightings["person"].to_numpy(), t]))
    return float(max(1, per.groupby(level=[0, 1]).size().max()))


@register(
    "heatmap",
    ("heatmap_mae", "heatmap_rel_error", "heatmap_suppressed", "heatmap_dp_sensitivity"),
    inputs=("kept",),
)
def heatmap_measure(ctx: Any) -> None:
    """The crowd layer /heatmap serves, on the experiment's release schedule, with DP at
    the policy's unit: event level (sensitivity 1) or person level (scaled to the most
    passes one person makes in a window)."""
    from services.lab.evaluate import check_schedule

    check_schedule(ctx.spec, ctx.params.release_hours)
    rel = ctx.spec.release
    eps = rel.dp.epsilon if rel.dp else None
    window = round(ctx.params.release_hours * HOUR_MS)
    sens = 1.0
    if rel.dp is not None and rel.dp.unit == "person":
        sens = person_sensitivity(ctx.sightings, window)
    h = heatmap_error(
        ctx.raw.get("camera.crowd", ctx.empty),
        ctx.frames.get("camera.crowd", ctx.empty),
        rel.k_min,
        eps,
        9,
        ctx.seed,
        window,
        sens,
    )
    for k, v in h.items():
        ctx.put(k, v)
    ctx.put("heatmap_dp_sensitivity", sens if eps is not None else None)


@register("heating", ("heating_block_error", "heating_total_error"), inputs=("kept",))
def heating_measure(ctx: Any) -> None:
    got = heating_error(
        ctx.raw.get("gas.reading", ctx.empty), ctx.frames.get("gas.reading", ctx.empty)
    )
    for k, v in got.items():
        ctx.put(k, v)
