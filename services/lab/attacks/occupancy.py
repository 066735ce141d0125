"""Occupancy from gas readings, against true presence.

Heating runs whether anyone is home or not; cooking and hot water only when someone is.
The analyst takes each stored series (one meter, or one pseudonym of it) and calls an
interval occupied when the series uses more than its heating baseline (its rolling
minimum) by ``min_excess`` m3 within a few hours of it. Scored per (meter, interval)
against true presence (anyone of the household at home at the interval's middle):
accuracy, F1 for "occupied", and lift over the base rate (accuracy divided by that of
always guessing the commoner state). Aggregated readings (a block's sum) are not a
household's series: there the analyst can do no better than the base rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from services.events.town import MINUTE_MS
from services.lab.registry import register

HALF_HOUR_MS = 30 * MINUTE_MS


def predict(
    readings: pd.DataFrame, window: int = 6, min_excess: float = 0.02, baseline: int = 12
) -> pd.Series:
    """Occupied (bool) per reading; ``readings``: series, t_ms, m3. An interval is occupied
    when the series shows use above its heating baseline (rolling minimum over ``baseline``
    intervals) within ``window`` intervals around it: people stay some hours."""
    r = readings.sort_values(["series", "t_ms"])
    series = r["series"].to_numpy()
    starts = np.flatnonzero(series[1:] != series[:-1]) + 1  # where each next series begins
    m3 = r["m3"].to_numpy(float)
    base = _rolling(m3, starts, baseline, "min")
    active = ((m3 - base) > min_excess).astype(float)
    near = _rolling(active, starts, window, "max")
    return pd.Series(near > 0, index=r.index).reindex(readings.index)


def _rolling(values: np.ndarray, starts: np.ndarray, window: int, how: str) -> np.ndarray:
    """The centred rolling ``how`` (min or max) of ``window`` values within each run of
    ``values`` that ``starts`` delimit, at least one value per window: the same as a
    grouped ``rolling(window, center=True, min_periods=1)``, in one pass over the whole
    array, with ``window`` NaNs (which rolling skips) between runs so that no window
    reaches into the next."""
    padded = np.insert(values, np.repeat(starts, window), np.nan)
    rolled = getattr(pd.Series(padded).rolling(window, center=True, min_periods=1), how)()
    where = np.arange(len(values)) + window * np.searchsorted(
        starts, np.arange(len(values)), "right"
    )
    return rolled.to_numpy()[where]


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Accuracy, F1 of the positive class and of the negative one (an empty home: what a
    burglar wants), base rate and lift."""
    pred = np.asarray(pred, bool)
    truth = np.asarray(truth, bool)
    n = len(truth)
    if not n:
        return {"accuracy": 0.0, "f1": 0.0, "f1_absent": 0.0, "base_rate": 0.0, "lift": 0.0, "n": 0}
    acc = float((pred == truth).mean())
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    tn = n - tp - fp - fn
    f1_absent = 2 * tn / (2 * tn + fp + fn) if tn else 0.0
    base = float(truth.mean())
    majority = max(base, 1 - base)
    return {
        "accuracy": acc,
        "f1": f1,
        "f1_absent": f1_absent,
        "base_rate": base,
        "lift": acc / majority,
        "n": n,
    }


def occupancy(readings: pd.DataFrame, present: pd.Series, **kw) -> dict[str, float]:
    """``readings``: series (as stored), meter (true), t_ms, m3, agg; ``present``: bool
    indexed by (meter, t_ms) for every true reading."""
    truth_all = present.to_numpy(bool)
    if readings.empty or readings["agg"].all():
        base = float(truth_all.mean()) if len(truth_all) else 0.0
        guess = np.full(len(truth_all), base >= 0.5)
        return {**scores(guess, truth_all), "applicable": 0.0, **_baseline(truth_all)}
    r = readings[~readings["agg"]].copy()
    r["pred"] = predict(r, **kw).to_numpy()
    truth = present.reindex(pd.MultiIndex.from_frame(r[["meter", "t_ms"]]))
    ok = truth.notna().to_numpy()
    judged = truth.to_numpy()[ok].astype(bool)
    return {
        **scores(r["pred"].to_numpy()[ok], judged),
        "applicable": 1.0,
        **_baseline(judged),
    }


def _baseline(truth: np.ndarray) -> dict[str, float]:
    """The majority class guessed for every interval: accuracy and F1 of both classes."""
    majority = bool(truth.mean() >= 0.5) if len(truth) else False
    s = scores(np.full(len(truth), majority), truth)
    return {f"{k}_baseline": s[k] for k in ("accuracy", "f1", "f1_absent")}


def presence(day: Any) -> pd.Series:
    """True presence per (meter, middle of each half hour): anyone of the household home."""
    st = day.stays[day.stays["kind"] == "home"].merge(
        day.residents[["id", "household"]], left_on="resident", right_on="id"
    )
    a, b = st["t_from_ms"].to_numpy(np.int64), st["t_to_ms"].to_numpy(np.int64)
    k_lo = -(-(a + HALF_HOUR_MS // 2) // HALF_HOUR_MS)
    k_hi = -(-(b + HALF_HOUR_MS // 2) // HALF_HOUR_MS)
    n = np.maximum(k_hi - k_lo, 0)
    hh = np.repeat(st["household"].to_numpy(), n)
    k = np.repeat(k_lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    meter = pd.Series(hh).str.replace("hh-", "gas-", regex=False).to_numpy()
    home = pd.DataFrame({"meter": meter, "mid": k * HALF_HOUR_MS - HALF_HOUR_MS // 2})
    return pd.Series(True, index=pd.MultiIndex.from_frame(home.drop_duplicates()))


NAMES = tuple(
    f"occupancy_{k}"
    for k in ("accuracy", "f1", "f1_absent", "base_rate", "lift", "n", "applicable")
) + tuple(f"occupancy_{k}_baseline" for k in ("accuracy", "f1", "f1_absent"))


@register("occupancy", NAMES, inputs=("kept",))
def measure(ctx: Any) -> None:
    g = ctx.frames.get("gas.reading", ctx.empty)
    raw = ctx.raw["gas.reading"]
    if not g.empty:
        src = raw.set_index("orig")
        series = g["household"] if "household" in g else g["source"]
        t_ms = src.loc[g["orig"], "t_ms"].to_numpy(np.int64)
        end = t_ms // HALF_HOUR_MS * HALF_HOUR_MS
        readings = pd.DataFrame(
            {
                "series": series.to_numpy(),
                "meter": src.loc[g["orig"], "source"].to_numpy(),
                "t_ms": end - HALF_HOUR_MS // 2,
                "m3": g["m3"].to_numpy(),
                "agg": g["agg"].to_numpy(),
            }
        )
    else:
        readings = pd.DataFrame({"series": [], "meter": [], "t_ms": [], "m3": [], "agg": []})
    ends = raw["t_ms"].to_numpy(np.int64) // HALF_HOUR_MS * HALF_HOUR_MS - HALF_HOUR_MS // 2
    idx = pd.MultiIndex.from_arrays([raw["source"].to_numpy(), ends])
    pres = presence(ctx.day)
    present = pd.Series(idx.isin(pres.index), index=idx)
    present = present[~present.index.duplicated()]
    for k, v in occupancy(readings, present).items():
        ctx.put(f"occupancy_{k}", v)
